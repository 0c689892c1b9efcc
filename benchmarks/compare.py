"""Benchmark `harness run` against what a user would otherwise run: stock `lm_eval` once per model.

    python -m benchmarks.compare [--base DIR] [--adapters DIR ...] [--tasks ...] [--limit N] [--repeats N] [--quick]

Same machine, model, tasks, limits and batch size, one invocation, contenders alternated and repeated (median and
spread reported). Scenarios:
  cold   harness run base + 1 adapter (empty cache)  vs  stock lm_eval base, then base + peft=adapter
  warm   a second harness run, same base, a new adapter (base arm from the cache)  vs  the same two stock runs
  many   harness run base + 4 adapters  vs  five stock runs;  peak RSS vs base + 1
  ceil   tokens/s of the perplexity path (harness's sliding-window loglikelihood_rolling) vs a bare batched forward
         over the same windows, and of the generation path (lm-eval generate_until) vs model.generate
Before comparing times it checks that harness and stock lm-eval produced the same scores. Results go to
benchmarks/results/<date>-<machine>.json and a table on stdout. `--quick` is the CI smoke test: tiny limits, one
repeat, scores checked, no timing asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("HARNESS_SHARED", ROOT.parent / "shared"))
TASKS = "yelp,yelp_mc,docqa,general_qa"  # tasks on which harness and stock lm-eval must agree exactly
TARGETS = {"cold": 0.5, "warm": 0.3, "many": 0.35, "many_rss": 1.3, "ppl_ceiling": 0.9, "gen_ceiling": 0.85}
_RSS = "import resource,subprocess,sys;r=subprocess.run(sys.argv[1:]).returncode;print('RSS',resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss*1024,file=sys.stderr);sys.exit(r)"


def timed(cmd: list[str], env: dict) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one command, measured by a wrapper process of its own."""
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", _RSS, *cmd], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode:
        raise SystemExit(f"benchmark command failed ({' '.join(cmd[:4])} ...):\n{r.stderr[-3000:]}")
    rss = int(next(line.split()[1] for line in r.stderr.splitlines() if line.startswith("RSS ")))
    return wall, rss


def data_args(data: Path) -> tuple[list[str], dict]:
    files = {"yelp_data": data / "yelp.csv", "docqa_data": data / "docqa.csv", "general_qa_data": data / "qa.jsonl"}
    cli = ["--data", f"yelp={files['yelp_data']}", "--data", f"docqa={files['docqa_data']}",
           "--data", f"general_qa={files['general_qa_data']}"]
    return cli, {k: str(v) for k, v in files.items()}


