"""Adapter against adapter: each pair's paired difference on the headline metrics, on the documents both scored,
tested exactly as the adapter-vs-base comparisons are (harness.core.stats.compare), the p-values adjusted with the
run's method over the pairs' own family. Computed when the report is written, from the samples files."""

from __future__ import annotations

from itertools import combinations

from harness.core import comparisons, stats
from reports import notes, numbers, tables, verdict
from reports.blocks import Table
from reports.data import Report
from reports.text import comparison_text, count_text

MAX_ALL_METRICS = 6  # beyond this many adapters only the primary metric is paired: the pairs grow as k²


def _key(rows: list[dict]) -> str:
    """doc_hash pairs documents across merged runs; doc_id where a task repeats a document's text."""
    hashes = [r.get("doc_hash") for r in rows]
    return "doc_hash" if rows and all(hashes) and len(set(hashes)) == len(hashes) else "doc_id"


def _metric_facts(report: Report, task: str, metric: str) -> tuple[str | None, bool]:
    """(the score rows' filter, whether higher is better) of one metric, from the scores the report already holds."""
    sel = report.scores[(report.scores.task == task) & (report.scores.metric == metric)]
    if not len(sel):
        return None, True
    f = sel["filter"].iloc[0] if "filter" in sel else None
    hib = sel["higher_is_better"].iloc[0]
    return (f if isinstance(f, str) else None), not (hib is not None and hib == hib and not hib)


def compare_pair(report: Report, task: str, metric: str, first: str, second: str) -> dict | None:
    """The record (comparison fields, `arm` the second adapter, `vs` the first) of second − first on one metric."""
    (flt, higher), raw = _metric_facts(report, task, metric), metric.split(":")[0]
    agg = ((report.tasks.get(task) or {}).get("aggregations") or {}).get(raw, "mean")
    rows_a, rows_b = report.samples(first, task), report.samples(second, task)
    key = _key(rows_a) if _key(rows_a) == _key(rows_b) else "doc_id"
    a, b = comparisons.doc_values(rows_a, raw, flt, key), comparisons.doc_values(rows_b, raw, flt, key)
    clusters = comparisons.doc_clusters(rows_a, key)
    # In the first arm's doc_id order, as the run's own comparisons are: the seeded resamples then draw the same.
    order = {r[key]: i for i, r in enumerate(sorted(rows_a, key=lambda r: r["doc_id"]))}
    docs = sorted(set(a) & set(b), key=order.get)
    if not docs:
        return None
    info = report.runs[0].get("statistics") or {}
    c = stats.compare([a[d] for d in docs], [b[d] for d in docs], agg, int(info.get("resamples") or 1000),
                      int(info.get("seed", stats.SEED)), comparisons.cluster_keys(clusters, docs))
    if c is None:
        return None
    return {"task": task, "metric": metric, "arm": second, "vs": first, "delta": c.delta, "ci95": c.ci95,
            "p_value": c.p_value, "p_adjusted": None, "significant": False, "family": True, "test": c.test, "n": c.n,
            "n_clusters": c.n_clusters, "n_missing": c.n_missing, "mde": c.mde, "n_changed": c.n_changed,
            "min_n": c.min_n, "higher_is_better": higher}


def pairwise(report: Report) -> list[dict]:
    """Every pair of adapters (in the report's order: Δ = later − earlier) on every headline metric (only the
    primary one past MAX_ALL_METRICS adapters), adjusted over these comparisons with the run's method."""
    adapters = report.adapters
    if len(adapters) < 2:
        return []
    head = tables.headline(report)
    keys = [(r["task"], r["metric"]) for _, r in head.iterrows()]
    if len(adapters) > MAX_ALL_METRICS:
        keys = [verdict.primary(report)] if verdict.primary(report) else []
    out = [c for task, metric in keys for first, second in combinations(adapters, 2)
           if (c := compare_pair(report, task, metric, first, second)) is not None]
    method = (report.runs[0].get("statistics") or {}).get("multiplicity", "holm")
    family = [c for c in out if c["p_value"] is not None]
    for c, p in zip(family, stats.adjust([c["p_value"] for c in family], method)):
        c["p_adjusted"], c["significant"] = p, p is not None and p < stats.ALPHA
    return out


def caption(report: Report, records: list[dict]) -> str:
    method = (report.runs[0].get("statistics") or {}).get("multiplicity", "holm")
    name = notes.ADJUSTMENTS.get(method, (method, ""))[0]
    size = sum(c["p_value"] is not None for c in records)
    few = (f" With more than {MAX_ALL_METRICS} adapters only the primary metric is paired." if
           len(report.adapters) > MAX_ALL_METRICS else "")
    return (f"Each pair of adapters on the documents both scored: Δ = second − first with its 95% CI, tested as the "
            f"comparisons with the base are. Stars: {name}-adjusted p over these {size} pairwise comparisons, a "
            f"family of their own (apart from the comparisons with the base). ▲ the second adapter significantly "
            f"better, ▼ significantly worse.{few}")


def table(report: Report) -> Table | None:
    records = pairwise(report)
    if not records:
        return None
    t = Table("pairwise", ["task", "metric", "first", "second", "first value", "second value", "n (MDE)",
                           "Δ second − first [95% CI]", "p"],
              numeric=[False, False, False, False, True, True, True, True, True], caption=caption(report, records))
    for i, c in enumerate(records):
        values = [tables.value_of(report.scores, c["task"], c["metric"], a) for a in (c["vs"], c["arm"])]
        p = "—" if numbers.missing(c["p_value"]) else (f"p {numbers.p_value(c['p_value'])}, adjusted "
                                                        f"{numbers.p_value(c['p_adjusted'])}")
        t.rows.append([c["task"], c["metric"], c["vs"], c["arm"], *[numbers.value(v) for v in values],
                       count_text(c) + (f" (MDE {numbers.mde(c['mde'])})" if not numbers.missing(c.get("mde")) else ""),
                       comparison_text(c), p])
        if tables.starred(c) and c["delta"]:
            t.tone[(i, 7)] = "good" if (c["delta"] > 0) == (c["higher_is_better"] is not False) else "bad"
    return t
