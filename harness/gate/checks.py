"""One checker per rule kind, and CHECKS, the table `evaluate` dispatches a rule through by its kind."""

from __future__ import annotations

import fnmatch
import operator
from dataclasses import dataclass
from pathlib import Path

from harness.core import stats
from harness.core.comparisons import aggregation
from harness.core.errors import HarnessError
from harness.gate.baseline import baseline_arm, paired_vs_baseline
from harness.gate.rules import KINDS, judges_base
from harness.gate.select import rule_arms, score, targets
from harness.gate.verdict import Check, RuleResult


@dataclass(frozen=True)
class Judging:
    """What a checker may read: the run under judgement, its comparisons by (task, metric, arm), and the baseline."""

    run: dict
    run_dir: Path
    comparisons: dict
    baseline: dict | None = None
    baseline_dir: Path | None = None


def evaluate(rules: list[dict], run: dict, run_dir: Path, baseline: dict | None = None,
             baseline_dir: Path | None = None) -> list[RuleResult]:
    """Every rule judged; the rules must have passed rules.validate (a checker trusts its rule's fields)."""
    judging = Judging(run, run_dir, {(c["task"], c["metric"], c["arm"]): c for c in run["comparisons"]},
                      baseline, baseline_dir)
    return [RuleResult(i, rule, CHECKS[rule["kind"]](rule, judging, i)) for i, rule in enumerate(rules, 1)]


def _p(p) -> str:
    from reports import numbers

    return numbers.p_value(p)


def _n(c: dict) -> str:
    if c.get("test") == stats.N_TOO_SMALL:
        return f"n={c.get('n')}, n too small (< {c.get('min_n', stats.MIN_PAIRS)}): no test"
    return f"n={c.get('n')}"


def _good(delta: float, higher_is_better) -> float:
    """The delta in the metric's good direction (positive = better)."""
    return delta if higher_is_better is not False else -delta


def _targets(rule: dict, run: dict) -> list[tuple[str, str, str]]:
    return targets(rule, run, judges_base(rule))


# --- floor, ceiling: a score against a fixed value ----------------------------------------------------------------

def _bound(rule: dict, run: dict, sign: str, holds) -> list[Check]:
    out = []
    for task, metric, arm in _targets(rule, run):
        s = score(run, task, metric, arm)
        out.append(Check(task, metric, arm, s["value"], rule["value"], holds(s["value"], rule["value"]),
                         f"{s['value']:.4f} {sign} {rule['value']} (n={s.get('n')})"))
    return out


def check_floor(rule: dict, judging: Judging, index: int) -> list[Check]:
    return _bound(rule, judging.run, ">=", operator.ge)


def check_ceiling(rule: dict, judging: Judging, index: int) -> list[Check]:
    return _bound(rule, judging.run, "<=", operator.le)


# --- improves, forgetting: an adapter against the base, from run.json's comparisons ------------------------------

def _vs_base(rule: dict, judging: Judging, judge_one) -> list[Check]:
    out = []
    for task, metric, arm in _targets(rule, judging.run):
        hib = score(judging.run, task, metric, arm).get("higher_is_better")
        c = judging.comparisons.get((task, metric, arm))
        if c is None:
            out.append(Check(task, metric, arm, None, 0.0, False, "no comparison with the base in run.json"))
        else:
            out.append(judge_one(rule, c, hib, task, metric, arm))
    return out


def _gain(c: dict, hib) -> tuple[float, float | None]:
    """The adapter's gain over the base and the low end of its CI, both in the metric's good direction."""
    gain = _good(c["delta"], hib)
    lo, hi = c["ci95"] or (None, None)
    return gain, None if lo is None else (lo if hib is not False else -hi)


def _improves(rule: dict, c: dict, hib, task: str, metric: str, arm: str) -> Check:
    gain, gain_lo = _gain(c, hib)
    margin = float(rule.get("margin", 0.0))
    ok = gain >= margin and (not rule.get("require_ci") or (gain_lo is not None and gain_lo > 0))
    low = "none" if gain_lo is None else f"{gain_lo:+.4f}"
    return Check(task, metric, arm, gain, margin, ok, f"gain {gain:+.4f} (CI low {low}; {_n(c)}) vs margin {margin}")


