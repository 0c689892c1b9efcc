"""The paper table: the one table of tables.tex a paper prints as it is.

Models are rows (the base, then each adapter), chosen metrics are columns under their task's name and n, each cell
a value with the half-width of its 95% CI (or the interval itself, or nothing) and a mark where the paired
difference from the base is significant after the run's adjustment (Holm by default). Decimals are fixed per column
and the value, its ± part and its mark sit in columns of their own, so decimal points line up. A value is bold only
where it beats every other row significantly: the best of a tied set is not bold.

Width is decided here, not left to \\resizebox: a table whose estimated width fits one column of a two-column
article is a `table`; one that fits the text width is a `table*`; a wider one is split into several tables, each
on a share of the metrics. TeX's own measure (latex.py's guard) then scales only what the estimate got slightly
wrong, never below the estimate's margin, and reports the scale it used in the log.
"""

from __future__ import annotations

import math
import re

from harness.core import stats
from harness.core.arms import BASE_ARM
from harness.core.errors import HarnessError
from reports import numbers, pairwise, tables
from reports.data import Report

# Metric ids as papers name them; an id not here is printed with its underscores as spaces.
METRIC_NAMES = {
    "accuracy": "Acc.", "acc": "Acc.", "acc_macro": "Macro-Acc.", "f1_macro": "Macro-F1", "f1_micro": "Micro-F1",
    "f1_weighted": "Weighted-F1", "f1_macro_drop": "Macro-F1 (parsed)", "unparseable_rate": "Unparsed",
    "rougeL": "ROUGE-L", "rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL_corpus": "ROUGE-L (corpus)",
    "bleu4": "BLEU-4", "bleu": "BLEU", "f1": "F1", "exact_match": "EM", "token_perplexity": "PPL",
    "word_perplexity": "Word PPL", "bits_per_byte": "BPB", "byte_perplexity": "Byte PPL",
}
TASK_NAMES = {"yelp": "Yelp", "yelp_mc": "Yelp (MC)", "docqa": "DocQA", "docqa_lf": "DocQA (long)",
              "perplexity": "Perplexity", "perplexity_general": "Perplexity (general)", "general_qa": "NQ-open",
              "general_mc": "MMLU"}
# What a paper reports per task when the user names nothing: the task's primary metric first.
DEFAULT_METRICS = {"yelp": ["f1_macro", "accuracy"], "yelp_mc": ["acc"], "docqa": ["rougeL"],
                   "docqa_lf": ["rougeL"], "perplexity": ["token_perplexity"], "general_qa": ["exact_match"],
                   "general_mc": ["acc"]}
CI_STYLES = ("pm", "ci", "none")
# Widths in pt: one column of a two-column 10 pt article is about 229 pt (letter) to 241 pt (A4); the text width
# of a one-column article with 1-inch margins is 469 pt (letter), 452 pt (A4 less 2 in). Anything estimated wider than
# COLUMN_PT becomes a table*, anything wider than TEXT_PT is split.
COLUMN_PT, TEXT_PT = 225.0, 440.0
_CHAR_PT = 4.7  # an average \small character in table figures and letters
_COLSEP_PT = 8.0
# the marks after a value: significantly better / worse than the base; too few documents for the test
BETTER, WORSE, SMALL = "*", "\u2020", "\u00b0"


def human_metric(metric: str) -> str:
    raw, _, flt = metric.partition(":")
    return METRIC_NAMES.get(raw, raw.replace("_", " ")) + (f" ({flt})" if flt else "")


def human_task(task: str) -> str:
    return TASK_NAMES.get(task, task.replace("_", " "))


def label_prefix(report: Report) -> str:
    """A label prefix from the run's folder name, so that two runs' tables can share one paper."""
    name = report.run_dirs[0].name if report.run_dirs else "run"
    return re.sub(r"[^A-Za-z0-9-]+", "-", name).strip("-") or "run"


