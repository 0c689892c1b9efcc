"""Planning numbers checked exactly: the power at the MDE a comparison reports, and the forgetting check's pass rate
at the n the gate recommends, for paired 0/1 outcomes at churn 2/5/15/40% and n = 30/100/400.

    python -m benchmarks.power [--out FILE.md]

Both come from harness.core.power, which evaluates the test as shipped on every table (tests/test_power.py checks
it against score_compare table by table and against a simulation of stats.compare). The MDE is the one
score_compare reports at the churn observed (at least 1/n, as it floors it), evaluated at the true churn. The
recommended n is the gate's "about N would" for a forgetting budget: 0.05, and the MDE of the cell's n (the budget
that size of pilot could detect as a change). Each number must be within 3 points of the promised 80%, or above
it where one document fewer is short of 80% (the discreteness of the data forces the jump). For contrast, the
normal approximation (z_.975 + z_.8) sqrt(churn / n) every comparison reported before, and its n, with their exact
power and pass rate.
"""

from __future__ import annotations

import argparse
import platform
import time
from datetime import date
from pathlib import Path

from harness.core import power

CHURNS = (0.02, 0.05, 0.15, 0.40)
SIZES = (30, 100, 400)
BUDGET = 0.05
TARGET, SLACK = 0.8, 0.03


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def _forgetting(churn: float, budget: float) -> tuple[str, bool]:
    """'n, its pass rate (normal n: its pass rate)', and whether the exact rate keeps the promise."""
    n = power.n_needed_exact(churn, budget, kind="noninferiority")
    rate, before = power.pass_rate(n, churn, budget), power.pass_rate(n - 1, churn, budget)
    ok = rate >= TARGET and (rate <= TARGET + SLACK or before < TARGET)
    forced = f" (forced: n - 1 gives {_pct(before)})" if rate > TARGET + SLACK and ok else ""
    old = power.normal_n(churn, budget)
    return f"{n}: {_pct(rate)}{forced} | {old}: {_pct(power.pass_rate(old, churn, budget))}", ok


def row(churn: float, n: int) -> tuple[str, list[str]]:
    """One cell's Markdown row, and what in it misses the promise."""
    observed = max(churn, 1 / n)
    mde, old = power.mde_exact(n, observed), power.normal_mde(n, observed)
    at_mde = power.power_at(n, churn, mde)
    fixed, fixed_ok = _forgetting(churn, BUDGET)
    own, own_ok = _forgetting(churn, mde)
    misses = [f"power {_pct(at_mde)} at the MDE"] if abs(at_mde - TARGET) > SLACK else []
    misses += [] if fixed_ok else [f"pass rate at budget {BUDGET}"]
    misses += [] if own_ok else ["pass rate at budget = MDE"]
    text = (f"| {churn:.0%} | {n} | {mde:.4f} | {_pct(at_mde)} | {old:.4f} | {_pct(power.power_at(n, churn, old))} "
            f"| {fixed} | {mde:.4f} | {own} | {'ok' if not misses else '; '.join(misses)} |")
    return text, [f"churn {churn:.0%}, n {n}: {m}" for m in misses]


def table() -> tuple[str, list[str]]:
    lines = ["| churn | n | MDE (exact) | power at it | MDE (normal, before) | power at it | forgetting, budget 0.05: "
             "n (exact): pass rate | n (normal, before): pass rate | budget = MDE | n (exact): pass rate | n "
             "(normal, before): pass rate | check |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    misses = []
    for churn in CHURNS:
        for n in SIZES:
            text, missed = row(churn, n)
            lines.append(text)
            misses += missed
    return "\n".join(lines), misses


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="also write the table (Markdown) here")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    body, misses = table()
    text = (f"# Planning numbers, computed exactly for paired 0/1 outcomes\n\n{date.today()}, {platform.machine()}, "
            f"{time.perf_counter() - t0:.1f} s; every number within {SLACK * 100:.0f} points of "
            f"{TARGET:.0%} (or above where n - 1 is short of it): {'yes' if not misses else 'no'}\n\n{body}\n")
    text += "".join(f"\nmissed: {m}" for m in misses)
    print(text)
    if a.out:
        a.out.write_text(text)
    return 1 if misses else 0


if __name__ == "__main__":
    raise SystemExit(main())
