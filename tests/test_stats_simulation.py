"""The statistical contract, checked by simulation: benchmarks/simulate.py draws runs with a known truth, compares
them with harness.core.stats as shipped (compare, adjust) and judges the gate's rules with harness.gate.checks. The
tests run its --quick grid (a few representative cells, fewer runs, well under a minute); the full grid, whose table
docs/statistics.md quotes, is the benchmark's (`python -m benchmarks.simulate`), not a test.

In every cell (benchmarks.simulate.problems): CI coverage of the true delta within 93-97% (at least 93% for scores
in [0, 1], whose interval is conservative by design), false alarms of A/A runs at most 5% (family-wise, with Holm,
for the multiplicity cells), rejections at a true delta equal to the reported mde within 65-95% (80% by definition),
a gate rule (forgetting, no_regression, improves) passing at most 2.5% of the time when the true delta equals its
threshold, each allowing 2 Monte Carlo standard errors at the bound; the CI and the p-value never disagree; above
the minimum n every comparison has a CI and a p-value. The quick grid's gate cells are ones the earlier interval for
scores (effective counts scaled by the size of the observed changes) failed by far: many tiny changes with rare
large drops, drops only, and rare large drops against many small gains, at n = 40.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # benchmarks/ is not an installed package
from benchmarks import simdata, simgrid, simulate  # noqa: E402
from benchmarks.simgrid import Cell  # noqa: E402
from benchmarks.simulate import Result  # noqa: E402
from harness.core import aggregations, stats  # noqa: E402

# The three cells over 15 s run with the slow tests (in CI); the rest run everywhere
HEAVY = {"metrics-5x10-n1000", "macro_f1-churn30-n200", "groups-57x20"}


@pytest.mark.parametrize("cell", [pytest.param(c, marks=[pytest.mark.slow] if c.id in HEAVY else [])
                                  for c in simgrid.grid(quick=True)], ids=lambda c: c.id)
def test_quick_grid(cell):
    result = simulate.run_cell(cell)
    found = simulate.problems(result)
    assert found == [], f"{cell.id} ({cell.family}: {cell.setting}, n = {cell.n}, {result.sims} runs): {found}"


def test_the_quick_grid_holds_the_cells_the_old_interval_failed():
    """The cells that give the fast tests their power to fail: n = 40 at a true drop equal to a budget of 0.02, in
    the shapes where the earlier interval passed forgetting 9-34% of the time (a bound of 3.5% at 1,000 runs)."""
    quick = {c.id: c for c in simgrid.grid(quick=True)}
    for shape in ("tiny_large", "drops_only", "skewed-drops-0.02"):
        cell = quick[f"gate-{shape}-n40-d-0.02"]
        assert cell.mode == "gate" and cell.sims >= 1000 and cell.changes >= simulate.MIN_CHANGES


def _result(sims=1000, **counts) -> Result:
    return Result(Cell("x", "f", "s", "binary", 10, {}), sims, **counts)


def test_the_bounds_allow_two_standard_errors_and_no_more():
    """Coverage 93-97%, false alarms <= 5% (Holm's for a family), power 65-95%: +-2 SE at the bound (0.8% for
    coverage at 1,000 runs, 1.4% for false alarms), and any CI/p disagreement or missing verdict is a problem."""
    assert simulate.problems(_result(covered=950, alarms={"p": 50})) == []
    assert simulate.problems(_result(covered=916, alarms={"p": 63})) == []  # 91.6% >= 93% - 1.6%; 6.3% <= 5% + 1.4%
    assert simulate.problems(_result(covered=980, alarms={"p": 10})) == []  # 98.0% <= 97% + 1.1%
    assert simulate.problems(_result(covered=910))[0].startswith("coverage 91.0% (SE 0.9%) < 93%")
    assert simulate.problems(_result(covered=985))[0].startswith("coverage 98.5% (SE 0.4%) > 97%")
    assert simulate.problems(_result(alarms={"p": 65}))[0].startswith("false alarms 6.5%")
    assert simulate.problems(_result(alarms={"holm": 65, "none": 600, "bh": 65}))[0].startswith("false alarms 6.5%")
    assert simulate.problems(_result(alarms={"holm": 50, "none": 600, "bh": 70})) == []  # only Holm is the contract
    assert simulate.problems(_result(rejected=800, mde=0.1)) == []
    assert simulate.problems(_result(rejected=600, mde=0.1))[0].startswith("power at mde 0.1000 60.0%")
    assert simulate.problems(_result(disagreements=1, no_verdict=2)) == [
        "1 comparisons whose CI and p-value disagree", "2 comparisons without a CI or p-value"]
    # fewer than 2 changed documents expected per run (40 x 3% = 1.2): over-coverage is forced by the data's
    # discreteness, so only the lower bound applies; at 100 x 3% = 3 the upper one does again
    few = Result(Cell("x", "f", "s", "binary", 40, {"churn": 0.03}), 1000, covered=1000)
    assert simulate.problems(few) == []
    enough = Result(Cell("x", "f", "s", "binary", 100, {"churn": 0.03}), 1000, covered=1000)
    assert simulate.problems(enough)[0].startswith("coverage 100.0%")
    assert simulate.problems(Result(Cell("x", "f", "s", "binary", 40, {"churn": 0.03}), 1000, covered=900))
    # scores in [0, 1]: conservative by design, so only the lower bound, wherever their churn
    scores = Cell("x", "f", "s", "tiny_large", 100, {}, churn=0.6)
    assert simulate.problems(Result(scores, 1000, covered=1000)) == []
    assert simulate.problems(Result(scores, 1000, covered=910))[0].startswith("coverage 91.0% (SE 0.9%) < 93%")
    # a gate rule at its threshold: at most 2.5% + 2 SE (3.2% at 2,000 runs)
    assert simulate.problems(Result(scores, 2000, passes={"forgetting": 63, "no_regression": 63})) == []
    assert simulate.problems(Result(scores, 2000, passes={"improves": 65}))[0].startswith("improves passes 3.")
    assert simulate.problems(Result(scores, 2000, passes={"improves": 65}))[0].endswith("> 2.5% + 2 SE (3.2%)")


def _big(kind: str, delta: float, **params):
    base, tuned, keys = simdata.GENERATORS[kind](np.random.default_rng(7), 200_000, delta=delta, **params)[0]
    return np.asarray(base), np.asarray(tuned), keys


@pytest.mark.parametrize("churn", list(simgrid.CHURN_DELTA))
def test_the_generators_have_the_truth_they_claim(churn):
    """On 200,000 documents: the mean difference is the cell's true delta, the churn is as stated, and the clustered
    differences have the stated intraclass correlation."""
    delta = simgrid.CHURN_DELTA[churn]
    base, tuned, _ = _big("binary", delta, churn=churn)
    assert (tuned - base).mean() == pytest.approx(delta, abs=0.003) and (tuned != base).mean() == pytest.approx(churn, abs=0.003)
    base, tuned, _ = _big("scores", -0.2 * churn, churn=churn)
    assert (tuned - base).mean() == pytest.approx(-0.2 * churn, abs=0.003)
    for kind, params in (("clustered_binary", {"churn": 0.15}), ("clustered_scores", {})):
        base, tuned, keys = _big(kind, -0.02, m=5, icc=churn, **params)  # churn doubles as an ICC here
        d = (tuned - base).reshape(-1, 5)
        assert len(set(keys)) == len(d) and d.mean() == pytest.approx(-0.02, abs=0.003)
        within = (d.sum(1) ** 2 - (d * d).sum(1)).sum() / (d.size * 4) - d.mean() ** 2  # covariance within documents
        assert within / d.var() == pytest.approx(churn, abs=0.02)


@pytest.mark.parametrize("cell", [c for c in simgrid.gate_cells(0) if c.n == simgrid.GATE_SIZES[0]],
                         ids=lambda c: c.id)
def test_the_score_generators_have_the_truth_they_claim(cell):
    """Each shape of scores at each gate threshold, on 400,000 documents: the mean difference is the claimed true
    delta (within 4 standard errors), the share of documents that change is simdata.changed_share, and every score
    lies in [0, 1]."""
    base, tuned, keys = simdata.GENERATORS[cell.kind](np.random.default_rng(11), 400_000, delta=cell.delta,
                                                      **cell.params)[0]
    base, tuned = np.asarray(base), np.asarray(tuned)
    d = tuned - base
    assert keys is None and abs(d.mean() - cell.delta) < 4 * d.std() / math.sqrt(d.size)
    assert (d != 0).mean() == pytest.approx(cell.churn, abs=0.004)
    assert min(base.min(), tuned.min()) >= 0 and max(base.max(), tuned.max()) <= 1


def test_a_score_generator_refuses_a_delta_it_cannot_make():
    """A truth the generator's law cannot reach is an error, never a silently different delta."""
    for kind, params in (("tiny_large", {"tiny": 0.99}), ("drops_only", {}), ("skewed", {"rare": "gains"}),
                         ("ties", {})):
        with pytest.raises(ValueError):
            simdata.GENERATORS[kind](np.random.default_rng(0), 10, delta=-0.4, **params)