def choose(report: Report, spec: str | None) -> list[tuple[str, str]]:
    """The (task, metric) columns: `spec` as "task/metric,..." (checked against the run), else each task's
    DEFAULT_METRICS that it scored, else its first headline metric."""
    s = report.scores
    have = list(dict.fromkeys(zip(s["task"], s["metric"]))) if not s.empty else []
    if spec is not None:
        picked = [p.strip() for p in spec.split(",") if p.strip()]
        if not picked:
            raise HarnessError(f"--paper-metrics {spec!r}: names no metric; give task/metric pairs such as "
                               "yelp/f1_macro,general_qa/exact_match")
        out = []
        for p in picked:
            task, sep, metric = p.partition("/")
            if sep and (task, metric) in have and _count(metric):
                raise HarnessError(f"--paper-metrics: {p!r} is a count, not a score; choose a metric such as "
                                   + ", ".join(f"{t}/{m}" for t, m in have if t == task and not _count(m))[:200])
            if not sep or (task, metric) not in have:
                near = ", ".join(f"{t}/{m}" for t, m in have if t == task and not _count(m)) or ", ".join(
                    dict.fromkeys(t for t, _ in have))
                raise HarnessError(f"--paper-metrics: {p!r} is not a task/metric of this run; "
                                   f"{'its metrics: ' if any(t == task for t, _ in have) else 'its tasks: '}{near}")
            out.append((task, metric))
        return list(dict.fromkeys(out))
    head = tables.headline(report)
    out = []
    for task in dict.fromkeys(t for t, _ in have):
        wanted = [m for m in DEFAULT_METRICS.get(task, []) if (task, m) in have]
        first = [r["metric"] for _, r in head.iterrows() if r["task"] == task][:1] if not head.empty else []
        out += [(task, m) for m in (wanted or first)]
    return out


def _count(metric: str) -> bool:
    return metric.startswith("n_") or metric in ("n", "count")


def _ci(report: Report, task: str, metric: str, arm: str):
    s = report.scores
    sel = s[(s.task == task) & (s.metric == metric) & (s.arm == arm)]
    ci = sel["ci95"].iloc[0] if len(sel) and "ci95" in sel else None
    return ci if isinstance(ci, list) and len(ci) == 2 and not any(numbers.missing(x) for x in ci) else None


def _decimals(values: list, halves: list) -> int:
    """Decimals for one column: the half-widths to two significant digits where there are any, else four
    significant digits of the largest value; between 0 and 4."""
    halves = [h for h in halves if h and h > 0]
    if halves:
        return max(0, min(4, 1 - math.floor(math.log10(min(halves)))))
    present = [abs(v) for v in values if not numbers.missing(v) and v != 0]
    if not present:
        return 3
    return max(0, min(4, 3 - math.floor(math.log10(max(present)))))


def _fixed(v, dec: int) -> str:
    if numbers.missing(v):
        return numbers.MISSING
    text = f"{v:.{dec}f}"
    return text.lstrip("-") if float(text) == 0 else text


def _mark(report: Report, index: dict, task: str, metric: str, arm: str) -> str:
    c = index.get((task, metric, arm))
    if arm != BASE_ARM and c and c.get("test") == stats.N_TOO_SMALL:
        return SMALL
    if arm == BASE_ARM or not c or not tables.starred(c):
        return ""
    row = {"higher_is_better": _higher(report, task, metric), f"{arm}:delta": c.get("delta")}
    good = tables.better(row, arm)
    return "" if good is None else (BETTER if good else WORSE)


def _higher(report: Report, task: str, metric: str) -> bool:
    s = report.scores
    hib = s[(s.task == task) & (s.metric == metric)]["higher_is_better"]
    return not (len(hib) and hib.iloc[0] is not None and hib.iloc[0] == hib.iloc[0] and not hib.iloc[0])


def _beats(report: Report, index: dict, task: str, metric: str, best: str, other: str, pairs: int) -> bool:
    """Whether `best` is significantly better than `other`: the run's own comparison where one of them is the
    base, else the paired comparison of the two adapters with its p multiplied by the adapter pairs (Bonferroni)."""
    higher = _higher(report, task, metric)
    if BASE_ARM in (best, other):
        adapter = other if best == BASE_ARM else best
        c = index.get((task, metric, adapter))
        if not c or not tables.starred(c) or numbers.missing(c.get("delta")) or c["delta"] == 0:
            return False
        adapter_better = (c["delta"] > 0) == higher
        return adapter_better if best == adapter else not adapter_better
    c = pairwise.compare_pair(report, task, metric, other, best)  # best − other
    if not c or numbers.missing(c.get("p_value")) or numbers.missing(c.get("delta")) or c["delta"] == 0:
        return False
    return c["p_value"] * max(pairs, 1) < stats.ALPHA and (c["delta"] > 0) == higher


