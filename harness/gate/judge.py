"""The gate in one call, for the CLI and the demo: judge() loads a run, its rules and baseline, validates, evaluates.
Its steps are importable from here too, for a caller (a test) that needs one alone."""

from __future__ import annotations

from pathlib import Path

from harness.core import results
from harness.core.errors import ConfigError
from harness.gate.baseline import resolve_baseline
from harness.gate.checks import evaluate
from harness.gate.rules import load_rules, validate

__all__ = ["evaluate", "judge", "load_rules", "resolve_baseline", "validate"]


def judge(run_dir: Path, rules_path: Path, baseline: str | None = None,
          registry: Path | None = None, run: dict | None = None) -> tuple[dict, list]:
    """Load the run (unless the caller has: `run`), the rules and the baseline; validate (raise
    harness.core.errors.ConfigError(problems, what="gate rules") when invalid); evaluate. Returns (run document,
    verdicts)."""
    from harness.core import comparisons  # here: numpy would cost every `harness --help`

    run = run if run is not None else results.load_run(run_dir)
    # a run written under older statistics is judged on the same numbers its report shows: recomputed in memory
    run = comparisons.current(run, run_dir)
    rules = load_rules(rules_path)
    baseline_run, baseline_dir = resolve_baseline(baseline, run, registry)
    problems = validate(rules, run, baseline_run, str(rules_path))
    if problems:
        raise ConfigError(problems, what="gate rules")
    return run, evaluate(rules, run, run_dir, baseline_run, baseline_dir)
