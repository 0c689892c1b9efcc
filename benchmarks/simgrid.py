"""The cells of the statistics simulation (benchmarks/simulate.py runs and judges them): each a setting with a known
truth, the generator that draws it (benchmarks/simdata.py) and its simulated runs; and the --quick subset the fast
tests run.

Modes: "pair" (coverage of the true delta, false alarms of A/A runs), "family" (family-wise false alarms), "power"
(rejections at the reported mde), and "gate": per-document scores in [0, 1] drawn at a true delta equal to a gate
rule's threshold (forgetting's budget and no_regression's tolerance at -0.02 and -0.05, improves' margin at +0.02
and +0.05), where a rule may pass at most 2.5% of the time (its one-sided test), at n = 40, 100 and 400, in the
shapes a symmetric redraw hides: many tiny changes with rare large ones, drops only, skewed moves, ties at 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from benchmarks.simdata import LARGE_DROP, MIXTURE_MEAN, changed_share, macro_truth, rouge_truth

CHURN_DELTA = {0.03: -0.01, 0.15: -0.05, 0.40: -0.10}  # 0/1: 2%/1%, 10%/5%, 25%/15% worse/better
SIZES = (12, 40, 100, 1000)
ICCS = (0.0, 0.06, 0.18, 0.5)
# per-document values other than 0/1: their interval is conservative by design (harness.core.score), so their
# coverage is held to the lower bound only
SCORE_KINDS = {"scores", "clustered_scores", "tiny_large", "drops_only", "skewed", "ties"}
GATE_SIZES = (40, 100, 400)
GATE_DELTAS = (-0.02, -0.05, 0.02, 0.05)  # -budget (forgetting) = -tolerance (no_regression); +margin (improves)
GATE_SIMS = 2000  # the Monte Carlo error of a 2.5% rate is then 0.35%


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
    mode: str = "pair"  # pair: coverage + false alarms; family: family-wise false alarms; power: rejections at mde;
    # gate: coverage + the gate's rules at a threshold equal to the true delta
    sims: int = 1000
    churn: float | None = None  # share of documents that change, where params has no "churn"

    @property
    def changes(self) -> float:
        """Documents expected to change per run (n x churn)."""
        return self.n * (self.churn if self.churn is not None else self.params.get("churn", 1.0))


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


# --- the gate cells: scores in [0, 1] at a true delta equal to a rule's threshold --------------------------------

def _skewed(rare: str, delta: float) -> dict:
    """skewed's params: the many small moves of 0.02 where they and rare moves of 0.8 can make `delta`, else 0.15."""
    signed = delta if rare == "gains" else -delta
    return {"rare": rare, "small": 0.02 if signed + 0.4 * 0.02 >= 0 else 0.15}


def _shape(kind: str, delta: float, params: dict) -> tuple[str, str]:
    """(family, setting) of a gate cell, in words: the law each generator draws at this delta."""
    d, down = abs(delta), delta < 0
    if kind == "tiny_large":
        return "scores: tiny + rare large", (f"60% move ±0.01, {d / (sum(LARGE_DROP) / 2):.1%} "
                                             f"{'drop' if down else 'gain'} 0.5-1.0")
    if kind == "drops_only":
        return "scores: one direction", (f"{'drops' if down else 'gains'} only: {d / (MIXTURE_MEAN / 2):.1%} move "
                                         "by U(0, 1) x the higher score")
    if kind == "skewed":
        gains, small = params["rare"] == "gains", params["small"]
        rare = ((delta if gains else -delta) + 0.4 * small) / 0.8
        return "scores: skewed", (f"40% {'lose' if gains else 'gain'} {small:g}, {rare:.1%} "
                                  f"{'gain' if gains else 'drop'} 0.8")
    return "scores: ties at 0", f"85% 0 in both arms, 5% redraw, {2 * d:.0%} {'fall to' if down else 'rise from'} 0"


def gate_cells(sims: int = GATE_SIMS) -> list[Cell]:
    """Every generator of scores with a rare component, at n = 40, 100, 400 and each threshold of GATE_DELTAS."""
    cells = []
    for n in GATE_SIZES:
        for delta in GATE_DELTAS:
            shapes = [("tiny_large", {}), ("drops_only", {}), ("skewed", _skewed("gains", delta)),
                      ("skewed", _skewed("drops", delta)), ("ties", {})]
            for kind, params in shapes:
                tag = "".join(f"-{v}" for v in params.values())
                cells.append(Cell(f"gate-{kind}{tag}-n{n}-d{delta:+g}", *_shape(kind, delta, params), kind, n,
                                  params, delta, "gate", sims, changed_share(kind, delta, **params)))
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
    ] + gate_cells()
    if not quick:
        return cells
    picked = [c for c in cells if c.id in QUICK]
    for c in picked:
        c.sims = QUICK[c.id]
    return picked


# The fast tests' subset. Its gate cells are ones the earlier interval for scores (effective counts scaled by the
# size of the changes observed) failed far outside their Monte Carlo error: at 1,000 runs a rule may pass 3.5% at most.
QUICK = {"binary-churn3-n100": 300, "binary-churn15-n40": 300, "binary-churn40-n1000": 300,
         "scores-churn15-n100": 300, "clustered_binary-20x5-icc0.18": 300, "clustered_scores-20x5-icc0.5": 300,
         "macro_f1-churn30-n200": 100, "corpus_rouge-n40": 200, "perplexity-n20": 200, "metrics-5x10-n1000": 80,
         "groups-57x20": 100, "power-binary-churn15-n100": 200,
         "gate-tiny_large-n40-d-0.02": 1000, "gate-drops_only-n40-d-0.02": 1000,
         "gate-skewed-drops-0.02-n40-d-0.02": 1000, "gate-skewed-drops-0.15-n40-d+0.02": 1000}
