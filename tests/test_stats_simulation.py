"""The statistical contract, checked by simulation: for every metric kind, paired data with a known true delta
(95% CI coverage should be 93-97%) and A/A data where the arms are the same process (false alarms at alpha 0.05
should be 3-7%), at a small, a medium and a large number of paired documents.

`python tests/test_stats_simulation.py` prints the table quoted in the README (statistics section).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from harness.core import aggregations, stats

SIMULATIONS = 1000
RESAMPLES = 1000  # the product's default (--resamples); fewer widens the Monte Carlo error of the percentiles
EFFECT = {"binary": 0.1, "continuous": 0.05, "macro_f1": 0.1, "corpus_rouge": 0.05, "perplexity": 0.05}


def generate(kind: str, n: int, rng, effect: float):
    """(base values, tuned values, aggregation): per-document records as the tasks write them. Documents differ in
    difficulty, and both arms see the same document, so the pairs are correlated as real ones are."""
    if kind == "binary":  # accuracy / exact match: 0/1 per document
        q = rng.beta(2, 2, n)
        return ((rng.random(n) < q).astype(float).tolist(), (rng.random(n) < np.clip(q + effect, 0, 1)).astype(float).tolist(),
                "mean")
    if kind == "continuous":  # per-answer ROUGE / token F1 / BLEU
        u = rng.random(n)
        return (u + rng.normal(0, 0.15, n)).tolist(), (u + effect + rng.normal(0, 0.15, n)).tolist(), "mean"
    if kind == "macro_f1":  # yelp: [gold, predicted star or -1], F1 over the five classes
        gold, ease = rng.integers(0, 5, n), rng.beta(2, 2, n) - 0.5

        def predict(p):
            right = rng.random(n) < np.clip(p + 0.5 * ease, 0, 1)
            return [[int(g), int(x)] for g, x in zip(gold, np.where(right, gold, rng.integers(-1, 5, n)))]

        return predict(0.45), predict(0.45 + effect), "f1_macro"
    if kind == "corpus_rouge":  # docqa's *_corpus: matches and lengths summed before the F-measure
        pred_len, ref_len, p = 10 + rng.poisson(20, n), 10 + rng.poisson(20, n), rng.beta(3, 3, n)

        def answer(q):
            m = rng.binomial(np.minimum(pred_len, ref_len), np.clip(q, 0, 1))
            return [{"rouge1": {"matches": int(x), "pred_len": int(y), "ref_len": int(z)}} for x, y, z in zip(m, pred_len, ref_len)]

        return answer(p), answer(p + effect), "rouge1_corpus"
    if kind == "perplexity":  # [summed loglikelihood, tokens] per document; exp(-sum ll / sum tokens)
        tokens, hardness = 20 + rng.poisson(200, n), rng.normal(3, 0.5, n)
        ll = lambda shift: -tokens * (hardness + shift + rng.normal(0, 0.05, n))  # noqa: E731
        return ([[float(x), int(t)] for x, t in zip(ll(0.0), tokens)], [[float(x), int(t)] for x, t in zip(ll(effect), tokens)],
                "weighted_perplexity")
    raise ValueError(kind)


def aggregate(values, aggregation: str) -> float:
    to_array, reduce = aggregations.vector_spec(aggregation)
    return float(reduce(to_array(values)[None])[0])


def true_delta(kind: str) -> float:
    """The population delta: the metric on one very large sample of each arm."""
    base, tuned, agg = generate(kind, 200_000, np.random.default_rng(999), EFFECT[kind])
    return aggregate(tuned, agg) - aggregate(base, agg)


def simulate(kind: str, n: int, simulations: int = SIMULATIONS) -> tuple[float, float]:
    """(CI coverage of the true delta, share of A/A comparisons with p < 0.05)."""
    truth, covered, alarms = true_delta(kind), 0, 0
    for s in range(simulations):
        rng = np.random.default_rng(100_000 + s)
        c = stats.compare(*generate(kind, n, rng, EFFECT[kind]), resamples=RESAMPLES, seed=s)
        covered += c.ci95[0] <= truth <= c.ci95[1]
        a = stats.compare(*generate(kind, n, rng, 0.0), resamples=RESAMPLES, seed=s)
        alarms += a.p_value < stats.ALPHA
        assert (a.p_value < stats.ALPHA) == (not a.ci95[0] <= 0 <= a.ci95[1])  # one decision, never two
    return covered / simulations, alarms / simulations


def _check(kind: str, n: int, simulations: int = SIMULATIONS) -> None:
    coverage, alarms = simulate(kind, n, simulations)
    assert 0.93 <= coverage <= 0.97, (kind, n, coverage)
    # Exact tests on 0/1 data are discrete: at n = 12 no level between ~2% and 5% is attainable, so the false-alarm
    # rate sits below alpha (conservative) by construction; everywhere else it must be near alpha.
    low = 0.0 if (kind == "binary" and n < 30) else 0.03
    assert low <= alarms <= 0.07, (kind, n, alarms)


MEAN_KINDS = ("binary", "continuous")  # sign-flip family: defined from stats.MIN_PAIRS (10) documents
CORPUS_KINDS = ("macro_f1", "corpus_rouge", "perplexity")  # bootstrap family: from stats.MIN_PAIRS_CORPUS (20)
SMALL = {**{k: 12 for k in MEAN_KINDS}, **{k: 20 for k in CORPUS_KINDS}}


# Over ~10 s each on a 2-core CPU: in the full suite, not the fast path.
_SLOW_KINDS = ("binary",)


@pytest.mark.parametrize("kind", [pytest.param(k, marks=pytest.mark.slow) if k in _SLOW_KINDS else k for k in EFFECT])
@pytest.mark.parametrize("size", ["small", "medium"])
def test_coverage_and_false_alarms(kind, size):
    _check(kind, SMALL[kind] if size == "small" else 30)


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(EFFECT))
def test_coverage_and_false_alarms_large_n(kind):
    _check(kind, 300, simulations=500)  # half the simulations: n = 300 is the slow end


@pytest.mark.parametrize("kind", list(EFFECT))
def test_below_the_minimum_there_is_no_verdict(kind):
    minimum = stats.MIN_PAIRS if kind in MEAN_KINDS else stats.MIN_PAIRS_CORPUS
    base, tuned, agg = generate(kind, minimum - 1, np.random.default_rng(0), EFFECT[kind])
    c = stats.compare(base, tuned, agg)
    assert c.test == stats.N_TOO_SMALL and c.ci95 is None and c.p_value is None and not c.significant
    assert c.delta == pytest.approx(aggregate(tuned, agg) - aggregate(base, agg))


if __name__ == "__main__":
    print("| metric kind | n | CI coverage | A/A false alarms |")
    print("| --- | --- | --- | --- |")
    for kind in EFFECT:
        for n in (SMALL[kind], 30, 300):
            coverage, alarms = simulate(kind, n)
            print(f"| {kind} | {n} | {coverage:.1%} | {alarms:.1%} |", flush=True)
