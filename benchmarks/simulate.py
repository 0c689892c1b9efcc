"""The statistics' contract checked by simulation: runs drawn with a known truth, compared by harness.core.stats as
shipped (compare, adjust) and judged by the gate's own checks (harness.gate.checks), and counted.

    python -m benchmarks.simulate [--quick] [--sims N] [--seed S] [--out FILE.md]

For every cell: the coverage of the 95% CI (share of runs whose interval holds the true delta) and the false-alarm
rate (share of A/A runs, where both arms are the same process, with p < 0.05; for the multiplicity cells the
family-wise rate, runs with any adjusted p < 0.05), each with its Monte Carlo standard error; for a few designs,
the share of runs that reject when the true delta equals the `mde` comparisons report (80% by its definition); and,
for per-document scores at a true delta equal to a gate rule's threshold, the share of runs in which the rule
passes (forgetting and no_regression at -budget = -tolerance, improves at +margin: at most 2.5%, their one-sided
error). The cells (benchmarks/simgrid.py): paired 0/1 outcomes and per-document scores with many ties at churn
(share of documents whose value changes between the arms) 3%, 15% and 40%, n 12 to 1,000; questions clustered by
document (20 or 40 documents x 5 questions) at ICC 0 to 0.5, cluster keys given to compare(); corpus metrics (macro
F1 over five classes, corpus ROUGE-1, weighted perplexity: the bootstrap); 5 adapters x 10 correlated metrics and 57
groups x 20 questions, all null (family-wise with Holm; Benjamini-Hochberg and the unadjusted rate for contrast);
scores with many tiny changes and rare large ones, drops only, skewed moves and ties at 0, n 40 to 400, at the
gate's thresholds. Data: benchmarks/simdata.py. The full grid takes 20-30 minutes on one core; `--quick` is
the subset tests/test_stats_simulation.py runs.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
import zlib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

from benchmarks.simdata import AGGREGATION, GENERATORS
from benchmarks.simgrid import SCORE_KINDS, Cell, grid
from harness.core import stats
from harness.gate import checks

COVERAGE = (0.93, 0.97)  # the CI's coverage must lie here, give or take 2 Monte Carlo standard errors; scores in
# [0, 1] other than 0/1 (SCORE_KINDS) only above the lower bound: their interval is conservative by design
# Below 2 changed documents expected per run (n x churn), most runs see 0, 1 or 2 changes: any valid interval must
# then be wide enough to hold every delta that few changes cannot rule out, so coverage is forced above 97% (and
# false alarms toward 0) by the discreteness of the data, not by the method. There only the lower bound applies.
MIN_CHANGES = 2.0
ALARMS = 0.05  # false alarms (family-wise for a family) at most this, give or take 2 standard errors
POWER = (0.65, 0.95)  # rejections at a true delta equal to the reported mde (80% by definition)
PASSES = 0.025  # a gate rule passing at a true delta equal to its threshold: its one-sided error, at most this
PILOTS = 60  # runs whose median reported mde sets a power cell's true delta
# The gate's rules, judged by its own checks on the comparison as it would read it from run.json (higher is
# better). no_regression's comparison is the same compare() call as forgetting's, the baseline run's values in
# place of the base's (harness.gate.baseline.paired_vs_baseline): at a tolerance equal to the budget it must agree.
RULES = {
    "forgetting": lambda change, threshold: checks.within(change, threshold, "budget")[0],
    "no_regression": lambda change, threshold: checks.within(change, threshold, "tolerance", "the candidate")[0],
    "improves": lambda change, threshold: checks.clears(change, threshold, True)[0],
}


@dataclass
class Result:
    cell: Cell
    sims: int
    truth: float | None = None
    covered: int | None = None
    alarms: dict[str, int] = field(default_factory=dict)  # "p" (or "holm", "none", "bh") -> runs with an alarm
    rejected: int | None = None
    mde: float | None = None
    passes: dict[str, int] = field(default_factory=dict)  # gate rule -> runs in which it passed
    disagreements: int = 0  # comparisons where "CI excludes 0" and "p < 0.05" disagree
    no_verdict: int = 0  # comparisons without a CI or p-value (never expected above the minimum n)
    refused: int = 0  # "n too small" by chance (e.g. < 20 changed): counted as not covered
    seconds: float = 0.0


# --- running a cell ----------------------------------------------------------------------------------------------

def _compare(sample: tuple, kind: str, seed: int, result: Result):
    """One comparison as shipped; counts those without a verdict and those whose CI and p disagree."""
    base, tuned, keys = sample
    c = stats.compare(base, tuned, AGGREGATION.get(kind, "mean"), seed=seed, clusters=keys)
    if c is None or c.ci95 is None or c.p_value is None:
        if c is not None and c.test == stats.N_TOO_SMALL:
            result.refused += 1  # the contract's own refusal (too few changed documents in this draw)
        else:
            result.no_verdict += 1
        return None
    result.disagreements += (not c.ci95[0] <= 0 <= c.ci95[1]) != (c.p_value < stats.ALPHA)
    return c


def _pair(cell: Cell, rng, result: Result) -> None:
    generate, covered, alarms = GENERATORS[cell.kind], 0, 0
    for s in range(result.sims):
        c = _compare(generate(rng, cell.n, delta=cell.delta, **cell.params)[0], cell.kind, s, result)
        covered += c is not None and c.ci95[0] <= cell.delta <= c.ci95[1]
        a = _compare(generate(rng, cell.n, delta=0.0, **cell.params)[0], cell.kind, s, result)
        alarms += a is not None and a.p_value < stats.ALPHA
    result.truth, result.covered, result.alarms = cell.delta, covered, {"p": alarms}


def _family(cell: Cell, rng, result: Result) -> None:
    """Family-wise: a run alarms when any of its comparisons does (adjusted by Holm, by BH, or not at all)."""
    alarms = {"holm": 0, "none": 0, "bh": 0}
    for s in range(result.sims):
        found = [_compare(x, cell.kind, s, result) for x in GENERATORS[cell.kind](rng, cell.n, **cell.params)]
        raw = [None if c is None else c.p_value for c in found]
        for method in alarms:
            p = raw if method == "none" else stats.adjust(raw, method)
            alarms[method] += any(x is not None and x < stats.ALPHA for x in p)
    result.truth, result.alarms = 0.0, alarms


def _power(cell: Cell, rng, result: Result) -> None:
    """The true delta is minus the median mde that A/A runs of this design report; count the runs that reject."""
    generate = GENERATORS[cell.kind]
    pilots = [_compare(generate(rng, cell.n, delta=0.0, **cell.params)[0], cell.kind, s, result) for s in range(PILOTS)]
    result.mde = float(np.median([c.mde for c in pilots if c is not None and c.mde is not None]))
    result.truth, rejected = -result.mde, 0
    for s in range(result.sims):
        c = _compare(generate(rng, cell.n, delta=result.truth, **cell.params)[0], cell.kind, s, result)
        rejected += c is not None and c.p_value < stats.ALPHA
    result.rejected = rejected


def _gate(cell: Cell, rng, result: Result) -> None:
    """The true delta equals the threshold of the rules judged: -budget (forgetting, no_regression) or +margin
    (improves); counts coverage and the runs in which each rule passes (a comparison without a CI never passes)."""
    generate, covered = GENERATORS[cell.kind], 0
    passes = dict.fromkeys(("forgetting", "no_regression") if cell.delta < 0 else ("improves",), 0)
    for s in range(result.sims):
        c = _compare(generate(rng, cell.n, delta=cell.delta, **cell.params)[0], cell.kind, s, result)
        if c is None:
            continue
        covered += c.ci95[0] <= cell.delta <= c.ci95[1]
        change = checks.as_change(c, True)
        for rule in passes:
            passes[rule] += RULES[rule](change, abs(cell.delta))
    result.truth, result.covered, result.passes = cell.delta, covered, passes


def run_cell(cell: Cell, sims: int | None = None, seed: int = 0) -> Result:
    """Simulate one cell (`sims` runs, default the cell's own) from a generator seeded by (seed, the cell's id)."""
    result = Result(cell, sims or cell.sims)
    rng = np.random.default_rng([seed, zlib.crc32(cell.id.encode())])
    start = time.perf_counter()
    {"pair": _pair, "family": _family, "power": _power, "gate": _gate}[cell.mode](cell, rng, result)
    result.seconds = time.perf_counter() - start
    return result


# --- judging and printing ----------------------------------------------------------------------------------------

def se(rate: float, sims: int) -> float:
    """Monte Carlo standard error of a share estimated from `sims` runs."""
    return math.sqrt(rate * (1 - rate) / sims)


def _pct(share: float) -> str:
    return f"{100 * share:g}%"


def _outside(name: str, count: int, sims: int, low: float | None, high: float | None) -> list[str]:
    """A share outside [low, high] by more than 2 standard errors (each taken at the bound it is checked against)."""
    rate, out = count / sims, []
    if low is not None and rate < low - 2 * se(low, sims):
        out.append(f"{name} {rate:.1%} (SE {se(rate, sims):.1%}) < {_pct(low)} - 2 SE "
                   f"({low - 2 * se(low, sims):.1%})")
    if high is not None and rate > high + 2 * se(high, sims):
        out.append(f"{name} {rate:.1%} (SE {se(rate, sims):.1%}) > {_pct(high)} + 2 SE "
                   f"({high + 2 * se(high, sims):.1%})")
    return out


def problems(result: Result) -> list[str]:
    """What in this cell breaks the contract ([] when nothing): coverage (for scores in [0, 1], and below
    MIN_CHANGES changed documents per run, its lower bound only), false alarms (family-wise with Holm for a
    family), power at the mde, gate rules passing at their threshold, CI and p that disagree, comparisons without a
    verdict."""
    n, cell, out = result.sims, result.cell, []
    if result.covered is not None:
        two_sided = cell.changes >= MIN_CHANGES and cell.kind not in SCORE_KINDS
        out += _outside("coverage", result.covered, n, COVERAGE[0], COVERAGE[1] if two_sided else None)
    if result.alarms:
        out += _outside("false alarms", result.alarms.get("holm", result.alarms.get("p", 0)), n, None, ALARMS)
    if result.rejected is not None:
        out += _outside(f"power at mde {result.mde:.4f}", result.rejected, n, *POWER)
    for rule, passed in result.passes.items():
        out += _outside(f"{rule} passes", passed, n, None, PASSES)
    if result.disagreements:
        out.append(f"{result.disagreements} comparisons whose CI and p-value disagree")
    if result.no_verdict:
        out.append(f"{result.no_verdict} comparisons without a CI or p-value")
    return out


def _rate(count: int | None, sims: int) -> str:
    return "" if count is None else f"{count / sims:.1%} ± {se(count / sims, sims):.1%}"


def _gate_row(r: Result, verdict: str) -> str:
    c, rates = r.cell, [_rate(r.passes.get(rule), r.sims) for rule in RULES]
    return (f"| {c.family} | {c.setting} | {c.n} | {r.truth:+g} | {c.changes:.1f} | {_rate(r.covered, r.sims)} | "
            f"{' | '.join(rates)} | {r.sims} | {verdict} |")


def table(results: list[Result]) -> str:
    """The Markdown tables: coverage and false alarms, power at the reported mde, then the gate's rules at their
    thresholds."""
    head = ["| family | setting | n | true delta | CI coverage | false alarms | sims | check |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    rows, power, gate = [], [], []
    for r in results:
        c, verdict = r.cell, "; ".join(problems(r)) or "ok"
        if c.mode == "power":
            power.append(f"| {c.setting} | {c.n} | {r.mde:.4f} | {_rate(r.rejected, r.sims)} | {r.sims} | {verdict} |")
        elif c.mode == "gate":
            gate.append(_gate_row(r, verdict))
        elif c.mode == "family":
            for method, words in (("holm", "Holm"), ("bh", "Benjamini-Hochberg"), ("none", "unadjusted (contrast)")):
                rows.append(f"| {c.family} | {c.setting}: {words} | {c.n} | 0 | | "
                            f"{_rate(r.alarms[method], r.sims)} | {r.sims} | {verdict if method == 'holm' else ''} |")
        else:
            rows.append(f"| {c.family} | {c.setting} | {c.n} | {r.truth:+.4g} | {_rate(r.covered, r.sims)} | "
                        f"{_rate(r.alarms['p'], r.sims)} | {r.sims} | {verdict} |")
    out = head + rows if rows else []
    if power:
        out += ["", "| power check | n | mde reported (median) | runs rejecting at delta = -mde | sims | check |",
                "| --- | --- | --- | --- | --- | --- |", *power]
    if gate:
        out += ["", "| scores in [0, 1] | setting (true delta = the rule's threshold) | n | true delta | changes per "
                "run | CI coverage | forgetting passes | no_regression passes | improves passes | sims | check |",
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |", *gate]
    return "\n".join(out).strip("\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the fast subset the tests run")
    ap.add_argument("--sims", type=int, help="simulated runs per cell (default: each cell's own, 80-2,000)")
    ap.add_argument("--seed", type=int, default=0, help="the simulations' seed (default 0)")
    ap.add_argument("--out", type=Path, help="also write the Markdown to this file")
    args = ap.parse_args(argv)
    start, results = time.perf_counter(), []
    for cell in grid(args.quick):
        results.append(run_cell(cell, args.sims, args.seed))
        print(f"{cell.id}: {results[-1].seconds:.1f} s", flush=True)
    minutes = (time.perf_counter() - start) / 60
    text = (f"`python -m benchmarks.simulate{' --quick' if args.quick else ''}"
            f"{f' --sims {args.sims}' if args.sims else ''} --seed {args.seed}`, {date.today()}, "
            f"{platform.machine()} ({os.cpu_count()} CPUs), {minutes:.1f} min; stats.compare's default resamples. "
            "Bounds: coverage 93-97% (scores in [0, 1]: at least 93%), false alarms <= 5% (family-wise with Holm), "
            "power 65-95%, a gate rule passing at a true delta equal to its threshold <= 2.5%, each give or take 2 "
            "Monte Carlo standard errors at the bound; ± is the standard error of the estimate.\n\n"
            + table(results) + "\n")
    print(text)
    if args.out:
        args.out.write_text(text)
    return 1 if any(problems(r) for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