def make_data(root: Path) -> Path:
    """The shared real samples when present, else small generated ones (the script must stand alone)."""
    import csv
    import shutil

    root.mkdir(parents=True, exist_ok=True)
    if (SHARED / "data").is_dir():
        shutil.copy(SHARED / "data" / "yelp_review_full_sample" / "val.csv", root / "yelp.csv")
        with open(SHARED / "data" / "aws_docs_qa" / "QA_true.csv", encoding="utf-8-sig") as f:
            rows = [{"question": r["Question"], "answer": r["Answer_True"]} for r in csv.DictReader(f)]
        shutil.copy(SHARED / "data" / "nq_open" / "NQ-open.dev.jsonl", root / "qa.jsonl")
    else:
        words = ["good", "bad", "tasty", "slow", "friendly", "cold", "great", "awful"]
        with open(root / "yelp.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["label", "text"])
            for i in range(200):
                w.writerow([i % 5, " ".join(words[(i * k) % len(words)] for k in range(1, 30))])
        rows = [{"question": f"What is setting {i}?", "answer": f"It is {i}."} for i in range(100)]
        (root / "qa.jsonl").write_text("".join(json.dumps({"question": f"who made thing {i}", "answer": [f"person {i}"]}) + "\n" for i in range(200)))
    with open(root / "docqa.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["question", "answer"])
        w.writeheader()
        w.writerows(rows)
    return root


def prepare_models(base: Path | None, adapters: list[Path], work: Path) -> tuple[Path, list[Path]]:
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import build_adapter, build_tiny_llama  # the tests' own builders: real peft adapters

    if base is None:
        ts = SHARED / "models" / "tinystories-656k"
        base = ts if ts.is_dir() else build_tiny_llama(work / "base")
    made = list(adapters)
    for i in range(len(made), 5):
        made.append(build_adapter(base, work / f"adapter{i}", seed=100 + i))
    return base, made


def stock_cmd(base: Path, adapter: Path | None, args, out: Path, meta: dict) -> list[str]:
    model_args = f"pretrained={base}" + (f",peft={adapter}" if adapter else "")
    return [sys.executable, "-m", "lm_eval", "run", "--model", "hf", "--model_args", model_args, "--tasks", args.tasks,
            "--include_path", str(ROOT / "tasks"), "--limit", str(args.limit), "--batch_size", str(args.batch_size),
            "--device", "cpu", "--metadata", json.dumps(meta), "--output_path", str(out)]


def harness_cmd(base: Path, adapters: list[Path], args, out: Path, cache: Path, data_cli: list[str]) -> list[str]:
    cmd = [sys.executable, "-m", "harness", "run", "--base", str(base), "--tasks", args.tasks, "--limit", str(args.limit),
           "--batch-size", str(args.batch_size), "--device", "cpu", "--out", str(out), "--cache-dir", str(cache),
           "--no-registry", "--force", "--resamples", "0", *data_cli]
    for i, a in enumerate(adapters):
        cmd += ["--adapter", f"a{i}={a}"]
    return cmd


def check_scores(harness_out: Path, stock_outs: list[Path], arms: list[str]) -> int:
    """Harness scores must equal stock lm-eval's, arm by arm; returns how many values were compared."""
    run = json.loads((harness_out / "run.json").read_text())
    compared = 0
    for arm, stock in zip(arms, stock_outs):
        (res_file,) = list(stock.rglob("results_*.json"))
        res = json.loads(res_file.read_text())["results"]
        for s in (s for s in run["scores"] if s["arm"] == arm):
            key = f"{s['metric'].split(':')[0]},{s['filter']}"
            theirs = res.get(s["task"], {}).get(key)
            if isinstance(theirs, (int, float)):
                if abs(theirs - s["value"]) > 1e-6 * max(1.0, abs(theirs)):
                    raise SystemExit(f"scores differ: {arm} {s['task']} {s['metric']}: harness {s['value']} vs stock {theirs}")
                compared += 1
    return compared


def ceilings(base: Path, batch: int, quick: bool) -> dict:
    """Tokens/s of the harness's perplexity and generation paths vs a bare forward and model.generate."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.engines.hf import make_lm

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base).eval()
    lm = make_lm(model, tok, batch)
    # Generation goes last: it switches the shared tokenizer to left padding for model.generate.
    return {**perplexity_ceiling(lm, model, tok, batch, quick), **generation_ceiling(lm, model, tok, batch, quick)}


def ceiling_texts() -> list[str]:
    """The shared AWS documents when present, else generated text long enough to span several windows."""
    docs_dir = SHARED / "data" / "aws_docs_qa" / "documents"
    if docs_dir.is_dir():
        return [p.read_text() for p in sorted(docs_dir.rglob("*.md"))]
    return [" ".join(f"word{i % 97} thing{i % 13}." for i in range(3000)) for _ in range(8)]


def perplexity_ceiling(lm, model, tok, batch: int, quick: bool) -> dict:
    """Our sliding-window perplexity path vs a bare forward, over a sweep of corpus sizes."""
    texts = ceiling_texts()
    # Every size the benchmark runs: a few documents, a typical --limit's worth, and the whole corpus.
    sizes = [3] if quick else sorted({4, 16, len(texts)})
    repeats = 1 if quick else 3
    sweep = {n: perplexity_ratio(lm, model, tok, texts[:n], batch, repeats) for n in sizes}
    ours_tok_s, bare_tok_s, scored = sweep[max(sizes)]
    return {"ppl_tokens": scored, "ppl_ours_tok_s": ours_tok_s, "ppl_bare_tok_s": bare_tok_s,
            "ppl_ratio": min(o / b for o, b, _ in sweep.values()),
            "ppl_sweep": {str(n): {"docs": n, "tokens": t, "ours_tok_s": o, "bare_tok_s": b, "ratio": o / b}
                          for n, (o, b, t) in sweep.items()}}


def perplexity_ratio(lm, model, tok, docs: list[str], batch: int, repeats: int) -> tuple[float, float, int]:
    """(ours tok/s, bare tok/s, tokens): our sliding-window path vs a bare batched forward over the same
    windows, alternated and repeated, median of each."""
    from lm_eval.api.instance import Instance

    window = min(lm.max_length, 512)
    stride = window // 2
    reqs = [Instance("loglikelihood_rolling", {"ppl_window": window, "ppl_stride": stride}, (t,), i)
            for i, t in enumerate(docs)]
    windows = rolling_windows(lm, tok, docs, window, stride)
    scored = sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in docs)
    ours_s, bare_s = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        lm._sliding_rolling(reqs)
        ours_s.append(time.perf_counter() - t0)
        bare_s.append(bare_forward(model, windows, batch))
    return scored / statistics.median(ours_s), scored / statistics.median(bare_s), scored


def rolling_windows(lm, tok, docs: list[str], window: int, stride: int) -> list[list[int]]:
    """The token windows our perplexity path scores, sorted by length as it sorts them."""
    from lm_eval import utils as lm_utils

    windows = []
    for t in docs:
        ids = tok(t, add_special_tokens=False)["input_ids"]
        for ctx, cont in map(lm_utils.make_disjoint_window, lm_utils.get_rolling_token_windows(
                ids, lm.prefix_token_id, window, window - stride + 1)):
            windows.append((ctx + cont)[-(window + 1):][:-1] if len(ctx + cont) > window else (ctx + cont)[:-1])
    windows.sort(key=len)
    return windows


def bare_forward(model, windows: list[list[int]], batch: int) -> float:
    """Seconds for a plain batched forward and log-softmax over the windows: the perplexity ceiling."""
    import torch

    t0 = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(windows), batch):
            chunk = windows[i:i + batch]
            width = max(map(len, chunk))
            ids = torch.tensor([w + [0] * (width - len(w)) for w in chunk])
            torch.log_softmax(model(ids).logits, -1)
    return time.perf_counter() - t0


def generation_ceiling(lm, model, tok, batch: int, quick: bool) -> dict:
    """Greedy generation through lm-eval's generate_until vs model.generate on the same prompts."""
    prompts = ["Once upon a time, there was a little girl named Lily. She", "The dog ran to the park and"] * (2 if quick else 16)
    gen_toks = 16 if quick else 48
    generated, ours_gen = harness_generation(lm, tok, prompts, gen_toks)
    ref_tokens, bare_gen = bare_generation(model, tok, prompts, gen_toks, batch)
    return {"gen_ours_tok_s": generated / ours_gen,
            "gen_bare_tok_s": ref_tokens / bare_gen, "gen_ratio": (generated / ours_gen) / (ref_tokens / bare_gen)}


def harness_generation(lm, tok, prompts: list[str], gen_toks: int) -> tuple[int, float]:
    """(tokens generated, seconds) of our generate_until path, with a stop string that never occurs so that,
    as for model.generate, only the token budget (or EOS) ends a prompt."""
    from lm_eval.api.instance import Instance

    reqs = [Instance("generate_until", {}, (p, {"until": ["<never>"], "max_gen_toks": gen_toks, "do_sample": False}), i)
            for i, p in enumerate(prompts)]
    t0 = time.perf_counter()
    outs = lm.generate_until(reqs, disable_tqdm=True)
    seconds = time.perf_counter() - t0
    return sum(len(tok(o, add_special_tokens=False)["input_ids"]) for o in outs), seconds


def bare_generation(model, tok, prompts: list[str], gen_toks: int, batch: int) -> tuple[int, float]:
    """(tokens generated, seconds) of plain batched model.generate: the generation ceiling."""
    import torch

    # Batched decoder-only generation needs left padding and a pad token.
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    t0 = time.perf_counter()
    ref_tokens = 0
    with torch.no_grad():
        for i in range(0, len(prompts), batch):
            enc = tok(prompts[i:i + batch], return_tensors="pt", padding=True)
            out = model.generate(**enc, max_new_tokens=gen_toks, do_sample=False, pad_token_id=tok.pad_token_id)
            ref_tokens += (out.shape[1] - enc["input_ids"].shape[1]) * out.shape[0]
    return ref_tokens, time.perf_counter() - t0


def summary(xs: list[float]) -> dict:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def parse_args(argv) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", type=Path)
    p.add_argument("--adapters", type=Path, nargs="*", default=[])
    p.add_argument("--tasks", default=TASKS)
    p.add_argument("--limit", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="CI smoke test: tiny limits, one repeat, scores checked")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = p.parse_args(argv)
    if args.quick:
        args.limit, args.repeats = 3, 1
    return args


def timed_scenarios(args, base: Path, adapters: list[Path], work: Path, env: dict) -> tuple[dict[str, list], int]:
    """Wall seconds and peak RSS of every contender in the cold, warm and many scenarios, per repeat, and how
    many harness scores were checked against stock lm-eval's."""
    data_cli, meta = data_args(make_data(work / "data"))
    times: dict[str, list] = {k: [] for k in ("cold_ours", "cold_stock", "warm_ours", "many_ours", "many_stock",
                                              "rss_one", "rss_many", "rss_stock")}
    compared = 0
    for rep in range(args.repeats):
        d = work / f"rep{rep}"
        # stock: one lm_eval process per model (base, then base + each adapter)
        stock_walls, stock_outs = [], []
        # --quick checks scores, not times: stock lm-eval runs the base and one adapter, and the many-adapter run is
        # compared on those two arms
        for i, a in enumerate([None, *adapters][:2 if args.quick else None]):
            wall, rss = timed(stock_cmd(base, a, args, d / f"stock{i}", meta), env)
            stock_walls.append(wall)
            stock_outs.append(d / f"stock{i}")
            times["rss_stock"].append(rss)
        times["cold_stock"].append(sum(stock_walls[:2]))
        times["many_stock"].append(sum(stock_walls))
        cache = d / "cache"
        wall, rss = timed(harness_cmd(base, adapters[:1], args, d / "cold", cache, data_cli), env)
        times["cold_ours"].append(wall)
        times["rss_one"].append(rss)
        compared += check_scores(d / "cold", stock_outs[:2], ["base", "a0"])
        # warm reuses the cold run's cache, so only the new adapter's arm is evaluated
        wall, _ = timed(harness_cmd(base, [adapters[1]], args, d / "warm", cache, data_cli), env)
        times["warm_ours"].append(wall)
        wall, rss = timed(harness_cmd(base, adapters[:5], args, d / "many", d / "cache-many", data_cli), env)
        times["many_ours"].append(wall)
        times["rss_many"].append(rss)
        compared += check_scores(d / "many", stock_outs, ["base", "a0", "a1", "a2", "a3", "a4"])
    return times, compared


def scenario_ratios(times: dict[str, list], ceil: dict) -> dict:
    """Harness over stock (lower is better) per scenario, and harness over ceiling (higher is better)."""
    cold = summary(times["cold_ours"])["median"] / summary(times["cold_stock"])["median"]
    warm = summary(times["warm_ours"])["median"] / summary(times["cold_stock"])["median"]
    many = summary(times["many_ours"])["median"] / summary(times["many_stock"])["median"]
    rss = summary(times["rss_many"])["median"] / summary(times["rss_one"])["median"]
    return {"cold": cold, "warm": warm, "many": many, "many_rss": rss, "ppl_ceiling": ceil["ppl_ratio"],
            "gen_ceiling": ceil["gen_ratio"]}


def machine_info() -> dict:
    import lm_eval
    import torch
    import transformers

    return {"arch": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "transformers": transformers.__version__, "lm_eval": lm_eval.__version__}


def build_result(args, base: Path, times: dict[str, list], compared: int, ceil: dict) -> dict:
    ratios = scenario_ratios(times, ceil)
    return {
        "date": date.today().isoformat(), "quick": args.quick,
        "machine": machine_info(),
        "setup": {"base": base.name, "tasks": args.tasks, "limit": args.limit, "batch_size": args.batch_size,
                  "repeats": args.repeats, "scores_compared": compared},
        "seconds": {k: summary(v) for k, v in times.items() if not k.startswith("rss")},
        "peak_rss_bytes": {k: summary(v) for k, v in times.items() if k.startswith("rss")},
        "ceilings": ceil, "ratios": ratios,
        "targets": {k: {"target": t, "ratio": ratios[k], "met": ratios[k] <= t if not k.endswith("ceiling") else ratios[k] >= t}
                    for k, t in TARGETS.items()},
    }


def print_table(result: dict) -> None:
    ceil = result["ceilings"]
    print(f"scores: harness == stock lm-eval on {result['setup']['scores_compared']} (arm, task, metric) values")
    print(f"{'scenario':<14}{'harness s':>11}{'stock s':>10}{'ratio':>8}{'target':>9}  met")
    rows = [("cold b+1", "cold_ours", "cold_stock", "cold"), ("warm b+1", "warm_ours", "cold_stock", "warm"),
            ("many b+4", "many_ours", "many_stock", "many")]
    for label, ours, theirs, key in rows:
        t = result["targets"][key]
        print(f"{label:<14}{result['seconds'][ours]['median']:>11.1f}{result['seconds'][theirs]['median']:>10.1f}"
              f"{t['ratio']:>8.2f}{'<= ' + str(t['target']):>9}  {'yes' if t['met'] else 'NO'}")
    for key, label in (("many_rss", "RSS b+4/b+1"), ("ppl_ceiling", "ppl/ceiling"), ("gen_ceiling", "gen/ceiling")):
        t = result["targets"][key]
        sign = "<= " if key == "many_rss" else ">= "
        print(f"{label:<14}{'':>11}{'':>10}{t['ratio']:>8.2f}{sign + str(t['target']):>9}  {'yes' if t['met'] else 'NO'}")
    print(f"perplexity path {ceil['ppl_ours_tok_s']:.0f} tok/s vs bare forward {ceil['ppl_bare_tok_s']:.0f}; "
          f"generation {ceil['gen_ours_tok_s']:.0f} tok/s vs model.generate {ceil['gen_bare_tok_s']:.0f}")


def write_result(result: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{result['date']}-{platform.machine()}-{os.cpu_count()}cpu.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written: {path}")


def main(argv=None) -> int:
    args = parse_args(argv)
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    with tempfile.TemporaryDirectory(prefix="harness-bench-") as tmp:
        work = Path(tmp)
        base, adapters = prepare_models(args.base, args.adapters, work)
        times, compared = timed_scenarios(args, base, adapters, work, env)
        ceil = ceilings(base, args.batch_size, args.quick)
    result = build_result(args, base, times, compared, ceil)
    print_table(result)
    if args.quick:
        print("(--quick: stock lm-eval ran the base and one adapter only; these times compare nothing)")
    else:
        write_result(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
