"""One checker per rule kind, and CHECKS, the table `evaluate` dispatches a rule through by its kind.

The kinds about a change (improves, forgetting, no_regression) read a paired comparison in the metric's good direction
(a Change) and decide on its 95% interval: improves passes when the lower bound clears the margin, forgetting and
no_regression (non-inferiority) when the lower bound is above -budget / -tolerance. Every line says the change, its
interval, n, and what decided it.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.core import power, results, stats
from harness.core.errors import HarnessError
from harness.gate import sequential as seq
from harness.gate.baseline import baseline_arm, paired_vs_baseline
from harness.gate.rules import KINDS, judges_base
from harness.gate.select import glob, rule_arms, score, targets
from harness.gate.verdict import Check, RuleResult
from reports import numbers


@dataclass(frozen=True)
class Judging:
    """What a checker may read: the run under judgement, its comparisons by (task, metric, arm), and the baseline."""

    run: dict
    run_dir: Path
    comparisons: dict
    baseline: dict | None = None
    baseline_dir: Path | None = None
    read: dict = field(default_factory=dict)  # (arm, task) -> sample rows, read once

    def samples(self, arm: str, task: str) -> list[dict]:
        if (arm, task) not in self.read:
            self.read[(arm, task)] = results.read_samples(self.run_dir, arm, task)
        return self.read[(arm, task)]

    def anytime(self, rule: dict, task: str, metric: str, arm: str) -> tuple[seq.Bounds | None, str | None]:
        """The check's anytime-valid bounds when its task stopped once decided (harness run --until-decided), and
        the words for how far it got; (None, None) for a task scored to its end in a fixed number of documents."""
        info = seq.stopped(self.run, task)
        if info is None or seq.undecidable(rule):
            return None, None
        b, why = seq.check_bounds(rule["kind"], self.run, self.samples, task, metric, arm)
        if b is None:
            return None, None
        word = "decided" if seq.decide(rule, b) is not None else "undecided"
        return b, f"{word} after {info['docs']} of {info['of']} documents (--until-decided)"


def evaluate(rules: list[dict], run: dict, run_dir: Path, baseline: dict | None = None,
             baseline_dir: Path | None = None) -> list[RuleResult]:
    """Every rule judged; the rules must have passed rules.validate (a checker trusts its rule's fields)."""
    judging = Judging(run, run_dir, {(c["task"], c["metric"], c["arm"]): c for c in run["comparisons"]},
                      baseline, baseline_dir)
    return [RuleResult(i, rule, CHECKS[rule["kind"]](rule, judging, i)) for i, rule in enumerate(rules, 1)]


def _targets(rule: dict, run: dict) -> list[tuple[str, str, str]]:
    return targets(rule, run, judges_base(rule))


# --- a change, as the rules about changes read it ----------------------------------------------------------------

@dataclass(frozen=True)
class Change:
    """A paired comparison in the metric's good direction (positive = better), from a run.json comparison (a dict)
    or a stats.Comparison: the gain, its 95% CI (None when there is no test, and why_no_ci says why), the counts."""

    gain: float
    ci: tuple[float, float] | None
    n: int | None
    n_clusters: int | None
    n_missing: int
    var_unit: float | None
    unit: str
    lower_is_better: bool
    why_no_ci: str
    anytime: str | None = None  # the bounds are a confidence sequence: how far the run got ('decided after ...')
    caveat: str | None = None  # a fixed-n interval on a task --until-decided was free to stop early
    margin_ci: tuple[float, float] | None = None  # the interval continuity-corrected by one document (tango-score)
    design: tuple[float, float] | None = None  # (design effect, scale) of a tango-score test: its needed n is exact


def as_change(c, higher_is_better, unit: str = "document") -> Change:
    """`c` (a run.json comparison or a stats.Comparison) turned into the metric's good direction."""
    get = c.get if isinstance(c, dict) else (lambda k: getattr(c, k, None))
    flip = higher_is_better is False
    def good_way(pair):  # an interval turned into the metric's good direction
        return None if pair is None else ((-pair[1], -pair[0]) if flip else (pair[0], pair[1]))

    delta, ci = get("delta"), good_way(get("ci95"))
    margin_ci = good_way(get("ci95_margin") if isinstance(c, dict) else get("ci_margin"))
    n, test = get("n"), get("test")
    why = (f"n too small ({stats.too_small(n, get('min_n'), get('n_clusters'), stats.MIN_CLUSTERS, get('n_changed'))}): no interval"
           if test == stats.N_TOO_SMALL
           else f"no interval (test: {test or 'none'})")
    return Change(-delta if flip else delta, ci, n, get("n_clusters"), get("n_missing") or 0, get("var_unit"),
                  (c.get("unit") if isinstance(c, dict) else None) or unit, flip, why, margin_ci=margin_ci,
                  design=power.design(test))


def describe(ch: Change, label: str = "change") -> str:
    """'change -0.0500 [95% CI -0.1176, +0.0000] (n=40, 12 clusters, 2 missing)'."""
    counts = [f"n={ch.n}"] + ([f"{ch.n_clusters} clusters"] if ch.n_clusters else [])
    counts += [f"{ch.n_missing} missing"] if ch.n_missing else []
    if ch.lower_is_better:
        counts.append("lower is better: a fall counts as a gain")
    if ch.anytime:
        counts.append(f"{ch.anytime}, anytime-valid bounds")
    if ch.caveat:
        counts.append(ch.caveat)
    text = numbers.delta(ch.gain, list(ch.ci) if ch.ci else None)
    text = text.replace("[", "[95% CS " if ch.anytime else "[95% CI ", 1)
    return f"{label} {text} ({', '.join(counts)})"


def plural(unit: str) -> str:
    """'question' -> 'questions'; 'document (all its windows together)' -> 'documents (all its windows together)'."""
    word, _, rest = unit.partition(" ")
    return (word if word.endswith("s") else word + "s") + (f" {rest}" if rest else "")


def _shown(ch: Change) -> tuple[str, str, str]:
    """The change and its bounds exactly as describe() writes them (all three with the same decimals), so 'lower
    bound +2.88' repeats the interval's own text, never '+2.882' beside '[95% CI +2.88, +12.78]'."""
    gain, lo, hi = numbers.delta_parts(ch.gain, list(ch.ci) if ch.ci else None)
    if lo is None:  # no interval (or one numbers.delta leaves out): each number on its own
        return gain, *(numbers.delta(x) for x in (ch.ci or (None, None)))
    return gain, lo, hi


def _at_or_beyond(gain: float, allowed: float) -> bool:
    """The point estimate is at -allowed or past it (isclose: a delta of two rounded scores, -0.04999999999999999)."""
    return gain <= -allowed or math.isclose(gain, -allowed, rel_tol=1e-9, abs_tol=1e-12)


def _needed(ch: Change, allowed: float, word: str, who: str) -> str:
    """Why an interval across -allowed settles nothing, and what n would settle it. The n (stats.n_needed at the
    churn, var_unit, this comparison observed) is the n at which the interval clears -allowed 80% of the time if the
    true change is 0 (exact for a tango-score test, harness.core.power; the normal approximation for a corpus
    metric), and the line says so; when the observed change is at or past -allowed the line also warns
    that with a true drop at the budget that n would pass only 2.5% of the time: more documents would rather
    confirm the drop."""
    said = f"n = {ch.n} cannot show a drop smaller than {allowed:g}"
    if _at_or_beyond(ch.gain, allowed):
        caution = (f"; but the observed change ({_shown(ch)[0]}) is at or beyond the {word}: more "
                   f"{plural(ch.unit)} would more likely confirm the drop than clear it")
        if ch.var_unit is None:
            return said + caution
        needed = stats.n_needed(ch.var_unit, allowed, design=ch.design, kind="noninferiority")
        return said + f"; about {needed} {plural(ch.unit)} would, if {who} changed nothing (at the churn observed)" \
            + caution
    if ch.var_unit is None:
        return said + "; the comparison records no var_unit, so how many would is not known"
    needed = stats.n_needed(ch.var_unit, allowed, design=ch.design, kind="noninferiority")
    if ch.n is not None and needed <= ch.n:
        return (said + f": with no true change about {needed} {plural(ch.unit)} would, so the change itself "
                f"({_shown(ch)[0]}) is close to -{allowed:g}")
    return said + f"; about {needed} {plural(ch.unit)} would, if {who} changed nothing (at the churn observed)"


def within(ch: Change, allowed: float, word: str, who: str = "the adapter") -> tuple[bool, str]:
    """Non-inferiority: passes only when the interval's lower bound is above -allowed (a one-sided 2.5% test that
    the change is no worse than -allowed); `word` is what `allowed` is called (budget, tolerance), `who` what
    changed (the adapter, the candidate)."""
    if ch.ci is None:
        return False, f"{ch.why_no_ci}, so nothing shows the drop is within the {word}"
    (lo, hi), (_, lo_text, hi_text) = ch.ci, _shown(ch)
    if lo > -allowed:
        return True, f"lower bound {lo_text} > -{allowed:g}: within the {word}"
    if hi < -allowed:
        return False, f"upper bound {hi_text} < -{allowed:g}: drop beyond the {word}"
    if ch.anytime:
        return False, (f"lower bound {lo_text} <= -{allowed:g} <= upper bound {hi_text}: inconclusive: undecided "
                       "when the run stopped")
    return False, f"lower bound {lo_text} <= -{allowed:g}: inconclusive: {_needed(ch, allowed, word, who)}"


def clears(ch: Change, margin: float, require_ci: bool) -> tuple[bool, str]:
    """improves: the interval's lower bound > margin; with require_ci false, the point estimate >= margin."""
    gain_text, lo_text, _ = _shown(ch)
    if not require_ci:
        ok = ch.gain >= margin
        return ok, (f"gain {gain_text} {'>=' if ok else '<'} margin {margin:g}: "
                    "point estimate only (require_ci: false)")
    if ch.ci is None:
        return False, (f"{ch.why_no_ci}, so nothing shows the gain clears the margin {margin:g} "
                       "(require_ci: false would judge the point estimate alone)")
    if margin != 0 and ch.margin_ci is not None and not ch.anytime:
        # beyond 0 the score test alone passes up to 4.9% at its margin: the bound one document more cautious
        # holds it to 2.5% (harness.core.score); at 0 the exact test beside it already does
        lo_cc = numbers.delta_parts(ch.margin_ci[0], list(ch.margin_ci))[1]
        if ch.margin_ci[0] > margin:
            return True, f"lower bound {lo_cc} (continuity-corrected by one {ch.unit.split()[0]}) > margin {margin:g}: improves"
        if ch.ci[0] > margin:
            return False, (f"lower bound {lo_text} > margin {margin:g}, but continuity-corrected by one "
                           f"{ch.unit.split()[0]} it is {lo_cc}: the gain is not shown to clear the margin")
    if ch.ci[0] > margin:
        return True, f"lower bound {lo_text} > margin {margin:g}: improves"
    if ch.anytime:
        if ch.ci[1] <= margin:
            return False, f"upper bound {_shown(ch)[2]} <= margin {margin:g}: the gain cannot clear the margin"
        return False, (f"lower bound {lo_text} <= margin {margin:g} < upper bound {_shown(ch)[2]}: undecided when "
                       "the run stopped, so the gain is not shown to clear the margin")
    return False, f"lower bound {lo_text} <= margin {margin:g}: the gain is not shown to clear the margin"


def _check(task: str, metric: str, arm: str, ch: Change, threshold: float, decided: tuple[bool, str],
           head: str = "") -> Check:
    ok, why = decided
    return Check(task, metric, arm, ch.gain, threshold, ok, f"{head}{describe(ch)}: {why}",
                 ci95=list(ch.ci) if ch.ci else None, n=ch.n)


def _unit(run: dict, task: str) -> str:
    return (run["tasks"].get(task) or {}).get("unit") or "document"


# --- floor, ceiling: a score against a fixed value ----------------------------------------------------------------

FIXED_N_CAVEAT = "a fixed-n reading, which does not account for --until-decided's looks at this task"


def _bound(rule: dict, judging: Judging, holds, passed: str, failed: str) -> list[Check]:
    """A score against rule['value'] (its point estimate; the line shows the score's 95% CI beside it)."""
    out = []
    for task, metric, arm in _targets(rule, judging.run):
        s = score(judging.run, task, metric, arm)
        b, anytime = judging.anytime(rule, task, metric, arm)
        if b is not None:
            out.append(_bound_anytime(rule, task, metric, arm, s, b, anytime))
            continue
        ci = s.get("ci95")
        shown = numbers.value(s["value"]) + (f" [95% CI {numbers.value(ci[0])}, {numbers.value(ci[1])}]" if ci else "")
        ok = holds(s["value"], rule["value"])
        said = f"{shown} (n={s.get('n')}) {passed if ok else failed} {rule['value']:g}"
        if seq.stopped(judging.run, task):
            said += f" ({FIXED_N_CAVEAT})"
        out.append(Check(task, metric, arm, s["value"], rule["value"], ok, said, ci95=ci, n=s.get("n")))
    return out


def _bound_anytime(rule: dict, task: str, metric: str, arm: str, s: dict, b: seq.Bounds, anytime: str) -> Check:
    """floor or ceiling on a task that stopped once decided: the score's anytime-valid bounds decide, not its point."""
    state = seq.decide(rule, b)
    side = "lower" if rule["kind"] == "floor" else "upper"
    why = {seq.PASS: f"{side} bound {'>=' if side == 'lower' else '<='} {rule['value']:g}: passes",
           seq.FAIL: f"{'upper' if side == 'lower' else 'lower'} bound {'<' if side == 'lower' else '>'} "
                     f"{rule['value']:g}: fails",
           None: f"the bounds straddle {rule['value']:g}: undecided when the run stopped, so it fails"}[state]
    said = (f"{numbers.value(s['value'])} [95% CS {numbers.value(b.lower)}, {numbers.value(b.upper)}] "
            f"(n={b.n}, {anytime}, anytime-valid bounds): {why}")
    return Check(task, metric, arm, s["value"], rule["value"], state == seq.PASS, said, ci95=[b.lower, b.upper], n=b.n)


def check_floor(rule: dict, judging: Judging, index: int) -> list[Check]:
    return _bound(rule, judging, operator.ge, ">=", "< the floor")


def check_ceiling(rule: dict, judging: Judging, index: int) -> list[Check]:
    return _bound(rule, judging, operator.le, "<=", "> the ceiling")


# --- improves, forgetting: an adapter against the base, from run.json's comparisons ------------------------------

def _vs_base(rule: dict, judging: Judging, threshold: float, decide) -> list[Check]:
    out = []
    for task, metric, arm in _targets(rule, judging.run):
        hib = score(judging.run, task, metric, arm).get("higher_is_better")
        c = judging.comparisons.get((task, metric, arm))
        if c is None:
            out.append(Check(task, metric, arm, None, threshold, False, "no comparison with the base in run.json"))
            continue
        ch = as_change(c, hib, _unit(judging.run, task))
        b, anytime = judging.anytime(rule, task, metric, arm)
        if b is not None:
            ch = replace(ch, ci=(b.lower, b.upper), n=b.n, anytime=anytime)
        elif seq.stopped(judging.run, task):
            ch = replace(ch, caveat=FIXED_N_CAVEAT)
        out.append(_check(task, metric, arm, ch, threshold, decide(ch)))
    return out


def check_improves(rule: dict, judging: Judging, index: int) -> list[Check]:
    margin, require_ci = float(rule.get("margin", 0.0)), rule.get("require_ci", True)
    return _vs_base(rule, judging, margin, lambda ch: clears(ch, margin, require_ci))


def check_forgetting(rule: dict, judging: Judging, index: int) -> list[Check]:
    budget = float(rule["budget"])
    return _vs_base(rule, judging, -budget, lambda ch: within(ch, budget, "budget"))


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


def check_no_regression(rule: dict, judging: Judging, index: int) -> list[Check]:
    """The candidate against the baseline run on the documents both scored (a paired test, always computed)."""
    tolerance = float(rule["tolerance"])
    out = []
    for task, metric, arm in _targets(rule, judging.run):
        s = score(judging.run, task, metric, arm)
        barm, b = _baseline_score(rule, judging, index, task, metric, arm)
        c, agg = paired_vs_baseline(judging.run, judging.run_dir, judging.baseline_dir, s, barm)
        head = f"{numbers.value(s['value'])} vs baseline {numbers.value(b['value'])} ({barm}), paired "
        if c is not None and s.get("n") != b.get("n"):  # e.g. a baseline --until-decided stopped early
            head = (f"{numbers.value(s['value'])} (n={s.get('n')}) vs baseline {numbers.value(b['value'])} ({barm}, "
                    f"n={b.get('n')}): scores on different documents; paired on the {getattr(c, 'n', None)} both "
                    "scored, ")
        if c is None:
            out.append(Check(task, metric, arm, None, -tolerance, False,
                             head + f"test: none (the aggregation '{agg}' cannot be recomputed on resamples)"))
            continue
        ch = as_change(c, s.get("higher_is_better"), _unit(judging.run, task))
        out.append(_check(task, metric, arm, ch, -tolerance, within(ch, tolerance, "tolerance", "the candidate"),
                              head))
    return out


# --- not_degenerate: a classification task's predictions, from run.json's diagnostics ----------------------------

def check_not_degenerate(rule: dict, judging: Judging, index: int) -> list[Check]:
    arms = rule_arms(rule, judging.run, judges_base(rule))
    min_classes = int(rule.get("min_classes", 2))
    max_share = float(rule.get("max_majority_share", 0.9))
    out = []
    for d in judging.run.get("diagnostics") or []:
        if d["arm"] not in arms or not glob(d["task"], rule["task"]):
            continue
        ok = d["classes_predicted"] >= min_classes and d["majority_share"] <= max_share
        detail = f"{d['classes_predicted']} of {d['n_classes']} classes predicted (need >= {min_classes}); "
        if d["majority_answer"] is None:  # nothing parseable (the verdict says so too): no answer to name
            detail += f"no parseable answer among n={d['n']}"
        else:
            detail += (f"most frequent answer {d['majority_answer']} for {100 * d['majority_share']:.1f}% of "
                       f"n={d['n']} (limit {100 * max_share:.0f}%): {d['verdict']}")
        out.append(Check(d["task"], "predictions", d["arm"], d["majority_share"], max_share, ok, detail, n=d["n"]))
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
