"""`harness demo`: the whole workflow offline on a laptop CPU, in its own small world.

1. a tiny Llama-architecture base pre-trained on a generated corpus (short texts plus simple facts it learns to
   answer), so that it knows something a fine-tune can make it forget: shipped in the package for the default seed
   (harness.demo.shipped), so that every machine evaluates the same base; pre-trained here for another seed;
2. generated star-rated reviews and a mini product manual with questions;
3. `harness train` an adapter on the reviews (yelp format);
4. `harness run` base vs adapter on yelp, yelp_mc, docqa, perplexity (manual), perplexity_general (held-out
   pre-training text) and general_qa (the facts);
5. `harness gate` with the shipped demo rules, then `harness report` (which shows the gate's verdict).
Every step after the world-building uses the product's own APIs; everything is seeded.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

DEMO_RULES = Path(__file__).resolve().parent / "gates.yaml"
LEDGER = "demo_stages.json"  # which stages finished, for which settings: a rerun skips them
REGISTRY = "registry.sqlite"
WRITES = {"world", "base", "adapter", "run", "cache", REGISTRY, LEDGER}  # everything the demo puts in --out


class Stages:
    """The demo's progress in OUT/demo_stages.json. A stage is recorded only once its outputs are complete; a
    rerun with the same seed and size skips recorded stages, and other settings start over."""

    def __init__(self, out: Path, seed: int, quick: bool):
        import json

        self.path, self.settings = out / LEDGER, {"seed": seed, "quick": quick}
        self.done: list[str] = []
        if self.path.is_file():
            try:
                ledger = json.loads(self.path.read_text())
            except ValueError:
                ledger = {}
            if ledger.get("settings") == self.settings:
                self.done = list(ledger.get("done", []))

    def finished(self, stage: str) -> None:
        from harness.core import results

        self.done.append(stage)
        results.write_json(self.path, {"settings": self.settings, "done": self.done})

    def skip(self, stage: str, *evidence: Path) -> bool:
        if stage in self.done and all(p.exists() for p in evidence):
            print(f"      done before with the same settings; skipped ({self.path.name})", file=sys.stderr)
            return True
        return False


def _step(n: int, text: str) -> float:
    print(f"\n[{n}/5] {text}", file=sys.stderr, flush=True)
    return time.perf_counter()


def _quiet_and_deterministic() -> None:
    import torch

    # One thread, whatever the machine: the same seed then gives the same numbers on any laptop (floating-point sums
    # depend on how the work is split between threads). The recipe learns on any thread count; this fixes the digits.
    torch.set_num_threads(1)
    # A terminal that shows the five stages, not hundreds of progress-bar redraws: the trainers show one line each;
    # lm-eval's bars are off (TQDM_DISABLE, set by the CLI before tqdm is imported, since tqdm reads it at import).
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights", "Writing model shards": transformers' own bars


def _world_and_base(out: Path, stages: Stages, seed: int, quick: bool) -> tuple[dict, Path]:
    from harness.demo import shipped
    from harness.demo.world import write_world

    size = "quick" if quick else "full"
    ships = shipped.available(seed)
    t0 = _step(1, f"generating the demo world and {'copying the shipped' if ships else 'pre-training a'} small base "
                  f"model ({size})")
    world = write_world(out / "world", seed, quick)  # deterministic and fast: always written
    base = out / "base"
    if not stages.skip("base", base / "model.safetensors"):
        if ships:  # the same bytes on every machine: pre-training from scratch is where CPUs part ways
            shipped.copy_base(quick, base)
        else:
            from harness.demo.pretrain import build_base

            print(f"      no shipped base for --seed {seed} (only {shipped.SEED}): pre-training one; its numbers "
                  "differ from CPU to CPU", file=sys.stderr)
            build_base(world, base, seed, quick)
        stages.finished("base")
    print(f"      base model in {base} ({time.perf_counter() - t0:.0f}s)", file=sys.stderr)
    return world, base


def _adapter(out: Path, stages: Stages, world: dict, base: Path, seed: int, quick: bool) -> Path:
    from harness.train import trainer as train
    from harness.train.config import from_sources

    t0 = _step(2, "harness train: a LoRA adapter on the generated reviews (yelp format)")
    cfg = from_sources({}, {
        "base": str(base), "data": str(world["train"]), "format": "yelp", "out": str(out / "adapter"),
        "eval_fraction": 0.1, "target_modules": "all-linear", "r": 32 if quick else 64, "lora_alpha": 64,
        # 12 quick epochs: the adapter first sits on a plateau (answering the labels' prior) and leaves it at a step
        # that depends on rounding; the quick recipe's 6 epochs left it there on some kernel sets
        "learning_rate": 2e-3, "epochs": 12 if quick else 8, "batch_size": 8, "gradient_accumulation": 1, "max_seq_length": 128,
        "logging_steps": 5, "eval_steps": 10 if quick else 20, "save_steps": 1000, "seed": seed, "device": "cpu",
        "force": False, "warmup_ratio": 0.05})
    adapter = out / "adapter"
    if not stages.skip("adapter", adapter / "train_summary.json"):
        train.run(cfg, registry=out / REGISTRY, quiet=True)  # an interrupted training resumes from its last checkpoint
        stages.finished("adapter")
    print(f"      ({time.perf_counter() - t0:.0f}s)", file=sys.stderr)
    return adapter


def _evaluate(out: Path, stages: Stages, world: dict, base: Path, adapter: Path, seed: int) -> Path:
    from harness.core import results
    from harness.models.refs import DType
    from harness.run import execute
    from harness.run.config import RunConfig

    t0 = _step(3, "harness run: base vs adapter on six tasks, one base load")
    run_dir = out / "run"
    if not stages.skip("run", run_dir / results.RUN_FILE):
        execute.run(RunConfig(
            base=str(base), adapters=[f"reviews={adapter}"], out=run_dir, dtype=DType.FLOAT32, device="cpu",
            tasks=["yelp", "yelp_mc", "docqa", "perplexity", "perplexity_general", "general_qa"], batch_size=8,
            max_gen_toks=16, data={"yelp": str(world["test"]), "docqa": str(world["qa"]),
                                   "docqa_documents": str(world["manual"]), "perplexity": str(world["manual"]),
                                   "perplexity_general": str(world["general_text"]), "general_qa": str(world["facts"])},
            task_meta={"ppl_window": 128}, seed=seed, cache_dir=out / "cache", registry=out / REGISTRY,
            force=True, resamples=1000))
        stages.finished("run")
    print(f"      ({time.perf_counter() - t0:.0f}s)", file=sys.stderr)
    return run_dir


def _gate_and_report(run_dir: Path) -> tuple:
    """The functions `harness gate RUN --rules gates.yaml --junit RUN/gate.xml --json RUN/gate.json` and then
    `harness report RUN` call, so that the demo shows exactly what the commands do; the gate first, so that the
    report shows its verdict (it reads RUN/gate.json)."""
    from harness.gate import output as gate_output
    from harness.gate.judge import judge
    from reports.write import write_report

    _step(4, f"harness gate: {DEMO_RULES.name}")
    run_doc, verdicts = judge(run_dir, DEMO_RULES)
    gate_output.write_all(verdicts, run_doc, run_dir / "gate.xml", run_dir / "gate.json")
    print(gate_output.console(verdicts))
    _step(5, "harness report: Markdown, HTML, LaTeX, plots, a model card (with the gate's verdict)")
    _, _, report = write_report([run_dir], run_dir, {"md", "html", "tex", "png", "pdf", "card"})
    return report, verdicts


def _summary(out: Path, paths: tuple[Path, Path, Path], report, verdicts: list, t_start: float, quick: bool,
             seed: int) -> None:
    import torch

    from harness.core import results
    from harness.demo import figures, shipped
    from reports import document, notes

    base, adapter, run_dir = paths

    print(f"\nheadline: adapter - base on the same documents, per-comparison 95% CI; {notes.markers(report)}")
    print(document.console(document.headline_table(report)))
    print(f"\ndemo finished in {time.perf_counter() - t_start:.0f}s. Everything is in {out}:\n"
          f"  base model      {base}\n  adapter         {adapter} (training_log.csv, train_summary.json)\n"
          f"  run directory   {run_dir} (run.json, samples/)\n  report          {run_dir / 'report.md'}, "
          f"{run_dir / 'report.html'}, {run_dir / 'tables.tex'} (+ tables-full.tex), {run_dir / 'plots'}, "
          f"{run_dir / 'cards'}\n"
          f"  gate            {'PASS' if all(v.passed for v in verdicts) else 'FAIL'} "
          f"({sum(v.passed for v in verdicts)} of {len(verdicts)} rules passed): {run_dir / 'gate.xml'}, "
          f"{run_dir / 'gate.json'}\n  registry        {out / REGISTRY}")
    # last, where a user compares with the README: whether these are its figures, and why not when they are not
    print(f"\nnumbers from torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()} kernels, "
          f"{torch.get_num_threads()} thread; {figures.verdict_line(results.load_run(run_dir), quick, seed, shipped.SEED)}")


def run(out: Path, quick: bool = False, seed: int = 0) -> int:
    """The five stages in order; a rerun with the same settings skips the base, adapter and run it finished."""
    from harness.core.paths import remove_entries

    _quiet_and_deterministic()
    t_start = time.perf_counter()
    out = out.resolve()
    stages = Stages(out, seed, quick)
    if not stages.done:  # a fresh start, or other settings than last time: nothing of an older demo is reused
        remove_entries(out, WRITES - {LEDGER})
    world, base = _world_and_base(out, stages, seed, quick)
    adapter = _adapter(out, stages, world, base, seed, quick)
    run_dir = _evaluate(out, stages, world, base, adapter, seed)
    report, verdicts = _gate_and_report(run_dir)
    _summary(out, (base, adapter, run_dir), report, verdicts, t_start, quick, seed)
    return 0
