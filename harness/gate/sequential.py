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

from collections.abc import Callable
from dataclasses import dataclass, field

from harness.core import aggregations, sequential
from harness.core.arms import BASE_ARM
from harness.core.comparisons import aggregation, doc_clusters, doc_values
from harness.gate.rules import judges_base
from harness.gate.select import score, targets

PASS, FAIL = "pass", "fail"
HOLDS_NO_TASK = {"not_degenerate"}
Samples = Callable[[str, str], list]  # (arm, task) -> sample rows


@dataclass(frozen=True)
class Bounds:
    lower: float
    upper: float
    n: int


@dataclass
class TaskState:
    """One task after a chunk: its checks' states, and why it must run to the end (None when it may stop)."""

    decided: int = 0
    open: int = 0
    to_the_end: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return not self.to_the_end and self.open == 0 and self.decided > 0


def stopped(run: dict, task: str) -> dict | None:
    """run.json's `stopped` for a task scored in the seeded order with anytime-valid bounds, else None."""
    s = (run["tasks"].get(task) or {}).get("stopped")
    return s if isinstance(s, dict) and s.get("method") else None


def _numbers(run: dict, rows: list[dict], task: str, metric: str, arm: str) -> tuple[dict | None, str | None]:
    """{doc_id: value in [0, 1]} of one arm's metric, or why the metric has no anytime-valid bound."""
    if doc_clusters(rows):
        return None, f"{task}'s documents share clusters, and the bounds assume independent documents"
    raw = metric.split(":")[0]
    s = score(run, task, metric, arm) or {}
    values = doc_values(rows, raw, s.get("filter"))
    docs = [d for d, v in values.items() if v is not None and not (isinstance(v, float) and v != v)]
    agg = aggregation(run, task, raw)
    got = aggregations.mean_values(agg, [values[d] for d in docs])
    if got is None or got[1] != 1.0:
        return None, f"{task}/{metric} is a corpus metric ({agg}), not a mean of per-document values"
    if not sequential.in_unit_range(got[0]):
        return None, f"{task}/{metric} has per-document values outside [0, 1]"
    return dict(zip(docs, got[0].tolist())), None


def check_bounds(kind: str, run: dict, samples: Samples, task: str, metric: str, arm: str,
                 ) -> tuple[Bounds | None, str | None]:
    """The check's bounds in the seeded order at the looks run.json records: of the score (floor, ceiling) or of
    the change against the base in the metric's good direction; or why there are none."""
    info = stopped(run, task)
    seed, looks = info["seed"], info.get("looks")
    tuned, why = _numbers(run, samples(arm, task), task, metric, arm)
    if why:
        return None, why
    if kind in ("floor", "ceiling"):
        docs = sequential.order(list(tuned), seed)
        lo, hi = sequential.bounds([tuned[d] for d in docs], looks)
        return Bounds(lo, hi, len(docs)), None
    base, why = _numbers(run, samples(BASE_ARM, task), task, metric, BASE_ARM)
    if why:
        return None, why
    sign = -1.0 if (score(run, task, metric, arm) or {}).get("higher_is_better") is False else 1.0
    docs = sequential.order(sorted(set(tuned) & set(base)), seed)
    lo, hi = sequential.difference_bounds([sign * (tuned[d] - base[d]) for d in docs], looks)
    return Bounds(lo, hi, len(docs)), None


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
                st.open += 1
            else:
                st.decided += 1
    for st in states.values():
        if not st.decided and not st.open and not st.to_the_end:
            st.to_the_end.append("no rule judges it")
    return states
