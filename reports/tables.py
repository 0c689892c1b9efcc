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


def no_ci_reason(report: Report, n) -> str:
    """Why a score carries no CI (the tables and the plots say the same)."""
    if n is None or (isinstance(n, float) and not math.isfinite(n)) or n < stats.MIN_PAIRS:
        return f"fewer than {stats.MIN_PAIRS} documents"
    if any((r.get("config") or {}).get("resamples") == 0 for r in report.runs):
        return "--resamples 0"
    return "no resampling method for this metric's aggregation"


def value_of(scores: pd.DataFrame, task: str, metric: str, arm: str):
    v = scores[(scores.task == task) & (scores.metric == metric) & (scores.arm == arm)]["value"]
    return float(v.iloc[0]) if len(v) else None


def headline(report: Report, all_metrics: bool = False) -> pd.DataFrame:
    """Columns: task, metric, higher_is_better, n, base, <adapter>..., and per adapter delta, lo, hi, p, test, n,
    significant."""
    s = report.scores
    if s.empty:
        return pd.DataFrame()
    rows = []
    for task in dict.fromkeys(s["task"]):
        metrics = list(dict.fromkeys(s[s.task == task]["metric"]))
        if not all_metrics and task in HEADLINE:
            metrics = [m for m in HEADLINE[task] if m in metrics]
        for metric in metrics:
            sel = s[(s.task == task) & (s.metric == metric)]
            base_n = sel[sel.arm == BASE_ARM]["n"] if "n" in sel else []
            row = {"task": task, "metric": metric, "higher_is_better": sel["higher_is_better"].iloc[0],
                   "n": int(base_n.iloc[0]) if len(base_n) and base_n.iloc[0] == base_n.iloc[0] else None}
            for arm in [BASE_ARM, *report.adapters]:
                v = sel[sel.arm == arm]["value"]
                row[arm] = float(v.iloc[0]) if len(v) else None
            c = report.comparisons
            for arm in report.adapters:
                sub = c[(c.task == task) & (c.metric == metric) & (c.arm == arm)] if not c.empty else c
                if len(sub):
                    r = sub.iloc[0]
                    lo, hi = r["ci95"] if isinstance(r["ci95"], list) else (None, None)
                    row.update({f"{arm}:delta": r["delta"], f"{arm}:p": r["p_value"], f"{arm}:test": r["test"],
                                f"{arm}:lo": lo, f"{arm}:hi": hi, f"{arm}:n": r.get("n"), f"{arm}:min_n": r.get("min_n"),
                                f"{arm}:significant": bool(r.get("significant"))})
                    if r.get("n") is not None and r.get("n") == r.get("n"):
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
