"""The demo world scored with and without `--until-decided`, on the same rules: documents and seconds for both, and
the gate's verdicts.

    python -m benchmarks.until_decided [--out DIR] [--reviews N] [--seed S]

It runs `harness demo --quick` in DIR/demo (its base model and its trained "reviews" adapter; reused when it is
there), writes N test reviews from the demo world's own generator (the demo's 60 are too few for stopping to
matter), then two `harness run`s of base + adapter on yelp and general_qa, each with its own fresh response cache:
one scores every document, one stops each task once the rules (benchmarks/until_decided.yaml) are decided. Both are
judged by `harness gate` with those rules. Prints a table; docs/run.md quotes it.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

RULES = Path(__file__).with_name("until_decided.yaml")


def _harness(*args: str, cwd: Path) -> tuple[int, str, float]:
    t0 = time.perf_counter()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    p = subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, capture_output=True, text=True, env=env)
    return p.returncode, p.stdout + p.stderr, time.perf_counter() - t0


def prepare(out: Path, reviews: int, seed: int) -> Path:
    """DIR/demo (the demo's base and adapter) and DIR/reviews.csv; returns DIR/demo."""
    demo = out / "demo"
    if not (demo / "adapter" / "train_summary.json").is_file():
        code, said, _ = _harness("demo", "--quick", "--out", str(demo), cwd=out)
        if code != 0:
            raise SystemExit(f"harness demo --quick failed:\n{said[-3000:]}")
    from harness.demo.world import reviews as make_reviews

    with open(out / "reviews.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["label", "text"])
        w.writeheader()
        w.writerows(make_reviews(random.Random(seed + 99), reviews))
    return demo


def score(out: Path, name: str, adapter: str, *extra: str, rules: Path = RULES, tasks: str = "yelp,general_qa") -> dict:
    """One `harness run` (fresh cache) and its gate: seconds, documents per task, each rule's verdict."""
    run = out / name
    data = ["--data", "yelp=reviews.csv"] + (["--data", "general_qa=demo/world/facts.jsonl"] if "general_qa" in tasks else [])
    args = ["run", "--base", "demo/base", "--adapter", adapter, "--tasks", tasks, *data, "--out", name,
            "--cache-dir", f"cache-{name}", "--no-registry", "--device", "cpu", "--dtype", "float32",
            "--batch-size", "8", "--max-gen-toks", "16", "--force", *extra]
    shutil.rmtree(out / f"cache-{name}", ignore_errors=True)  # a fresh cache: the seconds are the model's
    code, said, seconds = _harness(*args, cwd=out)
    if code != 0:
        raise SystemExit(f"harness {' '.join(args)} failed:\n{said[-3000:]}")
    gate_code, _, _ = _harness("gate", name, "--rules", str(rules), "--record", cwd=out)
    doc = json.loads((run / "run.json").read_text())
    gate = json.loads((run / "gate.json").read_text())
    docs = {t: (i.get("stopped") or {}).get("docs", i["n_docs"]) for t, i in doc["tasks"].items()}
    scoring = sum(v["seconds"] for arm in doc["timing"]["arms"].values() for v in arm.values())
    return {"name": name, "seconds": seconds, "scoring": scoring, "docs": docs, "of": {t: (i.get("stopped") or {}).get("of", i["n_docs"])
                                                                   for t, i in doc["tasks"].items()},
            "gate_exit": gate_code, "rules": [(r["name"], r["passed"]) for r in gate["rules"]],
            "stopped": {t: i.get("stopped") for t, i in doc["tasks"].items()}}


def table(rows: list[dict]) -> str:
    lines = ["| run | seconds (harness run, wall) | of which scoring (run.json timing, every arm and task) | "
             "documents scored per task | gate | rules |", "|" + " --- |" * 6]
    for r in rows:
        docs = ", ".join(f"{t} {k} of {r['of'][t]}" for t, k in r["docs"].items())
        rules = "; ".join(f"{n}: {'PASS' if ok else 'FAIL'}" for n, ok in r["rules"])
        lines.append(f"| {r['name']} | {r['seconds']:.1f} | {r['scoring']:.1f} | {docs} | exit {r['gate_exit']} | {rules} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("bench-until-decided"), help="working folder (default ./bench-until-decided)")
    ap.add_argument("--reviews", type=int, default=1000, help="test reviews to score (default 1000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save", type=Path, help="also write the table (Markdown) here")
    a = ap.parse_args(argv)
    out = a.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    prepare(out, a.reviews, a.seed)
    rows = [score(out, "every-document", "reviews=demo/adapter"),
            score(out, "until-decided", "reviews=demo/adapter", "--until-decided", "--rules", str(RULES))]
    text = (f"# The demo world with and without --until-decided\n\n{date.today()}, {platform.machine()}, "
            f"{os.cpu_count()} CPU cores, {a.reviews} test reviews + the demo's 40 general_qa facts, base + the "
            f"demo's adapter, rules {RULES.name}\n\n{table(rows)}\n\n"
            + "\n".join(f"- until-decided, {t}: {s['reason']}" for t, s in rows[1]["stopped"].items() if s) + "\n")
    print(text)
    if a.save:
        a.save.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