def _corpus_delta(kind: str, aggregation: str, delta: float, n: int, **params) -> float:
    base, tuned, _ = simdata.GENERATORS[kind](np.random.default_rng(3), n, delta=delta, **params)[0]
    to_array, reduce = aggregations.vector_spec(aggregation)
    return float(reduce(to_array(tuned)[None])[0] - reduce(to_array(base)[None])[0])


@pytest.mark.parametrize(("kind", "aggregation", "params", "truth"), [
    ("macro_f1", "f1_macro", {"churn": 0.3, "lift": (0.2, 0.1, 0.05, 0.0, 0.0)}, None),
    ("corpus_rouge", "rouge1_corpus", {"effect": 0.05}, simdata.rouge_truth(0.05)),
    ("perplexity", "weighted_perplexity", {"effect": 0.05}, math.exp(3.05) - math.exp(3)),
])
def test_the_corpus_truths_are_the_population_values(kind, aggregation, params, truth):
    """The corpus metric on one very large sample of each arm is the cell's true delta (and 0 for the A/A runs)."""
    truth = simdata.macro_truth(**params) if truth is None else truth
    assert abs(truth) > 0.01
    assert _corpus_delta(kind, aggregation, 1.0, 200_000, **params) == pytest.approx(truth, abs=0.01 * abs(truth) + 1e-3)
    assert _corpus_delta(kind, aggregation, 0.0, 200_000, **params) == pytest.approx(0.0, abs=0.01 * abs(truth) + 1e-3)


