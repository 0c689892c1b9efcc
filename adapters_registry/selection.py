"""Choosing among candidates without overstating the winner: simultaneous intervals over the K ranked candidates and
the set statistically tied with the best.

Each candidate's stored 95% interval (the per-arm CI its run recorded for the score) is widened on the normal scale
to level 1 - 0.05/K (Bonferroni): each side's half-width times z_{1-0.025/K} / z_{0.975}. Each widened interval then
covers its candidate's true score with probability 1 - 0.05/K, so all K cover at once with probability >= 95%, and
every candidate whose simultaneous interval reaches the best one's cannot be told from it: they are tied. K counts
the candidates that have an interval (those without one are listed, never compared). The intervals are the
candidates' own, not paired differences: candidates scored on the same documents are positively correlated, so this
is conservative (it finds at least as many ties as a paired max-T over the differences would).
"""

from __future__ import annotations

from harness.core.decision import widening


def _interval(row: dict) -> list[float] | None:
    lo, hi, v = row.get("ci_lo"), row.get("ci_hi"), row.get("value")
    if lo is None or hi is None or v is None or not lo <= hi:
        return None
    return [float(lo), float(hi)]


def tie_with_best(ranked: list[dict], lower_is_better: bool) -> dict:
    """For `ranked` (best first), add to each row `ci95` (the stored interval or None), `sim_ci` (simultaneous, or
    None) and `status`: 'best', 'tied' (its simultaneous interval reaches the best one's), 'worse', or 'no interval'.
    The best is the first candidate that has an interval. Returns {k, level, factor, method}; level and factor are
    None when no candidate has an interval (k = 0)."""
    with_ci = [r for r in ranked if _interval(r) is not None]
    k = len(with_ci)
    factor = widening(max(k, 1))
    for r in ranked:
        ci = _interval(r)
        r["ci95"] = ci
        r["sim_ci"] = None if ci is None else [r["value"] - (r["value"] - ci[0]) * factor,
                                               r["value"] + (ci[1] - r["value"]) * factor]
        r["status"] = "no interval" if ci is None else "worse"
    if with_ci:
        best = with_ci[0]
        best["status"] = "best"
        for r in with_ci[1:]:
            reaches = r["sim_ci"][0] <= best["sim_ci"][1] if lower_is_better else r["sim_ci"][1] >= best["sim_ci"][0]
            r["status"] = "tied" if reaches else "worse"
    level = 1 - 0.05 / max(k, 1)
    if not k:  # nothing to widen, no best to reach: a "x1.000 to 95.00%" line would describe a method never used
        return {"k": 0, "level": None, "factor": None,
                "method": "no candidate has an interval (their runs stored none), so no tie can be judged: the "
                          "ranking is by point estimate alone"}
    method = (f"simultaneous 95% intervals over the K = {k} candidates with an interval (Bonferroni: each stored 95% "
              f"CI widened on the normal scale to {level:.2%}, each side's half-width x z_(1-0.025/K) / 1.959964 = "
              f"x{factor:.3f}); tied = its simultaneous {'lower' if lower_is_better else 'upper'} bound reaches the "
              f"best one's {'upper' if lower_is_better else 'lower'} bound (per-candidate intervals, not paired: "
              "conservative)")
    return {"k": k, "level": level, "factor": factor, "method": method}
