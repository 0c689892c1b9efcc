"""Evaluation that stops once decided, checked by simulation: wrong decisions under optional stopping, and the
documents a decision needs.

    python -m benchmarks.stopping [--quick] [--sims N] [--seed S] [--out FILE.md]

Each simulated task has N paired documents; at each, the adapter's 0/1 outcome differs from the base's with
probability `churn`, and a change is a gain with probability (1 + effect / churn) / 2, so the true mean change is
`effect`. Documents are scored in chunks (64, then doubling, as `harness run --until-decided`), and after each chunk
the rule is judged exactly as the run judges it (harness.core.sequential's bounds, harness.gate.sequential.decide);
the task stops at the first decision. A rule at its threshold is the hardest case: there a pass and a fail are both
wrong for improves (no gain beyond the margin to claim, none to deny), so each rate must stay at or below 2.5%.

For contrast, the same runs judged by peeking at an ordinary fixed-n 95% interval (Wald on the paired differences)
after every chunk and stopping at the first that clears the threshold: the error the sequential bounds exist to
avoid.
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from harness.core import sequential
from harness.gate.sequential import FAIL, PASS, Bounds, decide

NOMINAL = sequential.ALPHA_SIDE


@dataclass(frozen=True)
class Cell:
    rule: dict
    effect: float
    churn: float
    n: int

    @property
    def label(self) -> str:
        r = self.rule
        what = f"improves margin {r.get('margin', 0):g}" if r["kind"] == "improves" else f"forgetting budget {r['budget']:g}"
        return f"{what}, true change {self.effect:+.2f}, churn {self.churn:.0%}, N {self.n}"

    @property
    def truth(self) -> str:
        """Which decision is right: PASS, FAIL, or None at the threshold (either is wrong)."""
        threshold = self.rule.get("margin", 0.0) if self.rule["kind"] == "improves" else -self.rule["budget"]
        if math.isclose(self.effect, threshold):
            return None
        return PASS if self.effect > threshold else FAIL


def _diffs(rng: np.random.Generator, cell: Cell) -> np.ndarray:
    changed = rng.random(cell.n) < cell.churn
    gain = rng.random(cell.n) < (1 + cell.effect / cell.churn) / 2
    return np.where(changed, np.where(gain, 1.0, -1.0), 0.0)


def _sequential(d: np.ndarray, rule: dict, looks: list[int]) -> tuple[str | None, int]:
    for i, k in enumerate(looks):
        lo, hi = sequential.difference_bounds(d[:k], looks[:i + 1])
        state = decide(rule, Bounds(lo, hi, k))
        if state is not None:
            return state, k
    return None, looks[-1]


def _peeking(d: np.ndarray, rule: dict, looks: list[int]) -> str | None:
    """The mistake: an ordinary 95% interval looked at after every chunk, stopped at the first decision."""
    for k in looks:
        x = d[:k]
        half = 1.96 * max(x.std(ddof=1), 1e-12) / math.sqrt(k)
        state = decide(rule, Bounds(x.mean() - half, x.mean() + half, k))
        if state is not None:
            return state
    return None


def run_cell(cell: Cell, sims: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    looks = sequential.schedule(cell.n)
    got = {PASS: 0, FAIL: 0, None: 0}
    peek = {PASS: 0, FAIL: 0, None: 0}
    docs = []
    for _ in range(sims):
        d = _diffs(rng, cell)
        state, k = _sequential(d, cell.rule, looks)
        got[state] += 1
        docs.append(k)
        peek[_peeking(d, cell.rule, looks)] += 1
    wrong = [s for s in (PASS, FAIL) if s != cell.truth]
    return {"cell": cell, "sims": sims, "pass": got[PASS] / sims, "fail": got[FAIL] / sims,
            "undecided": got[None] / sims, "wrong": {s: got[s] / sims for s in wrong},
            "peek_wrong": {s: peek[s] / sims for s in wrong}, "docs": np.percentile(docs, [10, 50, 90]).tolist()}


def cells(quick: bool) -> list[Cell]:
    improves, forgetting = {"kind": "improves", "margin": 0.0}, {"kind": "forgetting", "budget": 0.05}
    at_threshold = [Cell(improves, 0.0, c, 2000) for c in ((0.2,) if quick else (0.05, 0.2, 0.5))]
    at_threshold += [Cell(forgetting, -0.05, c, 2000) for c in ((0.2,) if quick else (0.1, 0.4))]
    clear = [Cell(improves, e, c, 2000) for e, c in (((0.3, 0.5),) if quick else ((0.1, 0.3), (0.3, 0.5), (0.6, 0.7)))]
    clear += [] if quick else [Cell(forgetting, 0.0, 0.1, 2000), Cell(forgetting, -0.2, 0.3, 2000)]
    return at_threshold + clear


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def table(rows: list[dict]) -> str:
    lines = ["| cell | runs | pass | fail | undecided at N | wrong decisions (MC se) | peeking at a fixed-n CI: wrong | "
             "documents scored (10th / 50th / 90th pct) |", "|" + " --- |" * 8]
    for r in rows:
        se = {s: math.sqrt(max(v, 1e-9) * (1 - v) / r["sims"]) for s, v in r["wrong"].items()}
        wrong = ", ".join(f"{s} {_pct(v)} (±{_pct(se[s])})" for s, v in r["wrong"].items())
        peek = ", ".join(f"{s} {_pct(v)}" for s, v in r["peek_wrong"].items())
        docs = " / ".join(f"{x:.0f}" for x in r["docs"])
        lines.append(f"| {r['cell'].label} | {r['sims']} | {_pct(r['pass'])} | {_pct(r['fail'])} | "
                     f"{_pct(r['undecided'])} | {wrong} | {peek} | {docs} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="the subset the fast tests run")
    ap.add_argument("--sims", type=int, default=2000, help="simulated runs per cell (default 2000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, help="also write the table (Markdown) here")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows = [run_cell(c, a.sims, a.seed + i) for i, c in enumerate(cells(a.quick))]
    text = (f"# Stopping once decided: wrong decisions under optional stopping\n\n{date.today()}, "
            f"{platform.machine()}, {a.sims} runs a cell, seed {a.seed}, chunks of {sequential.FIRST_CHUNK} "
            f"doubling, each bound one-sided {NOMINAL:.1%} ({time.perf_counter() - t0:.0f} s)\n\n{table(rows)}\n")
    print(text)
    if a.out:
        a.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