def _forgetting(rule: dict, c: dict, hib, task: str, metric: str, arm: str) -> Check:
    gain, _ = _gain(c, hib)
    budget = float(rule["budget"])
    beyond = gain < -budget
    tested = c.get("p_value") is not None
    ok = not beyond or (rule.get("significant_only", False) and tested and not c.get("significant"))
    detail = f"change {gain:+.4f} (p={_p(c.get('p_value'))}; {_n(c)}) vs budget -{budget}"
    return Check(task, metric, arm, gain, -budget, ok, detail)


def check_improves(rule: dict, judging: Judging, index: int) -> list[Check]:
    return _vs_base(rule, judging, _improves)


def check_forgetting(rule: dict, judging: Judging, index: int) -> list[Check]:
    return _vs_base(rule, judging, _forgetting)


# --- no_regression: the run against a baseline run ---------------------------------------------------------------

def _baseline_score(rule: dict, judging: Judging, index: int, task: str, metric: str, arm: str) -> tuple[str, dict]:
    barm, why = baseline_arm(rule, arm, judging.baseline)
    if why:  # validate() refuses this first; kept for callers that skip it
        raise HarnessError(f"rule {index}: {why}")
    b = score(judging.baseline, task, metric, barm)
    if b is None:
        raise HarnessError(f"rule {index} (no_regression): the baseline run has no score for {task}/{metric} "
                           f"(arm '{barm}'); choose a baseline that ran this task and metric")
    return barm, b


def _significant_drop(judging: Judging, task: str, metric: str, arm: str, barm: str, flt) -> tuple[bool, str]:
    """Whether the drop against the baseline is significant, and the words that say so."""
    agg = aggregation(judging.run, task, metric)
    c = paired_vs_baseline(judging.run_dir, judging.baseline_dir, task, metric, arm, barm, agg, flt)
    significant = c is not None and c.p_value is not None and c.p_value < stats.ALPHA
    return significant, f", p={_p(c.p_value if c else None)} ({'significant' if significant else 'not significant'})"


def check_no_regression(rule: dict, judging: Judging, index: int) -> list[Check]:
    out = []
    for task, metric, arm in _targets(rule, judging.run):
        s = score(judging.run, task, metric, arm)
        barm, b = _baseline_score(rule, judging, index, task, metric, arm)
        change = _good(s["value"] - b["value"], s.get("higher_is_better"))
        tol = float(rule.get("tolerance", 0.0))
        ok = change >= -tol
        detail = (f"{s['value']:.4f} (n={s.get('n')}) vs baseline {b['value']:.4f} (n={b.get('n')}): "
                  f"change {change:+.4f}, tolerance {tol}")
        if not ok and rule.get("significant_only"):
            significant, said = _significant_drop(judging, task, metric, arm, barm, s.get("filter"))
            ok = not significant
            detail += said
        out.append(Check(task, metric, arm, change, -tol, ok, detail))
    return out


# --- not_degenerate: a classification task's predictions, from run.json's diagnostics ----------------------------

def check_not_degenerate(rule: dict, judging: Judging, index: int) -> list[Check]:
    arms = rule_arms(rule, judging.run, judges_base(rule))
    min_classes = int(rule.get("min_classes", 2))
    max_share = float(rule.get("max_majority_share", 0.9))
    out = []
    for d in judging.run.get("diagnostics") or []:
        if d["arm"] not in arms or not fnmatch.fnmatchcase(d["task"], rule["task"]):
            continue
        ok = d["classes_predicted"] >= min_classes and d["majority_share"] <= max_share
        detail = (f"{d['classes_predicted']} of {d['n_classes']} classes predicted (need >= {min_classes}); "
                  f"most frequent answer {d['majority_answer']} for {100 * d['majority_share']:.1f}% of n={d['n']} "
                  f"(limit {100 * max_share:.0f}%): {d['verdict']}")
        out.append(Check(d["task"], "predictions", d["arm"], d["majority_share"], max_share, ok, detail))
    return out


# Adding a kind: its checker here, and its fields and validation in rules.KINDS.
CHECKS = {
    "floor": check_floor,
    "ceiling": check_ceiling,
    "improves": check_improves,
    "no_regression": check_no_regression,
    "forgetting": check_forgetting,
    "not_degenerate": check_not_degenerate,
}
if CHECKS.keys() != KINDS.keys():  # a kind that validates but is never judged (or the reverse) fails at import
    raise RuntimeError(f"gate kinds without a checker or a validation entry: {set(CHECKS) ^ set(KINDS)}")
