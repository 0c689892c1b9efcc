"""Paired statistics: A/A comparisons, planted differences, exact McNemar, corpus-level CIs."""

from __future__ import annotations

import random

import numpy as np
import pytest
from sklearn.metrics import f1_score

from harness.core import aggregations, signflip, stats
from tasks.yelp import utils as yelp


def test_identical_scores_cover_zero():
    rng = np.random.default_rng(0)
    binary = rng.integers(0, 2, 300).tolist()
    cont = rng.random(300).tolist()
    pairs = [[int(g), int(p)] for g, p in zip(rng.integers(0, 5, 300), rng.integers(-1, 5, 300))]
    for values, agg in ((binary, "mean"), (cont, "mean"), (pairs, "f1_macro"), (pairs, "accuracy")):
        c = stats.compare(values, values, agg)
        assert c.delta == 0 and c.ci95[0] <= 0 <= c.ci95[1] and c.p_value >= 0.05, (agg, c)


def test_independent_draws_from_one_distribution():
    rng = np.random.default_rng(42)
    a, b = rng.normal(0.5, 0.2, 400).tolist(), rng.normal(0.5, 0.2, 400).tolist()
    c = stats.compare(a, b)
    assert c.ci95[0] <= 0 <= c.ci95[1] and c.p_value >= 0.05 and c.test == "sign-flip"
    x, y = rng.integers(0, 2, 400).tolist(), rng.integers(0, 2, 400).tolist()
    c = stats.compare(x, y)
    assert c.ci95[0] <= 0 <= c.ci95[1] and c.p_value >= 0.05 and c.test == "mcnemar-exact"


@pytest.mark.parametrize("kind", ["binary", "continuous", "f1_macro"])
def test_false_positive_rate_is_near_alpha(kind):
    """Over 200 A/A pairs, p < 0.05 in about 5% of them (at most 8%)."""
    rejections = 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        if kind == "binary":
            a, b, agg = rng.integers(0, 2, 150).tolist(), rng.integers(0, 2, 150).tolist(), "mean"
        elif kind == "continuous":
            a, b, agg = rng.random(150).tolist(), rng.random(150).tolist(), "mean"
        else:
            gold = rng.integers(0, 5, 150)
            a = [[int(g), int(g) if rng.random() < 0.4 else int(rng.integers(-1, 5))] for g in gold]
            b = [[int(g), int(g) if rng.random() < 0.4 else int(rng.integers(-1, 5))] for g in gold]
            agg = "f1_macro"
        rejections += stats.compare(a, b, agg, resamples=400, seed=seed).p_value < 0.05
    assert rejections / 200 <= 0.07, rejections


def test_planted_difference_is_detected():
    rng = np.random.default_rng(1)
    base = rng.integers(0, 2, 300)
    tuned = np.where(rng.random(300) < 0.3, 1, base)  # the adapter fixes ~30% of the errors
    c = stats.compare(base.tolist(), tuned.tolist())
    assert c.delta > 0 and c.ci95[0] > 0 and c.p_value < 0.001
    gold = rng.integers(0, 5, 300)
    b = [[int(g), int(g) if rng.random() < 0.3 else int(rng.integers(0, 5))] for g in gold]
    t = [[int(g), int(g) if rng.random() < 0.6 else int(rng.integers(0, 5))] for g in gold]
    c = stats.compare(b, t, "f1_macro")
    assert c.ci95[0] > 0 and c.p_value < 0.01
    assert c.delta == pytest.approx(yelp.f1_macro(t) - yelp.f1_macro(b))


def mcnemar_exact(a, b) -> float:
    """The textbook exact McNemar p-value, independent of harness.core.stats: scipy's two-sided binomial test of the
    discordant pairs at 1/2."""
    from scipy.stats import binomtest

    a, b = np.asarray(a), np.asarray(b)
    only_b, only_a = int(np.sum((b == 1) & (a == 0))), int(np.sum((a == 1) & (b == 0)))
    return 1.0 if only_a + only_b == 0 else float(binomtest(only_b, only_a + only_b, 0.5).pvalue)


def test_mcnemar_equals_hand_computed_binomial():
    # 8 documents only the adapter gets right, 2 only the base: p = 2 * P(X <= 2), X ~ Bin(10, 1/2)
    base = [1, 1] + [0] * 8 + [1] * 5 + [0] * 5
    tuned = [0, 0] + [1] * 8 + [1] * 5 + [0] * 5
    assert mcnemar_exact(base, tuned) == pytest.approx(2 * (1 + 10 + 45) / 1024)
    c = stats.compare(base, tuned)
    assert c.test == "mcnemar-exact" and c.p_value == pytest.approx(0.109375)
    assert c.ci95[0] <= 0 <= c.ci95[1]  # not significant: the CI, being the same test inverted, covers 0
    assert mcnemar_exact([1, 0], [1, 0]) == 1.0


