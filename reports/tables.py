"""The headline comparison data, shaped with pandas: one row per (task, metric). reports/document.py turns it into
the table every medium renders."""

from __future__ import annotations

import math

import pandas as pd

from harness.core import stats
from harness.core.arms import BASE_ARM
from reports.data import Report

# Metrics shown in the headline (others stay in the per-task sections).
HEADLINE = {
    "yelp": ["accuracy", "f1_macro", "f1_micro", "f1_weighted", "unparseable_rate", "f1_macro_drop"],
    "yelp_mc": ["acc"], "docqa": ["rougeL", "rouge1", "bleu4", "f1", "exact_match"],
    "perplexity": ["token_perplexity", "bits_per_byte"], "general_qa": ["exact_match", "f1"],
    "general_mc": ["acc", "acc_macro"],
}


def n_clusters(report: Report, task: str) -> int | None:
    """How many clusters a task's documents fall in (its `cluster` field), or None when it declares none."""
    keys = {r.get("cluster") for r in report.samples(BASE_ARM, task)} - {None}
    return len(keys) or None


def no_ci_reason(report: Report, n, task: str | None = None) -> str:
    """Why a score carries no CI (the tables and the plots say the same)."""
    if n is None or (isinstance(n, float) and not math.isfinite(n)) or n < stats.MIN_PAIRS:
        return f"fewer than {stats.MIN_PAIRS} documents"
    k = n_clusters(report, task) if task else None
    if k is not None and k < stats.MIN_CLUSTERS:
        return f"fewer than {stats.MIN_CLUSTERS} clusters ({k})"
    if any((r.get("config") or {}).get("resamples") == 0 for r in report.runs):
        return "--resamples 0"
    return "no resampling method for this metric's aggregation"


def value_of(scores: pd.DataFrame, task: str, metric: str, arm: str):
    v = scores[(scores.task == task) & (scores.metric == metric) & (scores.arm == arm)]["value"]
    return float(v.iloc[0]) if len(v) else None


def present(v) -> bool:
    """A field of a comparison record that holds something (pandas fills absent fields with NaN)."""
    return v is not None and not (isinstance(v, float) and not math.isfinite(v))


def descriptive(c) -> bool:
    """A per-group row (family false in run.json): outside the run's family, shown with its CI, never starred."""
    f = c.get("family")
    return f is not None and f == f and not f


def starred(c) -> bool:
    """Whether a comparison gets a star and a colour: run.json's `significant` (after the run's adjustment), and
    never on a descriptive row."""
    s = c.get("significant")
    return bool(s) and s == s and not descriptive(c)


def comparison_index(report: Report) -> dict:
    """(task, metric, arm) -> the comparison record (a dict; absent fields None)."""
    c = report.comparisons
    if c.empty:
        return {}
    return {(r["task"], r["metric"], r["arm"]): {k: (v if present(v) or isinstance(v, list) else None)
                                                 for k, v in r.items()}
            for r in c.to_dict("records")}


def headline(report: Report, all_metrics: bool = False) -> pd.DataFrame:
    """Columns: task, metric, higher_is_better, n, base, <adapter>..., and per adapter `<adapter>:delta`,
    `<adapter>:significant` (after the run's adjustment) and `<adapter>:comparison` (the whole record)."""
    s = report.scores
    if s.empty:
        return pd.DataFrame()
    index = comparison_index(report)
    rows = []
    for task in dict.fromkeys(s["task"]):
        metrics = list(dict.fromkeys(s[s.task == task]["metric"]))
        if not all_metrics and task in HEADLINE:
            metrics = [m for m in HEADLINE[task] if m in metrics]
        for metric in metrics:
            sel = s[(s.task == task) & (s.metric == metric)]
            base_n = sel[sel.arm == BASE_ARM]["n"] if "n" in sel else []
            hib = sel["higher_is_better"].iloc[0]
            row = {"task": task, "metric": metric,  # numpy's False is not `False`: a plain bool, or None if unknown
                   "higher_is_better": None if hib is None or hib != hib else bool(hib),
                   "n": int(base_n.iloc[0]) if len(base_n) and base_n.iloc[0] == base_n.iloc[0] else None}
            for arm in [BASE_ARM, *report.adapters]:
                v = sel[sel.arm == arm]["value"]
                row[arm] = float(v.iloc[0]) if len(v) else None
            for arm in report.adapters:
                r = index.get((task, metric, arm))
                if r:
                    row.update({f"{arm}:delta": r["delta"], f"{arm}:significant": starred(r),
                                f"{arm}:comparison": r})
                    if present(r.get("n")):
                        row["n"] = int(r["n"])
            rows.append(row)
    return pd.DataFrame(rows)


def better(row, arm: str) -> bool | None:
    """Whether the adapter's delta goes the good way (None when there is no delta)."""
    d = row.get(f"{arm}:delta")
    if d is None or (isinstance(d, float) and math.isnan(d)) or d == 0:
        return None
    hib = row.get("higher_is_better")
    return (d > 0) if hib is not False else (d < 0)
