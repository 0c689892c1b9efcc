"""The metrics glossary: every metric the report shows, defined in the words its task's YAML gives
(metadata.definitions, or metadata.conventions), as run.json recorded them. Nothing here is written by hand: a task
that defines nothing reads "not defined by the task", which tells its author where to add the words."""

from __future__ import annotations

from reports.blocks import Table
from reports.data import Report

UNDEFINED = "not defined by the task (its YAML's metadata.definitions gives a metric its words)"
UNRECORDED = "not recorded: this run predates recorded definitions (rerun the task to record its words)"


def definition(report: Report, task: str, metric: str) -> str:
    info = report.tasks.get(task) or {}
    raw = metric.split(":")[0]
    for key in ("definitions", "conventions"):
        words = (info.get(key) or {}).get(raw)
        if words:
            return str(words)
    # A run made before definitions were recorded has none for any task: saying the task defines nothing would
    # blame a task whose YAML may well define it.
    recorded = any("definitions" in (i or {}) for i in report.tasks.values())
    return UNDEFINED if recorded else UNRECORDED


def table(report: Report) -> Table | None:
    s = report.scores
    if s.empty:
        return None
    t = Table("glossary", ["task", "metric", "better", "unit", "definition"], numeric=[False] * 5,
              caption="What each metric is, from its task's definition as the run recorded it; unit: what one "
                      "document is, the unit the intervals resample.", full_text={4})
    for task in dict.fromkeys(s["task"]):
        sel = s[(s.task == task) & ~s.metric.str.contains(r"\[", regex=True)]
        unit = str((report.tasks.get(task) or {}).get("unit") or "document")
        for metric in dict.fromkeys(sel["metric"]):
            hib = sel[sel.metric == metric]["higher_is_better"].iloc[0]
            lower = hib is not None and hib == hib and not hib  # numpy's False is not `False`
            t.rows.append([task, metric, "lower ↓" if lower else "higher ↑", unit,
                           definition(report, task, metric)])
    return t
