"""`harness run`: plan (every cheap check), load the base once through the engine, score every arm on every task,
write the run directory, record it in the registry."""

from __future__ import annotations

import sys
from pathlib import Path

from harness.core import results
from harness.core.arms import BASE_ARM
from harness.models.refs import resolve_base
from harness.run import provenance
from harness.run.config import RunConfig
from harness.run.plan import Plan, plan


def _prepare_out(cfg: RunConfig) -> None:
    cfg.out.mkdir(parents=True, exist_ok=True)
    if cfg.force:
        # Only what a run and its report write is removed: a stale run.json must not sit beside new samples, nor an
        # old report (other tasks, n, arms) beside a new run.
        from harness.core.paths import RUN_DIR_ENTRIES, remove_entries

        remove_entries(cfg.out, RUN_DIR_ENTRIES)


def run(cfg: RunConfig) -> Path:
    p = plan(cfg)  # every cheap check, before torch is even imported
    from harness.engines import base as engines

    ref, _ = resolve_base(cfg.base)
    print(f"loading base {ref.source} ({cfg.engine} engine) ...", file=sys.stderr)
    eng = engines.load(cfg, ref, p.adapters)
    base = eng.base
    _prepare_out(cfg)  # only once every adapter fits: a refused run leaves nothing behind
    arms = [BASE_ARM] + [s.name for s in p.adapters]
    print(f"loaded in {base.load_s:.1f}s on {base.device} ({base.dtype}, quantization {base.quantization}); "
          f"arms: {', '.join(arms)}", file=sys.stderr)

    if cfg.until_decided:
        from harness.run.decided import score_until_decided

        scores, task_info, timing = score_until_decided(eng, cfg, p, arms)
    else:
        scores, task_info, timing = _score_all(eng, cfg, p, arms)
    run_doc = provenance.run_document(cfg, base, p.adapters, task_info, scores, timing)
    run_doc["environment"]["engine"] = eng.provenance()
    from harness.core import comparisons

    comparisons.fill(run_doc, cfg.out, resamples=cfg.resamples, multiplicity=cfg.multiplicity)
    problems = results.validate_run(run_doc)
    assert not problems, problems  # an invariant of our own writer, not user input
    results.write_json(cfg.out / results.RUN_FILE, run_doc)
    if cfg.use_registry:
        from adapters_registry.recording import record_or_warn

        if p.registry is not None:
            p.registry.close()  # opened to resolve names; recording opens it again with a short lock wait
        record_or_warn(cfg.registry, lambda reg: reg.record_run(run_doc, str(cfg.out.resolve()), p.registered),
                       f"the run in {cfg.out}", f"harness registry record {cfg.out}")
    print_table(cfg.out)
    print(f"run directory: {cfg.out}", file=sys.stderr)
    return cfg.out


def _score_all(eng, cfg: RunConfig, p: Plan, arms: list[str]) -> tuple[list[dict], dict, dict]:
    """Every arm on every task, arm by arm (one adapter switch per arm); samples are written as each task finishes,
    so an interrupted run keeps them and its rerun answers them from the per-arm cache."""
    from harness.run import evaluate

    scores, task_info, timing = [], {}, {}
    spec_of = {s.name: s for s in p.adapters}
    steps = [(a, t) for a in arms for t in cfg.tasks]
    for i, (arm, task) in enumerate(steps, 1):
        spec = spec_of.get(arm)
        print(f"[{i}/{len(steps)}] arm {arm}, task {task}", file=sys.stderr)
        with eng.activate(arm):
            out = evaluate.evaluate_arm_task(eng, cfg, p.task_manager, task, spec, p.task_objects.get(task))
        for name, rows in out.samples.items():
            results.write_jsonl(results.samples_path(cfg.out, arm, name), rows)
        scores += [dict(s, arm=arm) for s in out.scores]
        task_info.update(out.tasks)
        timing.setdefault(arm, {}).update(out.timing)

    return scores, task_info, timing


def print_table(run_dir: Path) -> None:
    """The report's headline table on the console (the same table object report.md renders), and its warnings."""
    from reports import data, document, text

    report = data.load([run_dir])
    if report.scores.empty:
        return
    print(document.console(document.headline_table(report)))
    for w in text.warnings(report):
        print(f"warning: {w}")
