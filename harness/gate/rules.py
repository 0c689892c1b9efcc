"""The rule kinds and their fields (KINDS), loading the rules YAML and validating it against a run, every problem
listed at once. The kinds themselves are described in the package docstring (harness/gate/__init__.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from harness.core.arms import BASE_ARM, adapter_arms
from harness.core.errors import ConfigError, HarnessError
from harness.gate.baseline import baseline_arm
from harness.gate.select import close, glob, matches, rule_arms, score, targets, unmatched


@dataclass(frozen=True)
class Kind:
    """A rule kind: its fields, and the validation it needs beyond them, in the order its problems are reported."""

    required: frozenset[str]
    optional: frozenset[str]
    judges_base: bool  # floor and ceiling bound any arm's score; the other kinds judge what an adapter changed
    stages: tuple = ()
    if_sound: tuple = ()  # only for an otherwise sound rule: about a broken one, what they find is noise


def load_rules(path: Path) -> list[dict]:
    from harness.core import yamlio

    try:
        doc = yamlio.load(path, "--rules")
    except HarnessError as e:
        raise ConfigError([str(e)], what="gate rules") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list) or not doc["rules"]:
        raise ConfigError([f"{path}: expected a mapping with a non-empty list under 'rules'"], what="gate rules")
    return doc["rules"]


def judges_base(rule: dict) -> bool:
    """Whether a (validated) rule may name the base arm."""
    return KINDS[rule["kind"]].judges_base


@dataclass(frozen=True)
class _Scope:
    """What rules are validated against: the run they will judge, and its baseline."""

    run: dict
    baseline: dict | None
    tasks: set
    metrics: set
    adapters: list

    @property
    def same_base(self) -> bool:
        return self.baseline is not None and self.baseline["base"]["fingerprint"] == self.run["base"]["fingerprint"]


def validate(rules: list, run: dict, baseline: dict | None, where: str, only=None) -> list[str]:
    """Every problem in the rules, checked against the run (and baseline) they will judge; `only`: which rules to
    check (a test of each rule's index), all by default."""
    scope = _Scope(run, baseline, {s["task"] for s in run["scores"]}, {s["metric"] for s in run["scores"]},
                   adapter_arms(run))
    problems = []
    for i, rule in enumerate(rules, 1):
        if only is None or only(i, rule):
            problems += _rule_problems(rule, scope, f"{where}: rule {i}")
    if baseline is not None and not scope.same_base:
        problems.append(f"--baseline: evaluated another base model ({baseline['base']['name']}, "
                        f"{baseline['base']['fingerprint'][:19]}...) than the run ({run['base']['name']}, "
                        f"{run['base']['fingerprint'][:19]}...); compare runs of the same base")
    return problems


def _rule_problems(rule, scope: _Scope, at: str) -> list[str]:
    if not isinstance(rule, dict):
        return [f"{at}: expected a mapping of kind, task, metric, ..."]
    kind = rule.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        return [f"{at}: kind {kind!r} is not one of {', '.join(KINDS)}" + (close(str(kind), KINDS) if kind else "")]
    found = _field_problems(rule, KINDS[kind], f"{at} ({kind}): ")
    for stage in KINDS[kind].stages:
        found += stage(rule, scope, at)
    if not found:
        for stage in KINDS[kind].if_sound:
            found += stage(rule, scope, at)
    return found


# --- the fields of a rule, whatever its kind --------------------------------------------------------------------

def _above_zero(f: str, v) -> str | None:
    if v > 0:
        return None
    return (f"'{f}' is {v}; it must be > 0 (the drop still acceptable: the rule passes only when the 95% interval "
            "shows any drop is smaller than it, which no interval can show for 0 or less; to demand a gain, use "
            "improves)")


def _not_negative(f: str, v) -> str | None:
    if v >= 0:
        return None
    return (f"'{f}' is {v}; it must be >= 0 (improves claims a gain: the interval's lower bound must clear the "
            f"margin, and a negative one would let a drop through under the name 'improves'); for 'not worse by "
            f"more than {-v:g}' use forgetting with budget: {-v:g}, or no_regression with tolerance: {-v:g}")


def _whole_count(f: str, v) -> str | None:
    return f"'{f}' is {v}; it must be a whole number >= 1" if v != int(v) or v < 1 else None


def _share(f: str, v) -> str | None:
    return f"'{f}' is {v}; it must be a share in (0, 1]" if not 0 < v <= 1 else None


# a number field and what else its value must satisfy, once it is a finite number
_NUMBER_FIELDS = {"value": None, "margin": _not_negative, "tolerance": _above_zero, "budget": _above_zero,
                  "min_classes": _whole_count, "max_majority_share": _share}
_BOOL_FIELDS = {"require_ci"}
# fields that once existed: what replaced them, instead of "unknown field"
_REMOVED = {"significant_only": "'significant_only' was removed: forgetting and no_regression are non-inferiority "
                                "checks now (they pass only when the 95% interval shows the drop is within the "
                                "budget or tolerance, and a probe too small to show it fails as inconclusive); "
                                "delete the field"}
_NAME_FIELDS = ("task", "metric", "arm", "baseline_arm")


def _short(value) -> str:
    """A value for a message, cut short (a rule's value can be a large list)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _finite(v) -> bool:
    try:
        return math.isfinite(float(v))
    except OverflowError:  # an integer too large for a float
        return False


def _number_problem(f: str, v) -> str | None:
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return f"'{f}' must be a number, got {_short(v)}"
    if not _finite(v):
        return (f"'{f}' is {_short(v)}; a threshold must be a finite number "
                "(a comparison with NaN or infinity never tells anything)")
    bound = _NUMBER_FIELDS[f]
    return bound(f, v) if bound else None


def _field_problems(rule: dict, spec: Kind, said: str) -> list[str]:
    fields = set(rule)
    out = [f"{said}'{f}' is missing" for f in sorted(spec.required - fields)]
    out += [said + _REMOVED[f] for f in sorted(set(_REMOVED) & fields)]
    out += [f"{said}unknown field '{f}'" + close(f, spec.required | spec.optional)
            for f in sorted(fields - spec.required - spec.optional - {"kind"} - set(_REMOVED))]
    out += [said + p for f in sorted(set(_NUMBER_FIELDS) & fields) if (p := _number_problem(f, rule[f]))]
    out += [f"{said}'{f}' must be true or false, got {rule[f]!r}"
            for f in _BOOL_FIELDS & fields if not isinstance(rule[f], bool)]
    out += [f"{said}'{f}' must be a name or glob, got {_short(rule[f])}"
            for f in _NAME_FIELDS if f in rule and not isinstance(rule[f], str)]
    if "name" in rule and not isinstance(rule["name"], str):
        out.append(f"{said}'name' must be a string, got {_short(rule['name'])}")
    return out


# --- validation stages: what a rule names must exist in the run it judges ----------------------------------------

def _known_task(rule: dict, scope: _Scope, at: str) -> list[str]:
    if isinstance(rule.get("task"), str) and not matches(rule["task"], scope.tasks):
        return [f"{at}: unknown task '{rule['task']}'" + close(rule["task"], scope.tasks)]
    return []


def _classification_task(rule: dict, scope: _Scope, at: str) -> list[str]:
    """A not_degenerate rule's task (once known to the run) must be one the run has prediction diagnostics for."""
    if not isinstance(rule.get("task"), str) or not matches(rule["task"], scope.tasks):
        return []
    out = []
    diagnostics = scope.run.get("diagnostics") or []
    classified = {d["task"] for d in diagnostics}
    if not matches(rule["task"], classified):
        out.append(f"{at} (not_degenerate): '{rule['task']}' is not a classification task of this run "
                   f"(classification tasks: {', '.join(sorted(classified)) or 'none'})")
    wanted = rule.get("min_classes")
    fewest = min((d["n_classes"] for d in diagnostics
                  if glob(d["task"], rule["task"]) and isinstance(d.get("n_classes"), int)),
                 default=None)
    if isinstance(wanted, (int, float)) and not isinstance(wanted, bool) and fewest is not None and wanted > fewest:
        # a rule no arm can ever pass is a typo, not a verdict
        out.append(f"{at} (not_degenerate): 'min_classes' is {wanted}, but '{rule['task']}' has only "
                   f"{fewest} classes; give at most {fewest}")
    return out


def _known_metric(rule: dict, scope: _Scope, at: str) -> list[str]:
    if isinstance(rule.get("metric"), str) and not matches(rule["metric"], scope.metrics):
        return [f"{at}: unknown metric '{rule['metric']}'" + close(rule["metric"], scope.metrics)]
    return []


def _known_arm(rule: dict, scope: _Scope, at: str) -> list[str]:
    if not isinstance(rule.get("arm"), str):
        return []
    allowed = scope.adapters + ([BASE_ARM] if judges_base(rule) else [])
    return [] if matches(rule["arm"], allowed) else [f"{at}: unknown arm '{rule['arm']}'" + close(rule["arm"], allowed)]


def _matches_a_row(rule: dict, scope: _Scope, at: str) -> list[str]:
    """A rule whose names each match something but never the same (task, metric, arm) row checks nothing."""
    why = unmatched(rule, scope.run, judges_base(rule))
    return [f"{at} ({rule['kind']}): matches no row of the run: {why}"] if why else []


def _diagnosed(rule: dict, scope: _Scope, at: str) -> list[str]:
    """A not_degenerate rule needs prediction diagnostics for every arm it judges, on some task it names."""
    rows = scope.run.get("diagnostics") or []
    have = {(d["task"], d["arm"]) for d in rows}
    missing = [arm for arm in rule_arms(rule, scope.run, judges_base(rule))
               if not any(glob(t, rule["task"]) for t, a in have if a == arm)]
    if not missing:
        return []
    return [f"{at} (not_degenerate): no prediction diagnostics for arm {', '.join(repr(a) for a in missing)} on task "
            f"'{rule['task']}', so there is nothing to judge (diagnostics: "
            f"{', '.join(sorted(f'{t}/{a}' for t, a in have)) or 'none'}); name the arms that have them"]


def _has_adapter(rule: dict, scope: _Scope, at: str) -> list[str]:
    return [] if scope.adapters else [f"{at} ({rule['kind']}): the run has no adapter arm to judge"]


def _has_baseline(rule: dict, scope: _Scope, at: str) -> list[str]:
    if scope.baseline is None:
        return [f"{at} (no_regression): needs a baseline: --baseline RUN_DIR or --baseline registry:accepted"]
    return []


def _baseline_scored(rule: dict, scope: _Scope, at: str) -> list[str]:
    """A no_regression rule can only be judged when the baseline run scored what it compares."""
    if not scope.same_base:  # a baseline of another base is the one problem to report, after the rules
        return []
    out = []
    for task, metric, arm in targets(rule, scope.run, judges_base(rule)):
        barm, why = baseline_arm(rule, arm, scope.baseline)
        if why:
            out.append(f"{at} (no_regression): {why}")
            break
        if score(scope.baseline, task, metric, barm) is None:
            have = sorted({s["metric"] for s in scope.baseline["scores"] if s["task"] == task and s["arm"] == barm})
            out.append(f"{at} (no_regression): the baseline run has no score for {task}/{metric} (arm '{barm}'), "
                       "so there is nothing to compare with; choose a baseline that ran this task and metric"
                       + (f" (the baseline's {task} metrics: {', '.join(have)})" if have
                          else f" (the baseline did not run {task})"))
    return out


_NAMED = (_known_task, _known_metric, _known_arm)
_OPTIONAL = frozenset({"arm", "name"})

# Adding a kind: an entry here, and its checker in checks.CHECKS.
KINDS = {
    "floor": Kind(frozenset({"task", "metric", "value"}), _OPTIONAL, True, _NAMED, if_sound=(_matches_a_row,)),
    "ceiling": Kind(frozenset({"task", "metric", "value"}), _OPTIONAL, True, _NAMED, if_sound=(_matches_a_row,)),
    "improves": Kind(frozenset({"task", "metric"}), _OPTIONAL | {"margin", "require_ci"}, False,
                     (*_NAMED, _has_adapter), if_sound=(_matches_a_row,)),
    "no_regression": Kind(frozenset({"task", "metric", "tolerance"}), _OPTIONAL | {"baseline_arm"}, False,
                          (*_NAMED, _has_adapter, _has_baseline), if_sound=(_matches_a_row, _baseline_scored)),
    "forgetting": Kind(frozenset({"task", "metric", "budget"}), _OPTIONAL, False, (*_NAMED, _has_adapter),
                       if_sound=(_matches_a_row,)),
    "not_degenerate": Kind(frozenset({"task"}), _OPTIONAL | {"min_classes", "max_majority_share"}, False,
                           (_known_task, _classification_task, _known_metric, _known_arm, _has_adapter),
                           if_sound=(_diagnosed,)),
}
