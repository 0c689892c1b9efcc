"""What judging a rule yields: a Check per (task, metric, arm) it matched, gathered in a RuleResult; and what that
means for each adapter: an AdapterVerdict per adapter arm the rules judged."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.core.arms import BASE_ARM, adapter_arms


@dataclass
class Check:
    task: str
    metric: str
    arm: str
    observed: float | None
    threshold: float
    passed: bool
    detail: str  # the line: the value or change, its 95% CI, n, and what decided it
    ci95: list[float] | None = None  # of the score (floor, ceiling) or of the change in the good direction
    n: int | None = None


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
        """Every check passed, and there was one: a rule that checked nothing passes nothing (rules.validate refuses
        such a rule before judging)."""
        return bool(self.checks) and all(c.passed for c in self.checks)

    def checks_for(self, adapter: str) -> list[Check] | None:
        """The checks that judge `adapter`: its own and the base's; None when the rule does not select it. A check
        on the base (a floor or ceiling naming `arm: base`) belongs to every adapter, as it would to each one gated
        alone: an adapter's verdict is the verdict of the run with that adapter as its only one. A rule that matched
        nothing (refused before judging, kept for callers that skip validation) fails every adapter."""
        if not self.checks:
            return []
        mine = [c for c in self.checks if c.arm in (adapter, BASE_ARM)]
        return mine or None


@dataclass
class AdapterVerdict:
    """One adapter's verdict: the rules that judged it and, per failed check (or rule that matched nothing), why."""

    name: str
    judged: list[RuleResult]
    failures: list[tuple[RuleResult, Check | None]]

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def rules_passed(self) -> int:
        return len(self.judged) - len({id(r) for r, _ in self.failures})


def units(run: dict | None, results_: list[RuleResult]) -> list[str]:
    """What gets a verdict of its own: the run's adapter arms (in run order), or, from the checks alone, the arms
    they name; a run without an adapter is judged as its base."""
    if run is not None:
        return adapter_arms(run) or [BASE_ARM]
    named = [c.arm for r in results_ for c in r.checks]
    return list(dict.fromkeys(a for a in named if a != BASE_ARM)) or [BASE_ARM]


def by_adapter(results_: list[RuleResult], run: dict | None = None) -> list[AdapterVerdict]:
    """Every adapter some rule judged, with its verdict; an adapter no rule selects has none (not_judged)."""
    out = []
    for name in units(run, results_):
        judged, failures = [], []
        for r in results_:
            mine = r.checks_for(name)
            if mine is None:
                continue
            judged.append(r)
            failures += [(r, c) for c in mine if not c.passed] if mine else [(r, None)]
        if judged:
            out.append(AdapterVerdict(name, judged, failures))
    return out


def not_judged(results_: list[RuleResult], run: dict | None = None) -> list[str]:
    """The adapters no rule selects: no verdict, so neither a pass nor a fail."""
    judged = {a.name for a in by_adapter(results_, run)}
    return [a for a in units(run, results_) if a not in judged]


def label(r: RuleResult, c: Check | None) -> str:
    """A failed check named for its adapter's line: the rule's name, and what the name leaves unsaid (the
    task/metric of a rule that selects several, the base for a check on it)."""
    if c is None:
        return r.name
    said = []
    if c.arm == BASE_ARM and r.rule.get("arm") != BASE_ARM:
        said.append("on the base")
    what = f"{c.task}/{c.metric}" if c.metric != "predictions" else c.task
    if what not in r.name:
        said.append(what)
    return r.name + (f" ({', '.join(said)})" if said else "")
