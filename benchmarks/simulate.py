"""The statistics' contract checked by simulation: runs drawn with a known truth, compared by harness.core.stats as
shipped (compare, adjust), and counted.

    python -m benchmarks.simulate [--quick] [--sims N] [--seed S] [--out FILE.md]

For every cell: the coverage of the 95% CI (share of runs whose interval holds the true delta) and the false-alarm
rate (share of A/A runs, where both arms are the same process, with p < 0.05; for the multiplicity cells the
family-wise rate, runs with any adjusted p < 0.05), each with its Monte Carlo standard error; and, for a few designs,
the share of runs that reject when the true delta equals the `mde` comparisons report (80% by its definition).
The cells: paired 0/1 outcomes and per-document scores with many ties at churn (share of documents whose value
changes between the arms) 3%, 15% and 40%, n 12 to 1,000; questions clustered by document (20 or 40 documents x 5
questions) at ICC 0 to 0.5, cluster keys given to compare(); corpus metrics (macro F1 over five classes, corpus
ROUGE-1, weighted perplexity: the bootstrap); 5 adapters x 10 correlated metrics and 57 groups x 20 questions, all
null (family-wise with Holm; Benjamini-Hochberg and the unadjusted rate for contrast). Data: benchmarks/simdata.py.
The full grid takes about a quarter of an hour on one core; `--quick` is the subset tests/test_stats_simulation.py
runs fast (the full grid runs in its slow tests).
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

from benchmarks.simdata import AGGREGATION, GENERATORS, macro_truth, rouge_truth
from harness.core import stats

COVERAGE = (0.93, 0.97)  # the CI's coverage must lie here, give or take 2 Monte Carlo standard errors
# Below 2 changed documents expected per run (n x churn), most runs see 0, 1 or 2 changes: any valid interval must
# then be wide enough to hold every delta that few changes cannot rule out, so coverage is forced above 97% (and
# false alarms toward 0) by the discreteness of the data, not by the method. There only the lower bound applies.
MIN_CHANGES = 2.0
ALARMS = 0.05  # false alarms (family-wise for a family) at most this, give or take 2 standard errors
POWER = (0.65, 0.95)  # rejections at a true delta equal to the reported mde (80% by definition)
CHURN_DELTA = {0.03: -0.01, 0.15: -0.05, 0.40: -0.10}  # 0/1: 2%/1%, 10%/5%, 25%/15% worse/better
SIZES = (12, 40, 100, 1000)
ICCS = (0.0, 0.06, 0.18, 0.5)
PILOTS = 60  # runs whose median reported mde sets a power cell's true delta


@dataclass
class Cell:
    """One setting. kind names the generator (GENERATORS); params are its keyword arguments besides rng and delta."""

    id: str
    family: str
    setting: str
    kind: str
    n: int
    params: dict
    delta: float = 0.0  # the alternative's true delta (coverage); the A/A runs use delta 0
    mode: str = "pair"  # pair: coverage + false alarms; family: family-wise false alarms; power: rejections at mde
    sims: int = 1000


@dataclass
class Result:
    cell: Cell
    sims: int
    truth: float | None = None
    covered: int | None = None
    alarms: dict[str, int] = field(default_factory=dict)  # "p" (or "holm", "none", "bh") -> runs with an alarm
    rejected: int | None = None
    mde: float | None = None
    disagreements: int = 0  # comparisons where "CI excludes 0" and "p < 0.05" disagree
    no_verdict: int = 0  # comparisons without a CI or p-value (never expected above the minimum n)
    refused: int = 0  # "n too small" by chance (e.g. < 20 changed): counted as not covered
    seconds: float = 0.0


# --- the grid ----------------------------------------------------------------------------------------------------

def _pair_cells() -> list[Cell]:
    cells = []
    for churn, delta in CHURN_DELTA.items():
        worse, better = (churn - delta) / 2, (churn + delta) / 2
        for n in SIZES:
            cells.append(Cell(f"binary-churn{churn * 100:.0f}-n{n}", "paired 0/1", f"churn {churn:.0%} "
                              f"({worse:.1%} right->wrong, {better:.1%} wrong->right)", "binary", n, {"churn": churn},
                              delta))
        for n in SIZES:  # changed documents redraw from a mixture 0.2 lower on average
            cells.append(Cell(f"scores-churn{churn * 100:.0f}-n{n}", "scores in [0, 1], ties",
                              f"churn {churn:.0%}", "scores", n, {"churn": churn}, round(-0.2 * churn, 6)))
    for k, m in ((20, 5), (40, 5)):
        for icc in ICCS:
            design = {"m": m, "icc": icc}
            cells.append(Cell(f"clustered_binary-{k}x{m}-icc{icc}", "clustered 0/1", f"{k} x {m}, ICC {icc}, "
                              "churn 15%", "clustered_binary", k * m, {**design, "churn": 0.15}, -0.05))
            cells.append(Cell(f"clustered_scores-{k}x{m}-icc{icc}", "clustered scores",
                              f"{k} x {m}, ICC {icc}", "clustered_scores", k * m, design, -0.02))
    # n x churn >= 30 changed reviews: a corpus metric needs stats.MIN_CHANGED_CORPUS (20) of them for an interval
    for churn, n in ((0.3, 200), (0.3, 500), (0.15, 500)):
        macro = {"churn": churn, "lift": (0.2, 0.1, 0.05, 0.0, 0.0)}
        cells.append(Cell(f"macro_f1-churn{round(churn * 100)}-n{n}", "macro F1, 5 classes",
                          f"churn {churn:.0%}, rare classes better", "macro_f1", n, macro,
                          round(macro_truth(**macro), 6)))
    for n, sims in ((40, 1000), (300, 500)):  # 40: n = 20 leaves fewer than 20 changed answers in most runs
        cells.append(Cell(f"corpus_rouge-n{n}", "corpus ROUGE-1", "every answer differs", "corpus_rouge", n,
                          {"effect": 0.05}, round(rouge_truth(0.05), 6), sims=sims))
    for n, sims in ((20, 1000), (300, 500)):
        cells.append(Cell(f"perplexity-n{n}", "weighted perplexity", "0.05 nats/token harder", "perplexity", n,
                          {"effect": 0.05}, round(math.exp(3.05) - math.exp(3), 6), sims=sims))
    return cells


def grid(quick: bool = False) -> list[Cell]:
    """Every cell of the full grid, or the --quick subset (fewer cells, fewer simulations)."""
    cells = _pair_cells() + [
        *[Cell(f"metrics-5x10-n{n}", "multiplicity", "5 adapters x 10 correlated metrics, churn 15%", "metrics", n,
               {"churn": 0.15, "adapters": 5, "count": 10}, mode="family") for n in (100, 1000)],
        Cell("groups-57x20", "multiplicity", "57 groups x 20 questions, churn 15%", "groups", 20,
             {"churn": 0.15, "count": 57}, mode="family"),
        Cell("power-binary-churn15-n100", "power", "0/1, churn 15%", "binary", 100, {"churn": 0.15}, mode="power"),
        Cell("power-binary-churn3-n1000", "power", "0/1, churn 3%", "binary", 1000, {"churn": 0.03}, mode="power"),
        Cell("power-scores-churn40-n100", "power", "scores, churn 40%", "scores", 100, {"churn": 0.4}, mode="power"),
        Cell("power-clustered_binary-40x5-icc0.18", "power", "clustered 0/1, 40 x 5, ICC 0.18",
             "clustered_binary", 200, {"m": 5, "icc": 0.18, "churn": 0.15}, mode="power"),
        Cell("power-clustered_scores-20x5-icc0.18", "power", "clustered scores, 20 x 5, ICC 0.18",
             "clustered_scores", 100, {"m": 5, "icc": 0.18}, mode="power"),
    ]
    if not quick:
        return cells
    picked = [c for c in cells if c.id in QUICK]
    for c in picked:
        c.sims = QUICK[c.id]
    return picked


QUICK = {"binary-churn3-n100": 300, "binary-churn15-n40": 300, "binary-churn40-n1000": 300,
         "scores-churn15-n100": 300, "clustered_binary-20x5-icc0.18": 300, "clustered_scores-20x5-icc0.5": 300,
         "macro_f1-churn30-n200": 100, "corpus_rouge-n40": 200, "perplexity-n20": 200, "metrics-5x10-n1000": 80,
         "groups-57x20": 100, "power-binary-churn15-n100": 200}


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


def run_cell(cell: Cell, sims: int | None = None, seed: int = 0) -> Result:
    """Simulate one cell (`sims` runs, default the cell's own) from a generator seeded by (seed, the cell's id)."""
    result = Result(cell, sims or cell.sims)
    rng = np.random.default_rng([seed, zlib.crc32(cell.id.encode())])
    start = time.perf_counter()
    {"pair": _pair, "family": _family, "power": _power}[cell.mode](cell, rng, result)
    result.seconds = time.perf_counter() - start
    return result


# --- judging and printing ----------------------------------------------------------------------------------------

def se(rate: float, sims: int) -> float:
    """Monte Carlo standard error of a share estimated from `sims` runs."""
    return math.sqrt(rate * (1 - rate) / sims)


def _outside(name: str, count: int, sims: int, low: float | None, high: float | None) -> list[str]:
    """A share outside [low, high] by more than 2 standard errors (each taken at the bound it is checked against)."""
    rate, out = count / sims, []
    if low is not None and rate < low - 2 * se(low, sims):
        out.append(f"{name} {rate:.1%} (SE {se(rate, sims):.1%}) < {low:.0%} - 2 SE ({low - 2 * se(low, sims):.1%})")
    if high is not None and rate > high + 2 * se(high, sims):
        out.append(f"{name} {rate:.1%} (SE {se(rate, sims):.1%}) > {high:.0%} + 2 SE "
                   f"({high + 2 * se(high, sims):.1%})")
    return out


def problems(result: Result) -> list[str]:
    """What in this cell breaks the contract ([] when nothing): coverage, false alarms (family-wise with Holm for a
    family), power at the mde, CI and p that disagree, comparisons without a verdict."""
    n, out = result.sims, []
    if result.covered is not None:
        changes = result.cell.n * result.cell.params.get("churn", 1.0)
        out += _outside("coverage", result.covered, n, COVERAGE[0], COVERAGE[1] if changes >= MIN_CHANGES else None)
    if result.alarms:
        out += _outside("false alarms", result.alarms.get("holm", result.alarms.get("p", 0)), n, None, ALARMS)
    if result.rejected is not None:
        out += _outside(f"power at mde {result.mde:.4f}", result.rejected, n, *POWER)
    if result.disagreements:
        out.append(f"{result.disagreements} comparisons whose CI and p-value disagree")
    if result.no_verdict:
        out.append(f"{result.no_verdict} comparisons without a CI or p-value")
    return out


def _rate(count: int | None, sims: int) -> str:
    return "" if count is None else f"{count / sims:.1%} ± {se(count / sims, sims):.1%}"


def table(results: list[Result]) -> str:
    """The Markdown tables: coverage and false alarms, then power at the reported mde."""
    head = ["| family | setting | n | true delta | CI coverage | false alarms | sims | check |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    rows, power = [], []
    for r in results:
        c, verdict = r.cell, "; ".join(problems(r)) or "ok"
        if c.mode == "power":
            power.append(f"| {c.setting} | {c.n} | {r.mde:.4f} | {_rate(r.rejected, r.sims)} | {r.sims} | {verdict} |")
        elif c.mode == "family":
            for method, words in (("holm", "Holm"), ("bh", "Benjamini-Hochberg"), ("none", "unadjusted (contrast)")):
                rows.append(f"| {c.family} | {c.setting}: {words} | {c.n} | 0 | | "
                            f"{_rate(r.alarms[method], r.sims)} | {r.sims} | {verdict if method == 'holm' else ''} |")
        else:
            rows.append(f"| {c.family} | {c.setting} | {c.n} | {r.truth:+.4g} | {_rate(r.covered, r.sims)} | "
                        f"{_rate(r.alarms['p'], r.sims)} | {r.sims} | {verdict} |")
    out = head + rows
    if power:
        out += ["", "| power check | n | mde reported (median) | runs rejecting at delta = -mde | sims | check |",
                "| --- | --- | --- | --- | --- | --- |", *power]
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the fast subset the tests run")
    ap.add_argument("--sims", type=int, help="simulated runs per cell (default: each cell's own, 500-1,000)")
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
            "Bounds: coverage 93-97%, false alarms <= 5% (family-wise with Holm), power 65-95%, each give or take "
            "2 Monte Carlo standard errors at the bound; ± is the standard error of the estimate.\n\n"
            + table(results) + "\n")
    print(text)
    if args.out:
        args.out.write_text(text)
    return 1 if any(problems(r) for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
