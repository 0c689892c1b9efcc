"""Rules on a run that stops once decided (`harness run --until-decided`): each check's anytime-valid bounds, whether
they decide it, and why a check cannot be decided before the documents run out.

The run calls `task_states` after every chunk to know which tasks may stop; `harness gate` calls `check_bounds` to
judge a stopped task on the same bounds, so the run's decision and the gate's are one computation. A check decides
at one-sided 2.5% a bound, as every gate check does (harness.core.sequential): improves passes when the lower bound
of the gain clears the margin and fails when the upper bound cannot; forgetting passes when the lower bound is
above -budget and fails when the upper bound is below it; floor and ceiling compare the score's bounds with the
value. not_degenerate describes the answers given and holds no task open; no_regression needs the baseline run,
which a run cannot see, so its tasks run to the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.core.sequential import Bounds, Samples, change_bounds, stopped, value_bounds
from harness.gate.rules import judges_base
from harness.gate.select import targets

PASS, FAIL = "pass", "fail"
HOLDS_NO_TASK = {"not_degenerate"}
__all__ = ["FAIL", "PASS", "Bounds", "check_bounds", "decide", "other_rules", "stopped", "task_states", "undecidable"]


@dataclass
class TaskState:
    """One task after a chunk: its checks decided, those still open (named), and why it must run to the end."""

    decided: int = 0
    open: list[str] = field(default_factory=list)
    to_the_end: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return not self.to_the_end and not self.open and self.decided > 0


def check_bounds(kind: str, run: dict, samples: Samples, task: str, metric: str, arm: str,
                 ) -> tuple[Bounds | None, str | None]:
    """The check's bounds: of the score (floor, ceiling) or of the change against the base in the metric's good
    direction (the other kinds); or why there are none."""
    if kind in ("floor", "ceiling"):
        return value_bounds(run, samples, task, metric, arm)
    return change_bounds(run, samples, task, metric, arm)


def decide(rule: dict, b: Bounds) -> str | None:
    """PASS, FAIL or None (not decided yet) for a check of `rule` with bounds `b`."""
    kind = rule["kind"]
    if kind == "improves":
        margin = float(rule.get("margin", 0.0))
        return PASS if b.lower > margin else FAIL if b.upper <= margin else None
    if kind == "forgetting":
        budget = float(rule["budget"])
        return PASS if b.lower > -budget else FAIL if b.upper < -budget else None
    if kind == "floor":
        return PASS if b.lower >= rule["value"] else FAIL if b.upper < rule["value"] else None
    if kind == "ceiling":
        return PASS if b.upper <= rule["value"] else FAIL if b.lower > rule["value"] else None
    return None


def undecidable(rule: dict) -> str | None:
    """Why a rule can never be decided before its task's documents run out (None: it can be)."""
    if rule["kind"] == "no_regression":
        return "a no_regression rule compares with a baseline run, which the run cannot see (judge it with harness gate --baseline)"
    if rule["kind"] == "improves" and rule.get("require_ci", True) is False:
        return "an improves rule with require_ci: false judges the point estimate, which needs every document"
    return None


def task_states(rules: list[dict], run: dict, samples: Samples, tasks: list[str]) -> dict[str, TaskState]:
    """Each task's state after a chunk: every check of every rule on it decided, open, or never decidable early."""
    states = {t: TaskState() for t in tasks}
    for rule in rules:
        if rule["kind"] in HOLDS_NO_TASK:
            continue
        for task, metric, arm in targets(rule, run, judges_base(rule)):
            if task not in states:
                continue
            st = states[task]
            why = undecidable(rule)
            b = None
            if why is None:
                b, why = check_bounds(rule["kind"], run, samples, task, metric, arm)
            if why:
                st.to_the_end.append(why)
            elif decide(rule, b) is None:
                st.open.append(f"{rule['kind']} {task}/{metric} [{arm}]")
            else:
                st.decided += 1
    for st in states.values():
        if not st.decided and not st.open and not st.to_the_end:
            st.to_the_end.append("no rule judges it")
    return states


def other_rules(run: dict, rules_path) -> list[str]:
    """A warning per task that stopped on another rules file than the one judging it now: its checks that the run's
    rules did not decide may read 'undecided' here, and the report's 'decided after' is about the run's rules."""
    from harness.core.fingerprint import sha256_file

    digest = sha256_file(rules_path)
    told = [t for t, i in run["tasks"].items() if isinstance((i or {}).get("stopped"), dict)
            and i["stopped"].get("rules") not in (None, digest) and i["stopped"].get("docs") != i["stopped"].get("of")]
    if not told:
        return []
    return [f"{', '.join(told)} stopped on other rules than {rules_path} (run.json config.rules: "
            f"{run.get('config', {}).get('rules')}); a check those rules did not decide may be undecided here"]
