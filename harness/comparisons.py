"""Fill run.json's `comparisons` (adapter - base, paired) and missing score CIs from the samples on disk.

Reads only the run directory, so `harness report` can (re)compute them for any run; no torch.
"""

from __future__ import annotations

from pathlib import Path

from harness import results, stats


def doc_values(rows: list[dict], metric: str, flt: str | None, key: str = "doc_id") -> dict:
    """Per-document values of one metric (and filter), keyed by doc_id (or doc_hash, across runs)."""
    out = {}
    for r in rows:
        if flt is not None and r.get("filter") not in (flt, None):
            continue
        if metric in (r.get("metrics") or {}):
            out[r[key]] = r["metrics"][metric]
    return out


def fill(run: dict, run_dir: Path, resamples: int = 1000, seed: int = 0) -> dict:
    """Compute every (task, metric, adapter arm) comparison against the base arm, in place; returns `run`."""
    cache: dict[tuple[str, str], list[dict]] = {}

    def samples(arm: str, task: str) -> list[dict]:
        if (arm, task) not in cache:
            path = results.samples_path(run_dir, arm, task)
            cache[(arm, task)] = results.read_samples(run_dir, arm, task) if path.exists() else []
        return cache[(arm, task)]

    arms = [a["name"] for a in run["arms"]]
    comparisons = []
    for s in run["scores"]:
        raw = s["metric"].split(":")[0]
        agg = (run["tasks"].get(s["task"], {}).get("aggregations") or {}).get(raw, "mean")
        values = doc_values(samples(s["arm"], s["task"]), raw, s.get("filter"))
        if s.get("ci95") is None and values:
            s["ci95"] = stats.value_ci(list(values.values()), agg, resamples, seed)
        if s["arm"] != "base":
            continue
        for arm in arms[1:]:
            tuned = doc_values(samples(arm, s["task"]), raw, s.get("filter"))
            docs = sorted(set(values) & set(tuned))
            c = stats.compare([values[d] for d in docs], [tuned[d] for d in docs], agg, resamples, seed)
            if c is None:
                continue
            comparisons.append({
                "task": s["task"], "metric": s["metric"], "arm": arm, "vs": "base", "delta": c.delta,
                "ci95": c.ci95, "p_value": c.p_value, "test": c.test, "n": c.n,
                "significant": c.p_value is not None and c.p_value < stats.ALPHA,
                "higher_is_better": s.get("higher_is_better"),
            })
    run["comparisons"] = comparisons
    run.setdefault("statistics", {}).update({"resamples": resamples, "seed": seed, "alpha": stats.ALPHA,
                                             "ci": "percentile bootstrap over documents, paired"})
    return run
