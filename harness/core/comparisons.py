"""Fill run.json's `comparisons` (adapter - base, paired) and missing score CIs from the samples on disk.

Reads only the run directory, so `harness report` can (re)compute them for any run; no torch.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from harness.core import diagnostics, results, stats
from harness.core.arms import BASE_ARM, adapter_arms


def doc_values(rows: list[dict], metric: str, flt: str | None, key: str = "doc_id") -> dict:
    """Per-document values of one metric (and filter), keyed by doc_id (or doc_hash, across runs)."""
    out = {}
    for r in rows:
        if flt is not None and r.get("filter") not in (flt, None):
            continue
        if metric in (r.get("metrics") or {}):
            out[r[key]] = r["metrics"][metric]
    return out


def aggregation(run: dict, task: str, metric: str) -> str:
    """How a task aggregates a metric (a score row's metric, filter suffix and all), as recorded in run.json."""
    return (run["tasks"].get(task, {}).get("aggregations") or {}).get(metric.split(":")[0], "mean")


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


def fill(run: dict, run_dir: Path, resamples: int = 1000, seed: int = 0) -> dict:
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
        if s.get("ci95") is None and values:
            s["ci95"] = stats.value_ci(list(values.values()), agg, resamples, seed)
        if s["arm"] != BASE_ARM:
            continue
        for arm in adapter_arms(run):
            tuned, _ = metric_values(s, arm)
            docs = sorted(set(values) & set(tuned))
            c = stats.compare([values[d] for d in docs], [tuned[d] for d in docs], agg, resamples, seed)
            if c is None:
                continue
            comparisons.append({
                "task": s["task"], "metric": s["metric"], "arm": arm, "vs": BASE_ARM, "delta": c.delta,
                "ci95": c.ci95, "p_value": c.p_value, "test": c.test, "n": c.n,
                "significant": c.significant, "n_too_small": c.test == stats.N_TOO_SMALL, "min_n": c.min_n,
                "unit": run["tasks"].get(s["task"], {}).get("unit", "document"),
                "higher_is_better": s.get("higher_is_better"),
            })
    run["comparisons"] = comparisons
    run.setdefault("statistics", {}).update({
        "resamples": resamples, "seed": seed, "alpha": stats.ALPHA, "min_pairs": stats.MIN_PAIRS,
        "min_pairs_corpus": stats.MIN_PAIRS_CORPUS,
        "ci": "the test inverted: sign-flip (exact for 0/1 data and n <= 16) for means of per-document values; "
              "expanded percentile paired bootstrap, significant only with the paired permutation test, for corpus metrics",
    })
    return run
