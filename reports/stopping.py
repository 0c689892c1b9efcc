"""What a report says of a task that `harness run --until-decided` stopped before its last document: the Verdict
reads such a task on the same anytime-valid bounds the gate judged it on, because a fixed-n interval (and its star)
computed after a data-dependent stop claims more than the data show."""

from __future__ import annotations

from harness.core import sequential
from reports import numbers
from reports.data import Report
from reports.text import bound_text


def early(report: Report, task: str) -> tuple[dict, dict] | None:
    """(the run, its `stopped`) for a task --until-decided looked at more than once, so that it was free to stop
    early (run.json records the bounds' `method`): the gate judges it on those bounds, and so does the Verdict;
    else None."""
    for run in report.runs:
        s = sequential.stopped(run, task)
        if s is not None:
            return run, s
    return None


def change(report: Report, c: dict) -> tuple[float, float] | None:
    """The anytime-valid bounds of a comparison's change, in the metric's own direction (as its delta), when its
    task was free to stop early and the metric has them (a mean of per-document values in [0, 1]); else None."""
    found = early(report, c["task"])
    if found is None:
        return None
    b, _ = sequential.change_bounds(found[0], report.samples, c["task"], c["metric"], c["arm"])
    if b is None:
        return None
    return (b.lower, b.upper) if c.get("higher_is_better") is not False else (-b.upper, -b.lower)


def text(c: dict, bounds: tuple[float, float]) -> str:
    """'+0.5078 [95% CS +0.3246, +0.6626], anytime-valid'."""
    return numbers.delta(c["delta"], list(bounds)).replace("[", "[95% CS ", 1) + ", anytime-valid"


def worse(c: dict, bounds: tuple[float, float]) -> bool:
    """The whole of the bounds on the metric's bad side."""
    return bounds[1] < 0 if c.get("higher_is_better") is not False else bounds[0] > 0


def non_inferiority(c: dict, bounds: tuple[float, float], base=None) -> str:
    """'rules out a drop larger than 0.0387' (or a rise, where lower is better), read on the bounds; never a bound
    past the base's own score `base` (reports.text.bound_text)."""
    hib = c.get("higher_is_better") is not False
    return bound_text(hib, -bounds[0] if hib else bounds[1], base)


def of_n(report: Report, task: str) -> str:
    """' of 2000 documents (--until-decided stopped there)' for a task stopped before its last document, else ''."""
    found = early(report, task)
    cut = found is not None and found[1].get("docs") != found[1].get("of")
    return f" of {found[1]['of']} documents (--until-decided stopped there)" if cut else ""


def paragraph(run: dict) -> str | None:
    """How far a run scored with --until-decided got on each task, and what that means for the intervals shown;
    None for a run that scored every document of every task."""
    told = [(t, i["stopped"]) for t, i in (run.get("tasks") or {}).items()
            if isinstance(i, dict) and isinstance(i.get("stopped"), dict)]
    if not told:
        return None
    rules = (run.get("config") or {}).get("rules")
    parts = [f"{t} {sequential.said(s)}" for t, s in told]
    return (f"Stopped once decided (harness run --until-decided{f', rules {rules}' if rules else ''}): "
            + "; ".join(parts) + ". A task looked at after more than one chunk was free to stop early: the gate judged "
            "it on anytime-valid bounds (a betting confidence sequence, valid however early the run stopped), and so "
            "does the Verdict above (95% CS); the intervals and stars in the tables are fixed-n, on the documents "
            "scored, and do not account for the looks.")
