"""The gate in one call, for the CLI and the demo: judge() loads a run, its rules and baseline, validates, evaluates.
Its steps are importable from here too, for a caller (a test) that needs one alone."""

from __future__ import annotations

from pathlib import Path

from harness.core import results
from harness.core.errors import ConfigError, HarnessError
from harness.gate.baseline import resolve_baseline
from harness.gate.checks import evaluate
from harness.gate.rules import load_rules, validate
from harness.gate.select import only_adapters, unknown_adapters
from harness.gate.verdict import by_adapter

__all__ = ["evaluate", "judge", "load_rules", "resolve_baseline", "validate"]


def judge(run_dir: Path, rules_path: Path, baseline: str | None = None, registry: Path | None = None,
          run: dict | None = None, adapters: list[str] | None = None) -> tuple[dict, list]:
    """Load the run (unless the caller has: `run`), the rules and the baseline; validate (raise
    harness.core.errors.ConfigError(problems, what="gate rules") when invalid); evaluate. `adapters`: judge only
    these adapter arms (every one by default). Returns (the run as judged: without the adapter arms left out,
    verdicts: without the rules that judge none of `adapters`)."""
    from harness.core import comparisons  # here: numpy would cost every `harness --help`

    run = run if run is not None else results.load_run(run_dir)
    if adapters and (problem := unknown_adapters(run, adapters)):
        raise HarnessError(problem)
    # a run written under older statistics is judged on the same numbers its report shows: recomputed in memory
    run = comparisons.current(run, run_dir)
    rules = load_rules(rules_path)
    baseline_run, baseline_dir = resolve_baseline(baseline, run, registry)
    problems = validate(rules, run, baseline_run, str(rules_path))  # the whole run: a rule may name another adapter
    if problems:
        raise ConfigError(problems, what="gate rules")
    if not adapters:
        return run, evaluate(rules, run, run_dir, baseline_run, baseline_dir)
    run = only_adapters(run, adapters)
    verdicts = [r for r in evaluate(rules, run, run_dir, baseline_run, baseline_dir) if r.checks]
    judged = {a.name for a in by_adapter(verdicts, run)}
    unjudged = [a for a in dict.fromkeys(adapters) if a not in judged]
    if unjudged:  # a pass of an adapter nothing looked at would read as a verdict on it
        raise HarnessError(f"--adapter {', '.join(unjudged)}: no rule of {rules_path.name} selects "
                           f"{'it' if len(unjudged) == 1 else 'them'}, so the gate has nothing to judge")
    return run, verdicts
