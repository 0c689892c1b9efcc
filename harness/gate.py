"""`harness gate`: a verdict CI can act on, from run.json (+ a baseline run). No torch.

Rules (YAML, validated whole before anything is evaluated; every problem listed at once):
  floor          a metric of an arm >= value
  ceiling        a metric of an arm <= value
  improves       adapter - base >= margin (in the metric's good direction), optionally with the CI's lower bound > 0
  no_regression  candidate - baseline run >= -tolerance, optionally failing only when the drop is significant
  forgetting     on general tasks, adapter - base >= -budget, optionally failing only when the drop is significant
                 (with "n too small" there is no test, so a drop beyond the budget is never excused)
  not_degenerate a classification task's arm answers at least min_classes classes (default 2) and no one answer
                 for more than max_majority_share of the documents (default 0.9): a constant predictor fails
Rules select tasks, metrics and arms by name or glob (`general_*`); an omitted arm means every adapter arm.
Exit codes: 0 every rule passed, 1 a rule failed, 2 a usage or config error.
"""

from __future__ import annotations

import difflib
import fnmatch
import math
from dataclasses import dataclass, field
from pathlib import Path

from harness import results, stats
from harness.comparisons import aggregation, doc_values
from harness.errors import ConfigError, HarnessError

KINDS = {
    "floor": {"required": {"task", "metric", "value"}, "optional": {"arm", "name"}},
    "ceiling": {"required": {"task", "metric", "value"}, "optional": {"arm", "name"}},
    "improves": {"required": {"task", "metric"}, "optional": {"arm", "name", "margin", "require_ci"}},
    "no_regression": {"required": {"task", "metric"},
                      "optional": {"arm", "name", "tolerance", "significant_only", "baseline_arm"}},
    "forgetting": {"required": {"task", "metric", "budget"}, "optional": {"arm", "name", "significant_only"}},
    "not_degenerate": {"required": {"task"}, "optional": {"arm", "name", "min_classes", "max_majority_share"}},
}
_NUMBER_FIELDS = {"value", "margin", "tolerance", "budget", "min_classes", "max_majority_share"}
_BOOL_FIELDS = {"require_ci", "significant_only"}


@dataclass
class Check:
    task: str
    metric: str
    arm: str
    observed: float | None
    threshold: float
    passed: bool
    detail: str


@dataclass
class RuleResult:
    index: int
    rule: dict
    checks: list[Check] = field(default_factory=list)

    @property
    def name(self) -> str:
        r = self.rule
        what = f"{r['task']}/{r['metric']}" if "metric" in r else r["task"]
        return r.get("name") or f"{r['kind']} {what}" + (f" [{r['arm']}]" if r.get("arm") else "")

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def _matches(pattern: str, names) -> list[str]:
    return [n for n in names if fnmatch.fnmatchcase(n, pattern)]


def _close(name: str, names) -> str:
    close = difflib.get_close_matches(name, list(names), n=3, cutoff=0.5)
    return f" (close matches: {', '.join(close)})" if close else f" (known: {', '.join(sorted(names)[:12])})"


def load_rules(path: Path) -> list[dict]:
    from harness import yamlio

    try:
        doc = yamlio.load(path, "--rules")
    except HarnessError as e:
        raise ConfigError([str(e)], what="gate rules") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list) or not doc["rules"]:
        raise ConfigError([f"{path}: expected a mapping with a non-empty list under 'rules'"], what="gate rules")
    return doc["rules"]


