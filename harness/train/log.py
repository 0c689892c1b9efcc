"""Training logs and the overfitting verdict (pure functions; no torch)."""

from __future__ import annotations

import csv
import io

LOG_COLUMNS = ["step", "epoch", "loss", "grad_norm", "learning_rate", "eval_loss"]


def rows_from_history(history: list[dict]) -> list[dict]:
    """transformers' trainer.state.log_history -> one row per step that logged something."""
    by_step: dict[int, dict] = {}
    for entry in history:
        if "step" not in entry or not any(k in entry for k in ("loss", "eval_loss")):
            continue
        row = by_step.setdefault(int(entry["step"]), {"step": int(entry["step"])})
        for k in LOG_COLUMNS[1:]:
            if k in entry:
                row[k] = entry[k]
    return [by_step[s] for s in sorted(by_step)]


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=LOG_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: r.get(k, "") for k in LOG_COLUMNS})
    return buf.getvalue()


def overfitting_verdict(rows: list[dict], patience: int) -> dict:
    """Overfitting = eval loss rising for `patience` consecutive evaluations while the train loss keeps falling over
    the same span, and every later eval loss still above the eval loss the rise started from (the minimum just before
    it). A rise that the eval loss comes back from (to that start or below, at any later evaluation) is a recovered
    rise, not overfitting: it is reported with "recovered": true. (The reverse, eval falling while train rises, is not overfitting.)

    Keys: overfitting, patience, evaluations, since_step (the step the unrecovered rise began; None otherwise), reason;
    recovered, rise ({from_step, to_step, rises, start_eval_loss, peak_eval_loss} or None) and final_eval_loss."""
    evals = [(r["step"], r["eval_loss"]) for r in rows if r.get("eval_loss") not in (None, "")]
    trains = [(r["step"], r["loss"]) for r in rows if r.get("loss") not in (None, "")]
    verdict = {"overfitting": False, "patience": patience, "evaluations": len(evals), "since_step": None,
               "recovered": False, "rise": None, "final_eval_loss": evals[-1][1] if evals else None}
    if len(evals) < patience + 1 or len(trains) < 2:
        verdict["reason"] = f"fewer than {patience + 1} evaluations"
        return verdict
    rises = _rises(evals, trains, patience)
    if not rises:
        verdict["reason"] = "eval loss did not rise while train loss fell"
        return verdict
    final = evals[-1][1]
    # a rise the eval loss later came back from (to its start or below, at any later evaluation) is recovered; the
    # overfitting starts at the first rise it never came back from
    kept = [r for r in rises if all(loss > r["start_eval_loss"] for step, loss in evals if step > r["to_step"])]
    rise = (kept or rises)[0]
    what = (f"eval loss rose {rise['rises']} evaluations in a row (steps {rise['from_step']}-{rise['to_step']}) "
            "while train loss fell")
    start = f"the {rise['start_eval_loss']:.4g} it rose from at step {rise['from_step']}"
    if kept:
        verdict.update(overfitting=True, since_step=rise["from_step"], rise=rise,
                       reason=f"{what}, and the final eval loss {final:.4g} is still above {start}")
    else:
        verdict.update(recovered=True, rise=rise,
                       reason=f"{what}, then recovered: the final eval loss {final:.4g} is not above {start}; "
                              "not overfitting")
    return verdict


def _rises(evals: list[tuple], trains: list[tuple], patience: int) -> list[dict]:
    """Each run of rising eval loss with `patience` consecutive rises over which the train loss fell, once, in step
    order. A run starts at the evaluation before its first rise (its minimum) and ends at its peak."""
    found: dict[int, dict] = {}
    for end in range(patience, len(evals)):
        span = evals[end - patience:end + 1]
        if not all(b[1] > a[1] for a, b in zip(span, span[1:])):
            continue
        start, stop = span[0][0], span[-1][0]
        train_span = [loss for step, loss in trains if start <= step <= stop]
        before = [loss for step, loss in trains if step <= start]
        first = before[-1] if before else (train_span[0] if train_span else None)
        if first is None or not train_span or train_span[-1] >= first:
            continue
        lo = end - patience
        while lo > 0 and evals[lo][1] > evals[lo - 1][1]:
            lo -= 1
        hi = end
        while hi + 1 < len(evals) and evals[hi + 1][1] > evals[hi][1]:
            hi += 1
        found.setdefault(lo, {"from_step": evals[lo][0], "to_step": evals[hi][0], "rises": hi - lo,
                              "start_eval_loss": evals[lo][1], "peak_eval_loss": evals[hi][1]})
    return [found[k] for k in sorted(found)]
