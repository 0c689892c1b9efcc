"""Fill run.json's `comparisons` (adapter - base, paired) and missing score CIs from the samples on disk.

Reads only the run directory, so `harness report` can (re)compute them for any run; no torch.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from harness.core import diagnostics, results, stats
from harness.core.arms import BASE_ARM, adapter_arms


def doc_values(rows: list[dict], metric: str, flt: str | None, key: str = "doc_id") -> dict:
    """Per-document values of one metric (and filter), keyed by doc_id (or doc_hash, across runs); a document
    whose row has the metric as null is kept, as None (the comparison counts it missing)."""
    out = {}
    for r in rows:
        if flt is not None and r.get("filter") not in (flt, None):
            continue
        if metric in (r.get("metrics") or {}):
            out[r[key]] = r["metrics"][metric]
    return out


def doc_clusters(rows: list[dict], key: str = "doc_id") -> dict | None:
    """The cluster key of each document (a task's `cluster` field, e.g. docqa's source page), or None when the
    task declares none: then every document is its own unit."""
    out = {r[key]: ("cluster", r["cluster"]) for r in rows if r.get("cluster") is not None}
    return out or None


def cluster_keys(clusters: dict | None, docs: list) -> list | None:
    """One key per document: its cluster's, or, for a document without a `cluster` field, one of its own that no
    cluster's can equal (doc 3 never joins a cluster whose key is 3)."""
    return None if clusters is None else [str(clusters.get(d, ("document", d))) for d in docs]


def aggregation(run: dict, task: str, metric: str) -> str:
    """How a task aggregates a metric (a score row's metric, filter suffix and all), as recorded in run.json."""
    return (run["tasks"].get(task, {}).get("aggregations") or {}).get(metric.split(":")[0], "mean")


VERSION = 6  # the statistical contract run.json's comparisons follow; a report recomputes older ones in memory
COUNT = "count"  # a count (yelp's n_parsed): it tells a comparison's n, it is no outcome to test or adjust for
GROUPED = "macro_by_group"  # per-document values are [group, value]; the task's score is the mean of group means


def group_values(values: dict, group: str) -> dict:
    """The per-document values of one group of a grouped metric, as plain numbers."""
    return {d: v[1] for d, v in values.items() if isinstance(v, (list, tuple)) and v[0] == group}


def add_group_scores(run: dict, samples) -> None:
    """For a metric aggregated by group (general_mc's acc_macro: [subject, correct] per question), one score row per
    group and arm, `metric[group]`, from the samples; idempotent (rows from an earlier call are replaced)."""
    run["scores"] = [s for s in run["scores"] if "group" not in s]
    extra = []
    for s in run["scores"]:
        if aggregation(run, s["task"], s["metric"]) != GROUPED:
            continue
        raw = s["metric"].split(":")[0]
        values = doc_values(samples(s["arm"], s["task"]), raw, s.get("filter"))
        groups = sorted({v[0] for v in values.values() if isinstance(v, (list, tuple))})
        for g in groups:
            vs = list(group_values(values, g).values())
            extra.append({"task": s["task"], "metric": f"{raw.removesuffix('_macro')}[{g}]", "filter": s.get("filter"),
                          "arm": s["arm"], "value": sum(vs) / len(vs), "stderr": None, "ci95": None, "n": len(vs),
                          "higher_is_better": s.get("higher_is_better"), "group": g, "of": raw})
    run["scores"] += extra


def _family(comparisons: list[dict], method: str) -> int:
    """Adjust the p-values of the run's family (every adapter-vs-base comparison but the descriptive per-group
    rows) in place; `significant` follows the adjusted p. Returns the family's size."""
    family = [c for c in comparisons if c["family"]]
    for c, p in zip(family, stats.adjust([c["p_value"] for c in family], method)):
        c["p_adjusted"] = p
        c["significant"] = p is not None and p < stats.ALPHA
    return sum(c["p_value"] is not None for c in family)


def _record(s: dict, arm: str, c, run: dict) -> dict:
    return {
        "task": s["task"], "metric": s["metric"], "arm": arm, "vs": BASE_ARM, "delta": c.delta,
        "ci95": c.ci95, "p_value": c.p_value, "p_adjusted": None, "significant": False, "family": "group" not in s,
        "test": c.test, "n": c.n, "n_clusters": c.n_clusters, "n_missing": c.n_missing, "mde": c.mde,
        "var_unit": c.var_unit, "mc_error": c.mc_error, "resamples": c.resamples, "n_changed": c.n_changed,
        "ci95_margin": c.ci_margin,
        "n_too_small": c.test == stats.N_TOO_SMALL, "min_n": c.min_n, "n_up": c.n_up, "n_down": c.n_down,
        "p_exact": c.p_exact, "p_draws": c.p_draws,
        "unit": run["tasks"].get(s["task"], {}).get("unit", "document"), "higher_is_better": s.get("higher_is_better"),
    }