def validate(rules: list, run: dict, baseline: dict | None, where: str) -> list[str]:
    """Every problem in the rules, checked against the run (and baseline) they will judge."""
    problems = []
    tasks = {s["task"] for s in run["scores"]}
    metrics = {s["metric"] for s in run["scores"]}
    adapters = [a["name"] for a in run["arms"][1:]]
    same_base = baseline is not None and baseline["base"]["fingerprint"] == run["base"]["fingerprint"]
    for i, rule in enumerate(rules, 1):
        at = f"{where}: rule {i}"
        before = len(problems)
        if not isinstance(rule, dict):
            problems.append(f"{at}: expected a mapping of kind, task, metric, ...")
            continue
        kind = rule.get("kind")
        if not isinstance(kind, str) or kind not in KINDS:
            problems.append(f"{at}: kind {kind!r} is not one of {', '.join(KINDS)}" + (_close(str(kind), KINDS) if kind else ""))
            continue
        spec = KINDS[kind]
        for f in sorted(spec["required"] - set(rule)):
            problems.append(f"{at} ({kind}): '{f}' is missing")
        for f in sorted(set(rule) - spec["required"] - spec["optional"] - {"kind"}):
            problems.append(f"{at} ({kind}): unknown field '{f}'" + _close(f, spec["required"] | spec["optional"]))
        for f in sorted(_NUMBER_FIELDS & set(rule)):
            v = rule[f]
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                problems.append(f"{at} ({kind}): '{f}' must be a number, got {_short(v)}")
            elif not _finite(v):
                problems.append(f"{at} ({kind}): '{f}' is {_short(v)}; a threshold must be a finite number "
                                "(a comparison with NaN or infinity never tells anything)")
            elif f in ("tolerance", "budget") and v < 0:
                problems.append(f"{at} ({kind}): '{f}' is {v}; it must be >= 0 (how much worse is still acceptable)")
            elif f == "min_classes" and (v != int(v) or v < 1):
                problems.append(f"{at} ({kind}): 'min_classes' is {v}; it must be a whole number >= 1")
            elif f == "max_majority_share" and not 0 < v <= 1:
                problems.append(f"{at} ({kind}): 'max_majority_share' is {v}; it must be a share in (0, 1]")
        for f in _BOOL_FIELDS & set(rule):
            if not isinstance(rule[f], bool):
                problems.append(f"{at} ({kind}): '{f}' must be true or false, got {rule[f]!r}")
        for f in ("task", "metric", "arm", "baseline_arm"):
            if f in rule and not isinstance(rule[f], str):
                problems.append(f"{at} ({kind}): '{f}' must be a name or glob, got {_short(rule[f])}")
        if "name" in rule and not isinstance(rule["name"], str):
            problems.append(f"{at} ({kind}): 'name' must be a string, got {_short(rule['name'])}")
        if isinstance(rule.get("task"), str) and not _matches(rule["task"], tasks):
            problems.append(f"{at}: unknown task '{rule['task']}'" + _close(rule["task"], tasks))
        elif kind == "not_degenerate" and isinstance(rule.get("task"), str):
            classified = {d["task"] for d in run.get("diagnostics") or []}
            if not _matches(rule["task"], classified):
                problems.append(f"{at} (not_degenerate): '{rule['task']}' is not a classification task of this run "
                                f"(classification tasks: {', '.join(sorted(classified)) or 'none'})")
            wanted = rule.get("min_classes")
            fewest = min((d["n_classes"] for d in run.get("diagnostics") or []
                          if fnmatch.fnmatchcase(d["task"], rule["task"]) and isinstance(d.get("n_classes"), int)),
                         default=None)
            if isinstance(wanted, (int, float)) and not isinstance(wanted, bool) and fewest is not None \
                    and wanted > fewest:
                # a rule no arm can ever pass is a typo, not a verdict
                problems.append(f"{at} (not_degenerate): 'min_classes' is {wanted}, but '{rule['task']}' has only "
                                f"{fewest} classes; give at most {fewest}")
        if isinstance(rule.get("metric"), str) and not _matches(rule["metric"], metrics):
            problems.append(f"{at}: unknown metric '{rule['metric']}'" + _close(rule["metric"], metrics))
        if isinstance(rule.get("arm"), str):
            allowed = adapters + (["base"] if kind in ("floor", "ceiling") else [])
            if not _matches(rule["arm"], allowed):
                problems.append(f"{at}: unknown arm '{rule['arm']}'" + _close(rule["arm"], allowed))
        if kind not in ("floor", "ceiling") and not adapters:
            problems.append(f"{at} ({kind}): the run has no adapter arm to judge")
        if kind == "no_regression" and baseline is None:
            problems.append(f"{at} (no_regression): needs a baseline: --baseline RUN_DIR or --baseline registry:accepted")
        elif kind == "no_regression" and same_base and len(problems) == before:
            # only for a rule that is otherwise sound, against a baseline of the same base (else that is the problem)
            problems += _baseline_problems(rule, run, baseline, at)
    if baseline is not None and baseline["base"]["fingerprint"] != run["base"]["fingerprint"]:
        problems.append(f"--baseline: evaluated another base model ({baseline['base']['name']}, "
                        f"{baseline['base']['fingerprint'][:19]}...) than the run ({run['base']['name']}, "
                        f"{run['base']['fingerprint'][:19]}...); compare runs of the same base")
    return problems