@pytest.mark.parametrize("kind", ["binary", "scores", "clustered_binary", "macro_f1"])
def test_below_the_minimum_there_is_no_verdict(kind):
    """Fewer paired documents than stats.MIN_PAIRS (MIN_PAIRS_CORPUS for a corpus metric, MIN_CLUSTERS clusters
    when clustered): 'n too small', no CI, no p-value, no star, and the delta still reported."""
    rng = np.random.default_rng(0)
    if kind == "clustered_binary":
        sample, agg = simdata.clustered_binary(rng, 5 * (stats.MIN_CLUSTERS - 1), 5, 0.18, 0.4, -0.1)[0], "mean"
    elif kind == "macro_f1":
        sample, agg = simdata.macro_f1(rng, stats.MIN_PAIRS_CORPUS - 1, 0.3, (0.2,) * 5, 1.0)[0], "f1_macro"
    else:
        sample, agg = simdata.GENERATORS[kind](rng, stats.MIN_PAIRS - 1, 0.4, -0.1)[0], "mean"
    base, tuned, keys = sample
    c = stats.compare(base, tuned, agg, clusters=keys)
    assert c.test == stats.N_TOO_SMALL and c.ci95 is None and c.p_value is None and not c.significant
    to_array, reduce = aggregations.vector_spec(agg)
    assert c.delta == pytest.approx(float(reduce(to_array(tuned)[None])[0] - reduce(to_array(base)[None])[0]))
