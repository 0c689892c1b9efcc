"""The headline comparison table, shaped with pandas: one row per (task, metric)."""

from __future__ import annotations

import math

import pandas as pd

from reports.data import Report

# Metrics shown in the headline (others stay in the per-task sections).
HEADLINE = {
    "yelp": ["accuracy", "f1_macro", "f1_micro", "f1_weighted", "unparseable_rate", "f1_macro_drop"],
    "yelp_mc": ["acc"], "docqa": ["rougeL", "rouge1", "bleu4", "f1", "exact_match"],
    "perplexity": ["token_perplexity", "bits_per_byte"], "general_qa": ["exact_match", "f1"],
}


def fmt(v, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:.{digits}f}" if abs(v) < 1000 else f"{v:.1f}"


def marker(p) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


def headline(report: Report, all_metrics: bool = False) -> pd.DataFrame:
    """Columns: task, metric, higher_is_better, base, <adapter>..., and per adapter delta, lo, hi, p, test."""
    s = report.scores
    if s.empty:
        return pd.DataFrame()
    rows = []
    order = list(dict.fromkeys(s["task"]))
    for task in order:
        metrics = list(dict.fromkeys(s[s.task == task]["metric"]))
        if not all_metrics and task in HEADLINE:
            metrics = [m for m in HEADLINE[task] if m in metrics]
        for metric in metrics:
            sel = s[(s.task == task) & (s.metric == metric)]
            row = {"task": task, "metric": metric, "higher_is_better": sel["higher_is_better"].iloc[0]}
            for arm in ["base", *report.adapters]:
                v = sel[sel.arm == arm]["value"]
                row[arm] = float(v.iloc[0]) if len(v) else None
            for arm in report.adapters:
                c = report.comparisons
                c = c[(c.task == task) & (c.metric == metric) & (c.arm == arm)] if not c.empty else c
                if len(c):
                    c = c.iloc[0]
                    row[f"{arm}:delta"], row[f"{arm}:p"], row[f"{arm}:test"] = c["delta"], c["p_value"], c["test"]
                    lo, hi = (c["ci95"] if isinstance(c["ci95"], list) else [None, None])
                    row[f"{arm}:lo"], row[f"{arm}:hi"] = lo, hi
            rows.append(row)
    return pd.DataFrame(rows)


def delta_text(row, arm: str) -> str:
    d = row.get(f"{arm}:delta")
    if d is None or (isinstance(d, float) and math.isnan(d)):
        return "n/a"
    lo, hi = row.get(f"{arm}:lo"), row.get(f"{arm}:hi")
    ci = f" [{fmt(lo)}, {fmt(hi)}]" if lo is not None and not (isinstance(lo, float) and math.isnan(lo)) else ""
    return f"{d:+.4f}{ci}{marker(row.get(f'{arm}:p'))}"


def better(row, arm: str) -> bool | None:
    """Whether the adapter's delta goes the good way (None when there is no delta)."""
    d = row.get(f"{arm}:delta")
    if d is None or (isinstance(d, float) and math.isnan(d)) or d == 0:
        return None
    hib = row.get("higher_is_better")
    return (d > 0) if hib is not False else (d < 0)