def _short(value) -> str:
    """A value for a message, cut short (a rule's value can be a large list)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _finite(v) -> bool:
    try:
        return math.isfinite(float(v))
    except OverflowError:  # an integer too large for a float
        return False


def _baseline_arm(rule: dict, arm: str, baseline: dict) -> tuple[str | None, str | None]:
    """The baseline arm a no_regression rule compares `arm` with, or (None, why not)."""
    barm = rule.get("baseline_arm") or arm
    if barm in [a["name"] for a in baseline["arms"]]:
        return barm, None
    adapters = [a["name"] for a in baseline["arms"][1:]]
    if len(adapters) != 1:
        return None, (f"the baseline has no arm '{barm}'; name one with baseline_arm "
                      f"(baseline arms: {', '.join(adapters) or 'none but base'})")
    return adapters[0], None


def _baseline_problems(rule: dict, run: dict, baseline: dict, at: str) -> list[str]:
    """A no_regression rule can only be judged when the baseline run scored what it compares."""
    out = []
    for task, metric, arm in _targets(rule, run):
        barm, why = _baseline_arm(rule, arm, baseline)
        if why:
            out.append(f"{at} (no_regression): {why}")
            break
        if _score(baseline, task, metric, barm) is None:
            have = sorted({s["metric"] for s in baseline["scores"] if s["task"] == task and s["arm"] == barm})
            out.append(f"{at} (no_regression): the baseline run has no score for {task}/{metric} (arm '{barm}'), "
                       "so there is nothing to compare with; choose a baseline that ran this task and metric"
                       + (f" (the baseline's {task} metrics: {', '.join(have)})" if have
                          else f" (the baseline did not run {task})"))
    return out


def _p(p) -> str:
    from reports import numbers

    return numbers.p_value(p)


def _n(c: dict) -> str:
    if c.get("test") == stats.N_TOO_SMALL:
        return f"n={c.get('n')}, n too small (< {c.get('min_n', stats.MIN_PAIRS)}): no test"
    return f"n={c.get('n')}"


def _degenerate_checks(rule: dict, run: dict) -> list[Check]:
    arms = [a["name"] for a in run["arms"][1:]]
    if rule.get("arm"):
        arms = _matches(rule["arm"], arms)
    min_classes = int(rule.get("min_classes", 2))
    max_share = float(rule.get("max_majority_share", 0.9))
    out = []
    for d in run.get("diagnostics") or []:
        if d["arm"] not in arms or not fnmatch.fnmatchcase(d["task"], rule["task"]):
            continue
        ok = d["classes_predicted"] >= min_classes and d["majority_share"] <= max_share
        detail = (f"{d['classes_predicted']} of {d['n_classes']} classes predicted (need >= {min_classes}); "
                  f"most frequent answer {d['majority_answer']} for {100 * d['majority_share']:.1f}% of n={d['n']} "
                  f"(limit {100 * max_share:.0f}%): {d['verdict']}")
        out.append(Check(d["task"], "predictions", d["arm"], d["majority_share"], max_share, ok, detail))
    return out


def _score(run: dict, task: str, metric: str, arm: str) -> dict | None:
    return next((s for s in run["scores"] if (s["task"], s["metric"], s["arm"]) == (task, metric, arm)), None)


def _good(delta: float, higher_is_better) -> float:
    """The delta in the metric's good direction (positive = better)."""
    return delta if higher_is_better is not False else -delta


def _targets(rule: dict, run: dict) -> list[tuple[str, str, str]]:
    arms = [a["name"] for a in run["arms"][1:]]
    arm_pattern = rule.get("arm")
    if arm_pattern:
        arms = _matches(arm_pattern, arms + (["base"] if rule["kind"] in ("floor", "ceiling") else []))
    out = []
    for s in run["scores"]:
        if s["arm"] in arms and fnmatch.fnmatchcase(s["task"], rule["task"]) and fnmatch.fnmatchcase(s["metric"], rule["metric"]):
            out.append((s["task"], s["metric"], s["arm"]))
    return out


