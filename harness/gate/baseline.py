"""The baseline run a no_regression rule compares with: finding it (a run folder or registry:accepted), the arm a
rule compares with, and the paired test of the two runs on their shared documents."""

from __future__ import annotations

from pathlib import Path

from harness.core import results
from harness.core.arms import adapter_arms, arm_names
from harness.core.errors import ConfigError, HarnessError


def resolve_baseline(ref: str | None, run: dict, registry_path: Path | None) -> tuple[dict | None, Path | None]:
    if not ref:
        return None, None
    if ref == "registry:accepted":
        from adapters_registry import Registry

        reg = Registry(registry_path)
        # failing one of this base, an accepted run of another: validation then says why it cannot be compared,
        # which tells more than "none accepted"
        accepted = reg.accepted(run["base"]["fingerprint"]) or reg.accepted()
        reg.close()
        if accepted is None:
            raise ConfigError(["--baseline registry:accepted: no run has been accepted yet; "
                               "`harness registry accept RUN` marks one"], what="gate rules")
        ref = accepted["directory"]
    path = Path(ref)
    try:
        return results.load_run(path), path
    except HarnessError as e:
        raise ConfigError([f"--baseline {ref}: {e}"], what="gate rules") from None


def baseline_arm(rule: dict, arm: str, baseline: dict) -> tuple[str | None, str | None]:
    """The baseline arm a no_regression rule compares `arm` with, or (None, why not)."""
    barm = rule.get("baseline_arm") or arm
    if barm in arm_names(baseline):
        return barm, None
    adapters = adapter_arms(baseline)
    if len(adapters) != 1:
        return None, (f"the baseline has no arm '{barm}'; name one with baseline_arm "
                      f"(baseline arms: {', '.join(adapters) or 'none but base'})")
    # a baseline with one adapter: that is the one to compare with, whatever the candidate arm is called
    return adapters[0], None


def paired_vs_baseline(run: dict, run_dir: Path, base_dir: Path, row: dict, barm: str) -> tuple:
    """(the paired comparison of the run's score `row` against the baseline's arm `barm` on the documents both
    scored, the aggregation): a stats.Comparison, candidate - baseline as `delta`, or None when the aggregation
    cannot be recomputed. Documents sharing a `cluster` key in the samples are resampled together."""
    task, arm = row["task"], row["arm"]
    path_a, path_b = results.samples_path(run_dir, arm, task), results.samples_path(base_dir, barm, task)
    if not path_a.exists() or not path_b.exists():
        raise HarnessError(f"no_regression {task}/{row['metric']}: the paired test needs the samples of both runs "
                           f"({path_a if not path_a.exists() else path_b} is missing)")
    # Here, not at import: numpy and scipy would cost every `harness --help` a second (the CLI reads KINDS).
    from harness.core import stats
    from harness.core.comparisons import aggregation, doc_values, group_values

    rows_a, rows_b = results.read_samples(run_dir, arm, task), results.read_samples(base_dir, barm, task)
    if "group" in row:  # one group of a grouped metric: a plain mean over that group's documents
        agg = "mean"
        cand = group_values(doc_values(rows_a, row["of"], row.get("filter"), key="doc_hash"), row["group"])
        base = group_values(doc_values(rows_b, row["of"], row.get("filter"), key="doc_hash"), row["group"])
    else:
        raw, agg = row["metric"].split(":")[0], aggregation(run, task, row["metric"])
        cand = doc_values(rows_a, raw, row.get("filter"), key="doc_hash")
        base = doc_values(rows_b, raw, row.get("filter"), key="doc_hash")
    docs = sorted(set(cand) & set(base), key=str)
    if not docs:
        raise HarnessError(f"no_regression {task}/{row['metric']}: the run and the baseline share no documents")
    cluster = {r.get("doc_hash"): r["cluster"] for r in rows_a if r.get("cluster") is not None}
    extra = {"clusters": [cluster.get(d, ("document", d)) for d in docs]} if cluster else {}
    return stats.compare([base[d] for d in docs], [cand[d] for d in docs], agg, **extra), agg
