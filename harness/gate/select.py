"""What a rule selects from a run: its names and globs matched against the run's tasks, metrics and arms."""

from __future__ import annotations

import difflib
import fnmatch

from harness.core.arms import BASE_ARM, adapter_arms


def matches(pattern: str, names) -> list[str]:
    return [n for n in names if fnmatch.fnmatchcase(n, pattern)]


def close(name: str, names) -> str:
    """The end of an "unknown name" message: what the user probably meant, else what there is."""
    found = difflib.get_close_matches(name, list(names), n=3, cutoff=0.5)
    return f" (close matches: {', '.join(found)})" if found else f" (known: {', '.join(sorted(names)[:12])})"


def score(run: dict, task: str, metric: str, arm: str) -> dict | None:
    return next((s for s in run["scores"] if (s["task"], s["metric"], s["arm"]) == (task, metric, arm)), None)


def rule_arms(rule: dict, run: dict, with_base: bool) -> list[str]:
    """The arms a rule judges: those its `arm` glob names (the base only where the kind may judge it), else every
    adapter arm; a rule without `arm` is about the adapters, even for kinds that could judge the base."""
    arms = adapter_arms(run)
    if rule.get("arm"):
        arms = matches(rule["arm"], arms + ([BASE_ARM] if with_base else []))
    return arms


def targets(rule: dict, run: dict, with_base: bool) -> list[tuple[str, str, str]]:
    """Every (task, metric, arm) of the run's scores that a rule with a task and a metric judges, in run order."""
    arms = rule_arms(rule, run, with_base)
    return [(s["task"], s["metric"], s["arm"]) for s in run["scores"]
            if s["arm"] in arms and fnmatch.fnmatchcase(s["task"], rule["task"])
            and fnmatch.fnmatchcase(s["metric"], rule["metric"])]