def _paired_vs_baseline(run_dir: Path, base_dir: Path, task: str, metric: str, arm: str, barm: str, agg: str, flt):
    path_a, path_b = results.samples_path(run_dir, arm, task), results.samples_path(base_dir, barm, task)
    if not path_a.exists() or not path_b.exists():
        raise HarnessError(f"no_regression {task}/{metric}: significance needs the samples of both runs "
                           f"({path_a if not path_a.exists() else path_b} is missing)")
    from harness.results import read_samples

    raw = metric.split(":")[0]
    cand = doc_values(read_samples(run_dir, arm, task), raw, flt, key="doc_hash")
    base = doc_values(read_samples(base_dir, barm, task), raw, flt, key="doc_hash")
    docs = sorted(set(cand) & set(base), key=str)
    if not docs:
        raise HarnessError(f"no_regression {task}/{metric}: the run and the baseline share no documents")
    return stats.compare([base[d] for d in docs], [cand[d] for d in docs], agg)


def evaluate(rules: list[dict], run: dict, run_dir: Path, baseline: dict | None = None,
             baseline_dir: Path | None = None) -> list[RuleResult]:
    out = []
    comps = {(c["task"], c["metric"], c["arm"]): c for c in run["comparisons"]}
    for i, rule in enumerate(rules, 1):
        res = RuleResult(i, rule)
        kind = rule["kind"]
        if kind == "not_degenerate":
            res.checks = _degenerate_checks(rule, run)
            out.append(res)
            continue
        for task, metric, arm in _targets(rule, run):
            s = _score(run, task, metric, arm)
            hib = s.get("higher_is_better")
            if kind in ("floor", "ceiling"):
                ok = s["value"] >= rule["value"] if kind == "floor" else s["value"] <= rule["value"]
                sign = ">=" if kind == "floor" else "<="
                res.checks.append(Check(task, metric, arm, s["value"], rule["value"], ok,
                                        f"{s['value']:.4f} {sign} {rule['value']} (n={s.get('n')})"))
            elif kind in ("improves", "forgetting"):
                c = comps.get((task, metric, arm))
                if c is None:
                    res.checks.append(Check(task, metric, arm, None, 0.0, False, "no comparison with the base in run.json"))
                    continue
                gain = _good(c["delta"], hib)
                lo, hi = c["ci95"] or (None, None)
                gain_lo = None if lo is None else (lo if hib is not False else -hi)
                if kind == "improves":
                    margin = float(rule.get("margin", 0.0))
                    ok = gain >= margin and (not rule.get("require_ci") or (gain_lo is not None and gain_lo > 0))
                    low = "none" if gain_lo is None else f"{gain_lo:+.4f}"
                    detail = f"gain {gain:+.4f} (CI low {low}; {_n(c)}) vs margin {margin}"
                    res.checks.append(Check(task, metric, arm, gain, margin, ok, detail))
                else:
                    budget = float(rule["budget"])
                    beyond = gain < -budget
                    tested = c.get("p_value") is not None
                    ok = not beyond or (rule.get("significant_only", False) and tested and not c.get("significant"))
                    detail = f"change {gain:+.4f} (p={_p(c.get('p_value'))}; {_n(c)}) vs budget -{budget}"
                    res.checks.append(Check(task, metric, arm, gain, -budget, ok, detail))
            else:  # no_regression
                barm, why = _baseline_arm(rule, arm, baseline)
                if why:  # validate() refuses this first; kept for callers that skip it
                    raise HarnessError(f"rule {i}: {why}")
                b = _score(baseline, task, metric, barm)
                if b is None:
                    raise HarnessError(f"rule {i} (no_regression): the baseline run has no score for {task}/{metric} "
                                       f"(arm '{barm}'); choose a baseline that ran this task and metric")
                change = _good(s["value"] - b["value"], hib)
                tol = float(rule.get("tolerance", 0.0))
                ok = change >= -tol
                detail = (f"{s['value']:.4f} (n={s.get('n')}) vs baseline {b['value']:.4f} (n={b.get('n')}): "
                          f"change {change:+.4f}, tolerance {tol}")
                if not ok and rule.get("significant_only"):
                    agg = aggregation(run, task, metric)
                    c = _paired_vs_baseline(run_dir, baseline_dir, task, metric, arm, barm, agg, s.get("filter"))
                    significant = c is not None and c.p_value is not None and c.p_value < stats.ALPHA
                    ok = not significant
                    detail += f", p={_p(c.p_value if c else None)} ({'significant' if significant else 'not significant'})"
                res.checks.append(Check(task, metric, arm, change, -tol, ok, detail))
        out.append(res)
    return out


def resolve_baseline(ref: str | None, run: dict, registry_path: Path | None) -> tuple[dict | None, Path | None]:
    if not ref:
        return None, None
    if ref == "registry:accepted":
        from adapters_registry import Registry

        reg = Registry(registry_path)
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
