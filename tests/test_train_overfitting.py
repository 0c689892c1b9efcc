"""The overfitting verdict: a rise in eval loss (while train loss falls) counts only when the final eval loss is still
above where the rise began; a rise the eval loss recovers from is reported as recovered, not as overfitting."""

from __future__ import annotations

import pytest

from harness.train.log import overfitting_verdict, rows_from_history
from harness.train.trainer import _summary_line

FALLING_TRAIN = [(s, 3.0 - s / 100) for s in range(5, 205, 5)]  # train loss falls the whole run


def _verdict(evals, trains=FALLING_TRAIN, patience=3) -> dict:
    hist = [{"step": s, "loss": v} for s, v in trains] + [{"step": s, "eval_loss": v} for s, v in evals]
    return overfitting_verdict(rows_from_history(sorted(hist, key=lambda e: e["step"])), patience)


def _evals(*losses) -> list[tuple[int, float]]:
    return [(10 * (i + 1), v) for i, v in enumerate(losses)]


def test_a_rise_that_recovers_is_not_overfitting():
    # min 0.5 at step 20, rises three times to 0.8 (steps 20-50), then falls to 0.4 < 0.5
    v = _verdict(_evals(0.9, 0.5, 0.6, 0.7, 0.8, 0.6, 0.4))
    assert v["overfitting"] is False and v["recovered"] is True and v["since_step"] is None
    assert v["rise"] == {"from_step": 20, "to_step": 50, "rises": 3, "start_eval_loss": 0.5, "peak_eval_loss": 0.8}
    assert v["final_eval_loss"] == 0.4
    assert "then recovered" in v["reason"] and "not overfitting" in v["reason"], v["reason"]


def test_a_rise_that_stays_is_overfitting():
    # the same rise, but the eval loss only comes part of the way back (0.55 > 0.5)
    v = _verdict(_evals(0.9, 0.5, 0.6, 0.7, 0.8, 0.6, 0.55))
    assert v["overfitting"] is True and v["recovered"] is False and v["since_step"] == 20
    assert v["rise"]["from_step"] == 20 and v["rise"]["to_step"] == 50
    assert "still above the 0.5 it rose from at step 20" in v["reason"], v["reason"]
    # a rise that lasts to the end of the run is overfitting too
    assert _verdict(_evals(0.9, 0.5, 0.6, 0.7, 0.8))["overfitting"] is True


@pytest.mark.parametrize("final, overfitting", [(0.5, False), (0.5000001, True), (0.4999999, False)])
def test_the_boundary_is_the_eval_loss_the_rise_began_from(final, overfitting):
    """Back exactly where the rise began is recovered ("still above" it is overfitting, equal is not)."""
    v = _verdict(_evals(0.9, 0.5, 0.6, 0.7, 0.8, final))
    assert v["overfitting"] is overfitting and v["recovered"] is not overfitting, v


def test_the_start_is_the_minimum_before_a_long_rise():
    """A rise longer than the patience starts at its minimum, not at the start of the first window that qualified
    late: 0.5 -> 0.6 -> ... -> 1.0, ending at 0.65, is above 0.5 (overfitting) though below 0.7."""
    v = _verdict(_evals(0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 0.65))
    assert v["overfitting"] is True and v["rise"]["from_step"] == 10 and v["rise"]["rises"] == 5


def test_one_unrecovered_rise_after_a_recovered_one_is_overfitting():
    v = _verdict(_evals(0.9, 0.5, 0.6, 0.7, 0.8, 0.3, 0.35, 0.4, 0.45))
    assert v["overfitting"] is True and v["since_step"] == 60 and v["rise"]["start_eval_loss"] == 0.3


def test_the_demo_adapters_curve_is_a_recovered_rise():
    """The demo adapter's eval loss (every 20 steps): it rose from 0.191 at step 40 to 0.350 at step 120 while the
    train loss fell, and ended at 0.137: flagged before this rule, recovered now."""
    evals = list(zip(range(20, 560, 20), [0.896, 0.191, 0.221, 0.313, 0.323, 0.350, 0.290, 0.269, 0.197, 0.129,
                                          0.160, 0.265, 0.165, 0.145, 0.172, 0.159, 0.137, 0.160, 0.134, 0.160,
                                          0.161, 0.180, 0.160, 0.148, 0.138, 0.137, 0.137]))
    trains = list(zip(range(20, 560, 20), [0.843, 0.368, 0.305, 0.251, 0.220, 0.230, 0.266, 0.243, 0.154, 0.205,
                                           0.106, 0.051, 0.149, 0.132, 0.195, 0.230, 0.037, 0.017, 0.016, 0.061,
                                           0.086, 0.111, 0.138, 0.041, 0.076, 0.072, 0.018]))
    v = _verdict(evals, trains)
    assert v["overfitting"] is False and v["recovered"] is True and v["rise"]["from_step"] == 40


def test_existing_keys_stay_and_no_rise_is_neither():
    v = _verdict(_evals(1.0, 0.9, 0.8, 0.7))
    assert {"overfitting", "patience", "evaluations", "since_step", "reason"} <= set(v)
    assert v["overfitting"] is False and v["recovered"] is False and v["rise"] is None
    few = _verdict(_evals(1.0, 2.0))
    assert few["recovered"] is False and few["rise"] is None and few["final_eval_loss"] == 2.0


def _summary(verdict: dict) -> dict:
    return {"steps": 10, "tokens_per_s": 1.0, "final_train_loss": 0.5, "final_eval_loss": 0.4,
            "eval_perplexity": 1.49, "overfitting": verdict}


def test_the_summary_line_names_a_recovered_rise_and_warns_only_on_overfitting(tmp_path):
    recovered = _summary_line(_summary(_verdict(_evals(0.9, 0.5, 0.6, 0.7, 0.8, 0.4))), tmp_path, None, 1.0)
    assert "OVERFITTING" not in recovered and "eval loss rose at steps 20-50 and recovered" in recovered
    assert "\n" not in recovered
    overfit = _summary_line(_summary(_verdict(_evals(0.9, 0.5, 0.6, 0.7, 0.8))), tmp_path, None, 1.0)
    assert "; OVERFITTING: eval loss rose 3 evaluations in a row (steps 20-50)" in overfit


def test_the_onset_is_the_first_rise_never_recovered_from():
    """Two rises: the first comes back (to 0.80, below its 0.90 start), the second never does; the flag points at the
    second, the checkpoint a user should not go past."""
    evals = [1.0, 0.9, 0.95, 1.0, 1.05, 0.8, 0.85, 0.9, 0.95]
    rows = [{"step": 10 * (i + 1), "loss": 2 - 0.1 * i, "eval_loss": e} for i, e in enumerate(evals)]
    v = overfitting_verdict(rows, 3)
    assert v["overfitting"] and v["since_step"] == 60 and v["rise"]["start_eval_loss"] == 0.8
