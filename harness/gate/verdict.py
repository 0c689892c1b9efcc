"""What judging a rule yields: a Check per (task, metric, arm) it matched, gathered in a RuleResult."""

from __future__ import annotations

from dataclasses import dataclass, field


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