def _lopsided(v: float, ci: list) -> bool:
    """An interval whose sides differ by more than a quarter (a score at or near a bound: 0.000 [0.000, 0.060])."""
    lo, hi = v - ci[0], ci[1] - v
    return abs(hi - lo) > 0.25 * max(hi, lo, 1e-12)


def column(report: Report, index: dict, task: str, metric: str, style: str) -> dict:
    """One metric's cells for every arm: {header, n, cells: [(value, ±part, mark)], bold: row or None}."""
    arms = [BASE_ARM, *report.adapters]
    values = [tables.value_of(report.scores, task, metric, a) for a in arms]
    cis = [_ci(report, task, metric, a) for a in arms]
    halves = [None if ci is None or numbers.missing(v) else max(v - ci[0], ci[1] - v) for v, ci in zip(values, cis)]
    dec = _decimals(values, halves if style != "none" else [])
    cells = []
    for a, v, ci, h in zip(arms, values, cis, halves):
        extra = ""
        if style == "pm" and h is not None and _lopsided(v, ci):
            extra = f"[{_fixed(ci[0], dec)}, {_fixed(ci[1], dec)}]"  # ± would imply values the interval excludes
        elif style == "pm" and h is not None:
            extra = f"±{_fixed(h, dec)}"
        elif style == "ci" and ci is not None:
            extra = f"[{_fixed(ci[0], dec)}, {_fixed(ci[1], dec)}]"
        cells.append((_fixed(v, dec), extra, _mark(report, index, task, metric, a)))
    present = [i for i, v in enumerate(values) if not numbers.missing(v)]
    bold = None
    if len(present) >= 2:
        higher = _higher(report, task, metric)
        best = (max if higher else min)(present, key=lambda i: values[i])
        pairs = len([a for a in report.adapters]) * (len(report.adapters) - 1) // 2
        if all(_beats(report, index, task, metric, arms[best], arms[i], pairs) for i in present if i != best):
            bold = best
    n = report.scores[(report.scores.task == task) & (report.scores.metric == metric)
                      & (report.scores.arm == BASE_ARM)]["n"]
    return {"task": task, "metric": metric, "higher": _higher(report, task, metric), "cells": cells, "bold": bold,
            "n": int(n.iloc[0]) if len(n) and not numbers.missing(n.iloc[0]) else None}


def width(cols: list[dict], names: list[str]) -> float:
    """The tabular's estimated width in pt: the model names, then per task the wider of its metrics' columns and
    its header ("Yelp (n=40)", which spans them)."""
    total = max(len(x) for x in ["Model", *names]) * _CHAR_PT + _COLSEP_PT
    for task in dict.fromkeys(c["task"] for c in cols):
        mine = [c for c in cols if c["task"] == task]
        metrics = 0.0
        for c in mine:
            head = len(human_metric(c["metric"])) + 2  # and its arrow
            body = max(len(v) + len(e) * 0.85 + 0.6 * bool(m) for v, e, m in c["cells"])  # ± part in \footnotesize
            metrics += max(head, body) * _CHAR_PT + _COLSEP_PT
        header = (len(human_task(task)) + 7) * _CHAR_PT + _COLSEP_PT
        total += max(metrics, header)
    return total


def groups(cols: list[dict], names: list[str]) -> list[list[dict]]:
    """The columns in as few tables as keep each within TEXT_PT, a task's metrics together where they fit in one
    table (a task too wide alone is cut where it must be)."""
    tasks: list[list[dict]] = []
    for c in cols:
        if tasks and tasks[-1][0]["task"] == c["task"]:
            tasks[-1].append(c)
        else:
            tasks.append([c])
    out, current = [], []
    for block in tasks:
        if current and width(current + block, names) > TEXT_PT:
            out.append(current)
            current = []
        for c in block:
            if current and width(current + [c], names) > TEXT_PT:
                out.append(current)
                current = []
            current.append(c)
    return out + ([current] if current else [])