def test_binary_signflip_is_exact_mcnemar_and_its_inversion_is_consistent():
    """The exact sign-flip p-value of 0/1 differences at shift 0 is the exact McNemar p-value, and at other shifts it
    equals the brute-force enumeration of every sign pattern (n = 12: 4096 patterns)."""
    rng = np.random.default_rng(5)
    for _ in range(20):
        a, b = rng.integers(0, 2, 12), rng.integers(0, 2, 12)
        d = (b - a).astype(float)
        signs = signflip.sign_matrix(12, 0, None)
        c_pos, c_neg = int((d == 1).sum()), int((d == -1).sum())
        assert signflip.binary_p(c_pos, c_neg, 12 - c_pos - c_neg, 0.0) == pytest.approx(mcnemar_exact(a, b))
        for shift in (-0.3, -0.05, 0.1, 0.25):
            assert signflip.binary_p(c_pos, c_neg, 12 - c_pos - c_neg, shift) == pytest.approx(
                signflip.signflip_p(d, shift, signs, exact=True)), shift
        c = stats.compare(a.tolist(), b.tolist())
        assert (c.p_value < 0.05) == (not c.ci95[0] <= 0 <= c.ci95[1])
        # the CI bounds are where the test starts to reject
        assert signflip.binary_p(c_pos, c_neg, 12 - c_pos - c_neg, c.ci95[0] + 1e-6) >= 0.05 or c.p_value < 0.05


def test_vectorised_f1_equals_sklearn_on_resamples():
    rng = random.Random(3)
    pairs = [[g, g if rng.random() < 0.4 else rng.choice([-1, 0, 1, 2, 3, 4])] for g in (rng.randrange(5) for _ in range(120))]
    idx = np.random.default_rng(0).integers(0, 120, (30, 120))
    for agg in ("f1_micro", "f1_macro", "f1_weighted", "f1_macro_drop", "accuracy", "accuracy_drop"):
        to_array, reduce = aggregations.vector_spec(agg)
        got = reduce(to_array(pairs)[idx])
        expected = [getattr(yelp, agg)([pairs[j] for j in i]) for i in idx]
        assert np.allclose(got, expected), agg
    golds, preds = [p[0] for p in pairs], [p[1] for p in pairs]
    to_array, reduce = aggregations.vector_spec("f1_macro")
    assert reduce(to_array(pairs)[None])[0] == pytest.approx(f1_score(golds, preds, labels=[0, 1, 2, 3, 4], average="macro"))


def test_corpus_f1_ci_is_not_a_mean_of_samples_ci():
    """Macro F1 weighs each class equally: an adapter that fixes the rare class moves macro F1 far more than the
    share of correct answers. A naive CI over per-document correctness estimates the accuracy delta and misses the
    macro-F1 delta entirely; the corpus CI (F1 recomputed on every resample) is centred on it."""
    gold = [0] * 270 + [4] * 30
    base = [[g, 0] for g in gold]  # always answers class 0: the rare class 4 is never found
    tuned = [[g, 0] for g in gold[:270]] + [[4, 4]] * 24 + [[4, 0]] * 6  # now finds 24 of the 30 rare reviews
    corpus = stats.compare(base, tuned, "f1_macro")
    observed = yelp.f1_macro(tuned) - yelp.f1_macro(base)
    assert corpus.delta == pytest.approx(observed)
    assert corpus.ci95[0] <= observed <= corpus.ci95[1]
    correct_b = [float(p == g) for g, p in base]
    correct_t = [float(p == g) for g, p in tuned]
    naive = stats.compare(correct_b, correct_t)  # mean of per-document scores
    assert naive.delta == pytest.approx(24 / 300)
    assert naive.ci95[1] < observed, (naive.ci95, observed)  # the naive interval does not even reach it


def test_value_ci_and_unknown_aggregation():
    assert stats.value_ci([1.0] * 10) == [1.0, 1.0]
    assert stats.value_ci([1.0] * (stats.MIN_PAIRS - 1)) is None  # too few documents for any interval
    lo, hi = stats.value_ci([[-2.0, 1], [-4.0, 2]] * 5, "weighted_perplexity")
    assert lo <= np.exp(6 / 3) <= hi
    assert stats.compare([{"x": 1}], [{"x": 2}], "something_else") is None
    assert stats.compare([], []) is None


def test_zero_resamples_keeps_the_exact_tests():
    """--resamples 0 is documented, not silent: exact tests need no resampling and still decide; the others say so."""
    rng = np.random.default_rng(2)
    binary = stats.compare(rng.integers(0, 2, 200).tolist(), rng.integers(0, 2, 200).tolist(), resamples=0)
    assert binary.test == "mcnemar-exact" and binary.p_value is not None and binary.ci95 is not None
    small = stats.compare(rng.random(12).tolist(), rng.random(12).tolist(), resamples=0)
    assert small.test == "sign-flip-exact" and small.p_value is not None
    big = stats.compare(rng.random(50).tolist(), rng.random(50).tolist(), resamples=0)
    assert big.test == "sign-flip (needs --resamples > 0)" and big.p_value is None and big.ci95 is None
    pairs = [[int(g), int(g)] for g in rng.integers(0, 5, 50)]
    corpus = stats.compare(pairs, pairs, "f1_macro", resamples=0)
    assert corpus.test.endswith("(needs --resamples > 0)") and corpus.p_value is None


def test_vectorised_class_f1_equals_scikit_learn_on_random_samples():
    """The bootstrap's per-resample F1 (a bincount confusion matrix) against sklearn's f1_score, every average, with
    and without the drop-unparseable policy, on 200 random samples including tiny and all-unparseable ones."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 40))
        gold, pred = rng.integers(0, 5, n), rng.integers(-1, 5, n)
        if rng.random() < 0.05:
            pred[:] = -1
        m = np.stack([gold, pred], 1)[None]
        for average in ("micro", "macro", "weighted"):
            for drop in (False, True):
                keep = pred != -1 if drop else np.ones(n, bool)
                expected = f1_score(gold[keep], pred[keep], labels=[0, 1, 2, 3, 4], average=average,
                                    zero_division=0) if keep.any() else 0.0
                assert yelp.class_f1(m, average, drop)[0] == pytest.approx(expected, abs=1e-12)
