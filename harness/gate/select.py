"""What a rule selects from a run: its names and globs matched against the run's tasks, metrics and arms.

Globs know `*` and `?`; a bracket is literal, never a character class, so that per-group metric names
(`acc[abstract_algebra]`) can be named as they are written and `acc[*]` selects every group. Per-group rows (a metric
name holding '[', or a score row with a "group" key) are descriptive: only a rule whose metric pattern itself holds
'[' selects them, so `acc*` judges `acc` and `acc_macro`, never the 57 subjects one by one.
"""

from __future__ import annotations

import difflib
import fnmatch

from harness.core.arms import BASE_ARM, adapter_arms


def glob(name: str, pattern: str) -> bool:
    """Whether `name` matches `pattern` (`*`, `?`; brackets literal)."""
    return fnmatch.fnmatchcase(name, pattern.replace("[", "[[]"))


def matches(pattern: str, names) -> list[str]:
    return [n for n in names if glob(n, pattern)]


def close(name: str, names) -> str:
    """The end of an "unknown name" message: what the user probably meant, else what there is."""
    found = difflib.get_close_matches(name, list(names), n=3, cutoff=0.5)
    return f" (close matches: {', '.join(found)})" if found else f" (known: {', '.join(sorted(names)[:12])})"


def score(run: dict, task: str, metric: str, arm: str) -> dict | None:
    return next((s for s in run["scores"] if (s["task"], s["metric"], s["arm"]) == (task, metric, arm)), None)


def per_group(row: dict) -> bool:
    """A per-group score row (one MMLU subject, one group of a grouped metric)."""
    return "group" in row or "[" in row["metric"]


def selectable(rule: dict, row: dict) -> bool:
    """Whether a score row can be selected by a rule at all: per-group rows only by a metric pattern with '['."""
    return not per_group(row) or "[" in str(rule.get("metric", ""))


def rule_arms(rule: dict, run: dict, with_base: bool) -> list[str]:
    """The arms a rule judges: those its `arm` glob names (the base only where the kind may judge it), else every
    adapter arm; a rule without `arm` is about the adapters, even for kinds that could judge the base."""
    arms = adapter_arms(run)
    if rule.get("arm"):
        arms = matches(rule["arm"], arms + ([BASE_ARM] if with_base else []))
    return arms


def unknown_adapters(run: dict, names) -> str | None:
    """The line refusing `--adapter` names that are not adapter arms of the run, or None when all are."""
    arms = adapter_arms(run)
    bad = [n for n in dict.fromkeys(names) if n not in arms]
    if not bad:
        return None
    return "; ".join(f"--adapter '{n}': not an adapter arm of run {run['run_id']}"
                     + (close(n, arms) if arms else " (the run has no adapter arm)") for n in bad)


def only_adapters(run: dict, names) -> dict:
    """The run as a gate asked for some adapters sees it: the base and those adapter arms (rules are validated
    against the whole run first, so a rule naming another adapter is still a valid rule, judged for none)."""
    keep = set(names) | {BASE_ARM}
    return {**run, "arms": [a for a in run["arms"] if a["name"] in keep]}


def targets(rule: dict, run: dict, with_base: bool) -> list[tuple[str, str, str]]:
    """Every (task, metric, arm) of the run's scores that a rule with a task and a metric judges, in run order."""
    arms = rule_arms(rule, run, with_base)
    return [(s["task"], s["metric"], s["arm"]) for s in run["scores"]
            if s["arm"] in arms and selectable(rule, s) and glob(s["task"], rule["task"])
            and glob(s["metric"], rule["metric"])]


def _few(names, most: int = 6) -> str:
    names = sorted(set(names))
    if not names:
        return "nothing"
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def unmatched(rule: dict, run: dict, with_base: bool) -> str | None:
    """None when the rule selects at least one row; else what each of its names matched on its own, and why no
    (task, metric, arm) row has them all."""
    if targets(rule, run, with_base):
        return None
    rows = [s for s in run["scores"] if selectable(rule, s)]
    by_task = [s for s in rows if glob(s["task"], rule["task"])]
    by_metric = [s for s in rows if glob(s["metric"], rule["metric"])]
    both = [s for s in by_task if glob(s["metric"], rule["metric"])]
    said = (f"task '{rule['task']}' matches {_few(s['task'] for s in by_task)}, metric '{rule['metric']}' matches "
            f"{_few(s['task'] + '/' + s['metric'] for s in by_metric)}")
    arms = rule_arms(rule, run, with_base)
    if both:  # task and metric meet, but not on an arm the rule judges
        whose = f"arm '{rule['arm']}' matches {_few(arms)}" if rule.get("arm") else f"the adapter arms are {_few(arms)}"
        said += f", {whose}, but no row of those has all three"
    else:
        said += ", but no row has both"
    groups = [s for s in run["scores"] if per_group(s) and glob(s["task"], rule["task"])
              and glob(s["metric"], rule["metric"])]
    if groups and not selectable(rule, groups[0]):
        said += (f" (per-group rows such as {groups[0]['task']}/{groups[0]['metric']} are selected only by a metric "
                 "pattern that holds '[', e.g. '" + groups[0]["metric"].split("[")[0] + "[*]')")
    return said
