"""The Sweep section: the checkpoints of a training run (adapter arms whose run.json record carries a step), the
primary metric against the step, the best checkpoint with a selection-aware interval and the set tied with it.

Picking the best of K checkpoints by its point estimate overstates it, so nothing here leans on the winner's own
95% interval:
- its value gets a simultaneous interval (each checkpoint's 95% CI widened, Bonferroni over the K, as `registry
  best` does), which covers every checkpoint's true score at once with probability >= 95%;
- each other checkpoint is compared with the best, paired on the same documents (stats.compare), its p-value
  multiplied by the K(K-1)/2 pairs the best could have been drawn from (Bonferroni over every pair, so the data's
  choice of the best costs nothing): 'tied' where that adjusted p is >= 0.05, 'worse' where below.
"""

from __future__ import annotations

from harness.core import stats
from harness.core.arms import BASE_ARM
from harness.core.decision import widening
from reports import numbers, pairwise, tables, text, verdict
from reports.blocks import Table
from reports.data import Report


def checkpoints(report: Report) -> list[tuple[str, dict]]:
    """(arm, its checkpoint record {step, loss, eval_loss}) in step order; empty unless two or more have a step."""
    found = [(a.name, (a.adapter or {}).get("checkpoint")) for a in report.arms if a.name in report.adapters]
    found = [(n, c) for n, c in found if isinstance(c, dict) and isinstance(c.get("step"), int)]
    return sorted(found, key=lambda x: x[1]["step"]) if len(found) >= 2 else []


def _score(report: Report, task: str, metric: str, arm: str) -> tuple[float | None, list | None]:
    s = report.scores
    sel = s[(s.task == task) & (s.metric == metric) & (s.arm == arm)]
    if not len(sel):
        return None, None
    ci = sel["ci95"].iloc[0] if "ci95" in sel else None
    return float(sel["value"].iloc[0]), (ci if isinstance(ci, list) else None)


def select(report: Report) -> dict | None:
    """{task, metric, higher, best, rows: [{arm, step, loss, eval_loss, value, ci95, sim_ci, vs_best, status}],
    k, pairs, factor}, or None without a sweep; computed once per report (the table, the plot and its caption read
    it, and it makes K - 1 paired comparisons)."""
    if "sweep" not in report.derived:
        report.derived["sweep"] = _select(report)
    return report.derived["sweep"]


def _select(report: Report) -> dict | None:
    cps, main = checkpoints(report), verdict.primary(report)
    if not cps or main is None:
        return None
    task, metric = main
    head = tables.headline(report)
    hib = next((r["higher_is_better"] for _, r in head.iterrows() if (r["task"], r["metric"]) == main), True)
    higher = hib is not False
    rows = []
    for arm, cp in cps:
        value, ci = _score(report, task, metric, arm)
        rows.append({"arm": arm, "step": cp["step"], "loss": cp.get("loss"), "eval_loss": cp.get("eval_loss"),
                     "value": value, "ci95": ci, "status": "no value" if value is None else "worse"})
    scored = [r for r in rows if r["value"] is not None]
    if not scored:
        return None
    k = len([r for r in scored if r["ci95"]])
    factor = widening(max(k, 1))
    for r in scored:
        ci = r["ci95"]
        r["sim_ci"] = None if not ci else [r["value"] - (r["value"] - ci[0]) * factor,
                                           r["value"] + (ci[1] - r["value"]) * factor]
    best = (max if higher else min)(scored, key=lambda r: r["value"])
    best["status"] = "best"
    pairs = len(scored) * (len(scored) - 1) // 2
    for r in scored:
        if r is best:
            continue
        c = pairwise.compare_pair(report, task, metric, r["arm"], best["arm"])  # best − this, paired
        r["vs_best"] = c
        if c is None or c.get("p_value") is None:
            r["status"] = "no test"
            continue
        c["p_adjusted"] = min(1.0, c["p_value"] * pairs)
        c["significant"] = c["p_adjusted"] < stats.ALPHA
        r["status"] = "worse" if c["significant"] else "tied"
    return {"task": task, "metric": metric, "higher": higher, "best": best["arm"], "rows": rows, "k": k,
            "pairs": pairs, "factor": factor}


def base_score(report: Report, sel: dict) -> tuple[float | None, list | None]:
    """The base's value and CI on the sweep's metric."""
    return _score(report, sel["task"], sel["metric"], BASE_ARM)


def summary(sel: dict) -> str:
    tied = [r["arm"] for r in sel["rows"] if r["status"] == "tied"]
    best = next(r for r in sel["rows"] if r["status"] == "best")
    sim = numbers.value(best["value"]) + (f" [{numbers.value(best['sim_ci'][0])}, {numbers.value(best['sim_ci'][1])}]"
                                          if best.get("sim_ci") else "")
    return (f"Best checkpoint on {sel['task']} {sel['metric']}: {best['arm']} (step {best['step']}), {sim} "
            f"(simultaneous 95% interval over the {sel['k']} checkpoints); statistically tied with it: "
            + (", ".join(tied) if tied else "none") + ". A tied checkpoint cannot be told from the best on these "
            "documents: prefer the earliest (cheapest) of them, or score more documents.")


def table(report: Report) -> tuple[Table, str] | None:
    sel = select(report)
    if sel is None:
        return None
    t = Table("sweep-steps", ["checkpoint", "step", "train loss", "eval loss", f"{sel['metric']} [95% CI]",
                              "simultaneous interval", "Δ vs base [95% CI]", "best − this [95% CI]",
                              "p (×pairs)", "status"],
              numeric=[False, True, True, True, True, True, True, True, True, False],
              caption=(f"Checkpoints in step order on the primary task ({sel['task']} {sel['metric']}, "
                       f"{'higher' if sel['higher'] else 'lower'} is better). Simultaneous interval: the 95% CI "
                       f"widened ×{sel['factor']:.3f} (Bonferroni over the {sel['k']} checkpoints), what the best's "
                       "value can be trusted to. best − this: paired on the same documents (its CI per comparison), its p multiplied by the "
                       f"{sel['pairs']} pairs of checkpoints (so choosing the best from the data costs nothing): "
                       "tied where that p ≥ 0.05."))
    index = tables.comparison_index(report)
    for i, r in enumerate(sel["rows"]):
        ci = r.get("ci95")
        vs = r.get("vs_best")
        t.rows.append([r["arm"], str(r["step"]), numbers.value(r["loss"]), numbers.value(r["eval_loss"]),
                       numbers.value(r["value"]) + (f" [{numbers.value(ci[0])}, {numbers.value(ci[1])}]" if ci else ""),
                       (f"[{numbers.value(r['sim_ci'][0])}, {numbers.value(r['sim_ci'][1])}]"
                        if r.get("sim_ci") else numbers.MISSING),
                       text.comparison_text(index.get((sel["task"], sel["metric"], r["arm"]))),
                       numbers.delta(vs["delta"], vs.get("ci95")) if vs else "—",
                       numbers.p_value(vs.get("p_adjusted")) if vs and vs.get("p_adjusted") is not None else "—",
                       r["status"]])
        if r["status"] == "best":
            t.bold.add((i, 9))
    return t, summary(sel)
