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
    """Overfitting = eval loss rising for `patience` consecutive evaluations while the train loss keeps falling
    over the same span. (The reverse, eval falling while train rises, is not overfitting.)"""
    evals = [(r["step"], r["eval_loss"]) for r in rows if r.get("eval_loss") not in (None, "")]
    trains = [(r["step"], r["loss"]) for r in rows if r.get("loss") not in (None, "")]
    verdict = {"overfitting": False, "patience": patience, "evaluations": len(evals), "since_step": None}
    if len(evals) < patience + 1 or len(trains) < 2:
        verdict["reason"] = f"fewer than {patience + 1} evaluations"
        return verdict
    for end in range(patience, len(evals)):
        span = evals[end - patience:end + 1]
        rising = all(b[1] > a[1] for a, b in zip(span, span[1:]))
        if not rising:
            continue
        start, stop = span[0][0], span[-1][0]
        train_span = [loss for step, loss in trains if start <= step <= stop]
        before = [loss for step, loss in trains if step <= start]
        first = before[-1] if before else (train_span[0] if train_span else None)
        if first is not None and train_span and train_span[-1] < first:
            verdict.update(overfitting=True, since_step=start,
                           reason=f"eval loss rose {patience} evaluations in a row (steps {start}-{stop}) while train loss fell")
            return verdict
    verdict["reason"] = "eval loss did not rise while train loss fell"
    return verdict