def fill(run: dict, run_dir: Path, resamples: int = 1000, seed: int = stats.SEED, multiplicity: str = "holm") -> dict:
    """Compute every (task, metric, adapter arm) comparison against the base arm, in place; returns `run`."""
    cache: dict[tuple[str, str], list[dict]] = {}

    def samples(arm: str, task: str) -> list[dict]:
        if (arm, task) not in cache:
            path = results.samples_path(run_dir, arm, task)
            cache[(arm, task)] = results.read_samples(run_dir, arm, task) if path.exists() else []
        return cache[(arm, task)]

    add_group_scores(run, samples)
    diagnostics.fill(run, samples)
    for task, info in run["tasks"].items():  # which documents: the registry compares only scores on the same ones
        hashes = sorted(str(r.get("doc_hash")) for r in samples(BASE_ARM, task))
        if hashes:
            info["documents"] = "sha256:" + hashlib.sha256("\n".join(hashes).encode()).hexdigest()

    def metric_values(score: dict, arm: str) -> tuple[dict, str]:
        """(per-document values, aggregation) of one score row for one arm."""
        if "group" in score:
            return group_values(doc_values(samples(arm, score["task"]), score["of"], score.get("filter")), score["group"]), "mean"
        raw = score["metric"].split(":")[0]
        return doc_values(samples(arm, score["task"]), raw, score.get("filter")), aggregation(run, score["task"], raw)

    comparisons = []
    for s in run["scores"]:
        values, agg = metric_values(s, s["arm"])
        clusters = doc_clusters(samples(s["arm"], s["task"]))
        if s.get("ci95") is None and values:
            docs = list(values)
            s["ci95"] = stats.value_ci([values[d] for d in docs], agg, resamples, seed, cluster_keys(clusters, docs))
        if s["arm"] != BASE_ARM or agg == COUNT:
            continue
        for arm in adapter_arms(run):
            tuned, _ = metric_values(s, arm)
            docs = sorted(set(values) & set(tuned))
            c = stats.compare([values[d] for d in docs], [tuned[d] for d in docs], agg, resamples, seed,
                              cluster_keys(clusters, docs))
            if c is not None:
                comparisons.append(_record(s, arm, c, run))
    run["comparisons"] = comparisons
    _family_words(run, _family(comparisons, multiplicity), multiplicity)
    run["statistics"].update({
        "version": VERSION, "resamples": resamples, "seed": seed, "alpha": stats.ALPHA, "min_pairs": stats.MIN_PAIRS,
        "min_pairs_corpus": stats.MIN_PAIRS_CORPUS, "min_clusters": stats.MIN_CLUSTERS,
        "min_changed_corpus": stats.MIN_CHANGED_CORPUS,
        "ci": "per comparison, 95%: Tango's score interval for means of per-document values (on the expected "
              "counts of a randomized rounding to -1/0/+1 for values other than 0/1: unseen changes priced in at the "
              "metric's range), p the larger of McNemar's score test and its exact mid-p test, the "
              "interval widened to 0 where they disagree; the expanded percentile paired bootstrap, significant only "
              "with the paired permutation test, for corpus metrics (at least "
              f"{stats.MIN_CHANGED_CORPUS} changed documents); clusters by design effect or cluster bootstrap",
    })
    return run


def _family_words(run: dict, size: int, method: str) -> None:
    run.setdefault("statistics", {}).update({
        "multiplicity": method, "family_size": size,
        "family": f"the run's {size} adapter-vs-base comparisons with a test (per-group rows are descriptive)"})


def current(run: dict, run_dir: Path, multiplicity: str | None = None, resamples: int | None = None) -> dict:
    """The run's comparisons under this contract, in memory (an input run is never rewritten): a run written under
    an older one is recomputed from its samples, with the resamples it recorded; asking for another multiplicity
    only re-adjusts the recorded p-values."""
    recorded = run.get("statistics") or {}
    if len(run["arms"]) < 2:
        return run
    if recorded.get("version") != VERSION:
        return fill(run, run_dir, resamples=int(resamples or recorded.get("resamples") or 1000),
                    multiplicity=multiplicity or recorded.get("multiplicity") or "holm")
    if multiplicity and multiplicity != recorded.get("multiplicity"):
        _family_words(run, _family(run["comparisons"], multiplicity), multiplicity)
    return run
