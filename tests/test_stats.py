"""Paired statistics: A/A comparisons, planted differences, Tango's score interval against an independent
computation, clusters, missing values, multiplicity, power, corpus-level CIs."""

from __future__ import annotations

import random

import numpy as np
import pytest
from sklearn.metrics import f1_score

from harness.core import aggregations, score, stats
from tasks.yelp import utils as yelp


def test_identical_scores_cover_zero():
    rng = np.random.default_rng(0)
    binary = rng.integers(0, 2, 300).tolist()
    cont = rng.random(300).tolist()
    pairs = [[int(g), int(p)] for g, p in zip(rng.integers(0, 5, 300), rng.integers(-1, 5, 300))]
    for values, agg in ((binary, "mean"), (cont, "mean"), (pairs, "accuracy")):  # yelp accuracy: a per-review mean
        c = stats.compare(values, values, agg)
        assert c.delta == 0 and c.ci95[0] < 0 < c.ci95[1] and c.p_value >= 0.05, (agg, c)
    for agg in ("f1_macro", "f1_micro"):  # no document changed: a bootstrap would say [0, 0]; no interval instead
        c = stats.compare(pairs, pairs, agg)
        assert c.delta == 0 and c.ci95 is None and c.test == stats.N_TOO_SMALL and c.n_changed == 0
        assert stats.too_small(c.n, c.min_n, c.n_clusters, stats.MIN_CLUSTERS, c.n_changed) == \
            "0 changed documents < 20"


def test_independent_draws_from_one_distribution():
    rng = np.random.default_rng(42)
    a, b = rng.normal(0.5, 0.2, 400).tolist(), rng.normal(0.5, 0.2, 400).tolist()
    c = stats.compare(a, b)
    # a few values fall outside [0, 1]: no known range, so the largest change observed stands in, and says so
    assert c.ci95[0] <= 0 <= c.ci95[1] and c.p_value >= 0.05
    assert c.test == f"tango-score (range unknown: scaled by the largest change, {np.abs(np.subtract(b, a)).max():.4g})"
    a, b = np.clip(a, 0, 1).tolist(), np.clip(b, 0, 1).tolist()
    c = stats.compare(a, b)
    assert c.ci95[0] <= 0 <= c.ci95[1] and c.p_value >= 0.05 and c.test == "tango-score"
    x, y = rng.integers(0, 2, 400).tolist(), rng.integers(0, 2, 400).tolist()
    c = stats.compare(x, y)
    assert c.ci95[0] <= 0 <= c.ci95[1] and c.p_value >= 0.05 and c.test == "tango-score"


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


def tango_by_optimisation(x: int, y: int, n: int) -> tuple[float, list[float]]:
    """Tango's interval computed independently of harness.core.score: the restricted MLE by numerical
    maximisation of the multinomial likelihood, the bounds by root finding on |Z| = 1.96; and McNemar's score p."""
    import math

    from scipy.optimize import brentq, minimize_scalar
    from scipy.stats import chi2

    def z(d0):
        def nll(q):
            cells = (q + d0, q, 1 - 2 * q - d0)
            return -sum(k * math.log(c) for k, c in zip((x, y, n - x - y), cells) if k) if min(cells) > 0 else 1e18
        lo, hi = max(0.0, -d0) + 1e-13, (1 - d0) / 2 - 1e-13
        q = minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-13}).x
        return (x - y - n * d0) / math.sqrt(n * (2 * q + d0 * (1 - d0)))

    est = (x - y) / n
    bounds = [brentq(lambda d: abs(z(d)) - 1.959964, -0.999999, est) if abs(z(-0.999999)) > 1.96 else -1.0,
              brentq(lambda d: abs(z(d)) - 1.959964, est, 0.999999) if abs(z(0.999999)) > 1.96 else 1.0]
    p = 1.0 if x + y == 0 else float(chi2.sf((x - y) ** 2 / (x + y), 1))  # McNemar without continuity correction
    return p, bounds


def mcnemar_mid_p(x: int, y: int) -> float:
    """McNemar's exact test, mid-p: the two-sided binomial tail at 1/2 less the observed table's probability."""
    from scipy.stats import binom

    m, k = x + y, max(x, y)
    if m == 0 or x == y:
        return 1.0
    return float(min(1.0, 2 * (binom.sf(k - 1, m, 0.5) - 0.5 * binom.pmf(k, m, 0.5))))


@pytest.mark.parametrize("x,y,n", [(8, 2, 20), (0, 0, 40), (1, 0, 40), (3, 1, 40), (12, 30, 100), (0, 5, 12),
                                   (30, 0, 40), (7, 7, 1000)])
def test_binary_comparison_is_tangos_interval_and_mcnemars_score_test(x, y, n):
    base = [0] * x + [1] * y + [1] * ((n - x - y) // 2) + [0] * (n - x - y - (n - x - y) // 2)
    tuned = [1] * x + [0] * y + [1] * ((n - x - y) // 2) + [0] * (n - x - y - (n - x - y) // 2)
    c = stats.compare(base, tuned)
    p_score, (lo, hi) = tango_by_optimisation(x, y, n)
    p = max(p_score, mcnemar_mid_p(x, y))  # significant only when the exact test (mid-p) agrees
    assert c.test == "tango-score" and c.delta == pytest.approx((x - y) / n)
    assert c.p_value == pytest.approx(p, rel=1e-9)
    if p_score < 0.05 <= p:  # the tests disagree: the interval reaches 0 on the side of the estimate
        lo, hi = (min(lo, 0.0), max(hi, 0.0))
    assert c.ci95 == pytest.approx([lo, hi], abs=2e-6)
    assert (c.p_value < 0.05) == (not c.ci95[0] <= 0 <= c.ci95[1])  # one procedure: CI and p agree


def test_no_change_is_not_a_zero_width_interval():
    """0 of 40 answers changed: the data cannot rule out a few changes; the interval says so (about +-z^2/n)."""
    c = stats.compare([1] * 20 + [0] * 20, [1] * 20 + [0] * 20)
    assert c.delta == 0 and c.p_value == 1.0
    assert c.ci95[0] == pytest.approx(-c.ci95[1]) and 0.08 < c.ci95[1] < 0.1
    one_up = stats.compare([0] * 40, [1] + [0] * 39)
    assert one_up.p_value > 0.05 and one_up.ci95[0] < 0 < one_up.ci95[1]  # not [0.000, +0.067] with p = 1


def test_continuous_values_enter_as_rounded_counts():
    """Token-F1-like differences count as the expected counts of a rounding to -1/0/+1: eight documents up by 0.25
    and four down by 0.25 get exactly the interval of 2 answers right->wrong and 1 wrong->right, whatever the sizes."""
    d = np.array([0.25] * 8 + [-0.25] * 4 + [0.0] * 28)
    table = np.array([1.0] * 2 + [-1.0] * 1 + [0.0] * 37)
    scores, binary = score.score_compare(d), score.score_compare(table)
    assert scores.ci95 == pytest.approx(binary.ci95) and scores.p_value == pytest.approx(binary.p_value)
    assert scores.var_unit == pytest.approx(np.abs(d).mean())  # the churn the test itself uses


def test_a_change_never_narrows_the_interval():
    """The unseen change is priced in at the metric's range: adding a change (of any size, either sign) to a run
    never narrows its interval, and tiny changes never make it narrower than no change at all (the old effective
    counts, scaled by the size of the changes seen, made one change of 0.01 in 100 documents 90x narrower)."""
    width = lambda c: c.ci95[1] - c.ci95[0]  # noqa: E731
    for n in (10, 40, 100, 400):
        none = stats.compare([0.5] * n, [0.5] * n)
        tuned = [0.5] * n
        previous = width(none)
        for i, change in enumerate([0.01, -0.01, 0.3, -0.001, 0.5, -0.2, 0.01, -0.01][: n]):
            tuned[i] = 0.5 + change
            c = stats.compare([0.5] * n, tuned)
            assert width(c) >= previous - 1e-12, (n, i)
            previous = width(c)
        tiny = stats.compare([0.5] * n, [0.51] + [0.5] * (n - 1))
        assert width(tiny) >= width(none) and tiny.ci95[0] <= none.ci95[0] + 0.01 / n  # moved by no more than Δ


def test_continuous_values_p_is_never_below_the_sign_flip_normal_approximation():
    rng = np.random.default_rng(3)
    base = np.where(rng.random(60) < 0.8, 0.5, rng.random(60))
    tuned = np.where(rng.random(60) < 0.85, base, rng.random(60))
    c = stats.compare(base.tolist(), tuned.tolist())
    diff = tuned - base
    assert c.delta == pytest.approx(diff.mean())
    # at 0 the score test is the normal approximation of the sign-flip test, sum(d) / sqrt(sum(d^2)); p is never
    # below it (the exact test on effective counts must agree)
    from scipy.stats import norm

    assert c.p_value >= 2 * norm.sf(abs(diff.sum()) / np.sqrt(np.sum(diff ** 2))) - 1e-12


def test_clusters_widen_the_interval_by_the_design_effect():
    """Five questions per document, answers that change together: the design effect (cluster variance over
    independent variance, computed here by hand) divides the counts, and the interval widens."""
    rng = np.random.default_rng(7)
    clusters = [f"page{i // 5}" for i in range(100)]
    doc_effect = np.repeat(rng.random(20) < 0.3, 5)
    base = np.zeros(100)
    tuned = np.where(doc_effect, 1.0, 0.0)
    independent = stats.compare(base.tolist(), tuned.tolist())
    clustered = stats.compare(base.tolist(), tuned.tolist(), clusters=clusters)
    d = tuned - base
    totals = np.array([np.sum(d[i * 5:(i + 1) * 5] - d.mean()) for i in range(20)])
    deff = (np.sum(totals ** 2) * 20 / 19) / (np.sum((d - d.mean()) ** 2) * 100 / 99)
    assert clustered.n_clusters == 20 and independent.n_clusters is None
    assert f"design effect {deff:.2f}" in clustered.test
    assert clustered.ci95[1] - clustered.ci95[0] > independent.ci95[1] - independent.ci95[0]
    assert clustered.var_unit == pytest.approx(independent.var_unit * deff)
    few = stats.compare(base[:40].tolist(), tuned[:40].tolist(), clusters=clusters[:40])
    assert few.test == stats.N_TOO_SMALL and few.n_clusters == 8  # fewer than MIN_CLUSTERS: no interval


def test_missing_values_are_left_out_and_counted():
    base = [1, 0, None, 1, float("nan")] + [1, 0] * 10
    tuned = [1, 1, 1, None, 0] + [1, 0] * 10
    c = stats.compare(base, tuned)
    assert c.n == 22 and c.n_missing == 3 and c.p_value is not None and np.isfinite(c.delta)
    assert c.delta == pytest.approx(1 / 22)
    assert stats.value_ci([None] * 3 + [1, 0] * 10) == pytest.approx(stats.value_ci([1, 0] * 10))


def test_holm_and_bh_against_hand_computation():
    p = [0.01, 0.04, None, 0.03, 0.2]
    holm = stats.adjust(p, "holm")
    # sorted 0.01, 0.03, 0.04, 0.2 with m = 4: 0.04, 0.09, max(0.09, 0.08), 0.2
    assert holm == pytest.approx([0.04, 0.09, None, 0.09, 0.2])
    bh = stats.adjust(p, "bh")
    # 0.2*4/4 = 0.2; 0.04*4/3 = 0.0533; 0.03*4/2 = 0.06 -> min(0.06, 0.0533); 0.01*4/1 = 0.04
    assert bh == pytest.approx([0.04, 0.04 * 4 / 3, None, 0.04 * 4 / 3, 0.2])
    with pytest.raises(ValueError):
        stats.adjust(p, "bonferonni")


def test_mde_and_n_needed_are_exact_for_means():
    """4 gains in 60: the MDE (0.109) is beyond the churn (0.067), so at the MDE every change goes the one way and
    the test rejects when at least k documents change, k found here through compare itself: power is a binomial
    tail, 80% exactly, where the normal approximation's MDE (0.093) is detected 67% of the time."""
    from scipy.stats import binom, norm

    from harness.core import power

    base, tuned = [0] * 60, [1] * 4 + [0] * 2 + [0] * 54  # 4 gains, 0 losses... and 2 documents unchanged at 0
    c = stats.compare(base, tuned)
    assert c.var_unit == pytest.approx(4 / 60) and c.mde == pytest.approx(power.mde_exact(60, 4 / 60))
    k = next(k for k in range(1, 61) if stats.compare([0] * 60, [1] * k + [0] * (60 - k)).significant)
    assert k == 5 and binom.sf(k - 1, 60, c.mde) == pytest.approx(0.8, abs=1e-4)
    z = norm.isf(0.025) + norm.ppf(0.8)
    assert binom.sf(k - 1, 60, z * np.sqrt(4 / 60 / 60)) < 0.7
    n = stats.n_needed(c.var_unit, 0.05, design=power.design(c.test))
    assert n == power.n_needed_exact(4 / 60, 0.05) and power.power_at(n, 4 / 60, 0.05) >= 0.8
    assert stats.n_needed(c.var_unit, 0.05) == int(np.ceil(z * z * (4 / 60) / 0.05 ** 2))  # no design: normal


def test_wilson_interval_for_proportions():
    from scipy.stats import binomtest

    for k, n in ((40, 40), (0, 12), (7, 20), (97, 100)):
        got = stats.value_ci([1] * k + [0] * (n - k))
        ref = binomtest(k, n).proportion_ci(0.95, method="wilson")
        assert got == pytest.approx([ref.low, ref.high], abs=1e-9)


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
    assert stats.value_ci([1.0] * 10)[1] == 1.0 and stats.value_ci([1.0] * 10)[0] < 1.0  # Wilson, not [1, 1]
    assert stats.value_ci([1.0] * (stats.MIN_PAIRS - 1)) is None  # too few documents for any interval
    lo, hi = stats.value_ci([[-2.0, 1], [-4.0, 2]] * 5, "weighted_perplexity")
    assert lo <= np.exp(6 / 3) <= hi
    assert stats.compare([{"x": 1}], [{"x": 2}], "something_else") is None
    assert stats.compare([], []) is None


def test_zero_resamples_keeps_the_closed_form_tests():
    """--resamples 0 is documented, not silent: score intervals need no resampling and still decide; corpus
    metrics say so."""
    rng = np.random.default_rng(2)
    binary = stats.compare(rng.integers(0, 2, 200).tolist(), rng.integers(0, 2, 200).tolist(), resamples=0)
    assert binary.test == "tango-score" and binary.p_value is not None and binary.ci95 is not None
    cont = stats.compare(rng.random(50).tolist(), rng.random(50).tolist(), resamples=0)
    assert cont.p_value is not None and cont.mc_error is None
    pairs = [[int(g), int(g)] for g in rng.integers(0, 5, 50)]
    other = [[g, (p + 1) % 5 if i % 2 else p] for i, (g, p) in enumerate(pairs)]  # 25 answers changed
    corpus = stats.compare(pairs, other, "f1_macro", resamples=0)
    assert corpus.test.endswith("(needs --resamples > 0)") and corpus.p_value is None


def test_resampled_p_near_the_threshold_gets_more_resamples():
    """A corpus comparison whose p sits near 0.05 is resampled until its Monte Carlo error cannot flip it, so
    the verdict is the same for every seed."""
    rng = np.random.default_rng(11)
    gold = rng.integers(0, 5, 200)
    b = [[int(g), int(g) if rng.random() < 0.45 else int(rng.integers(0, 5))] for g in gold]
    t = [[int(g), int(g) if rng.random() < 0.52 else int(rng.integers(0, 5))] for g in gold]
    verdicts = set()
    for seed in range(6):
        c = stats.compare(b, t, "f1_macro", resamples=500, seed=seed)
        assert c.mc_error is not None and c.resamples >= 500
        if abs(c.p_value - 0.05) <= 2 * c.mc_error:
            assert c.resamples == 32_000  # only at the cap may p still sit within its error of the threshold
        verdicts.add(c.p_value < 0.05)
    assert len(verdicts) == 1


@pytest.mark.slow  # thousands of random samples through scikit-learn: about 10 s
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


def test_nll_per_token_is_the_log_of_token_perplexity_and_resamples_as_one():
    """The log-scale perplexity metric: log(weighted perplexity), vectorised over resamples exactly like the loop,
    and its delta is the log ratio of perplexities whatever the base's perplexity."""
    import math

    from tasks.perplexity import utils as ppl

    rng = np.random.default_rng(4)
    items = [(-float(rng.uniform(50, 400)), int(rng.integers(30, 200))) for _ in range(40)]
    assert ppl.nll_per_token(items) == pytest.approx(math.log(aggregations.weighted_perplexity(items)))
    to_array, reduce = aggregations.vector_spec("nll_per_token")
    idx = rng.integers(0, 40, (25, 40))
    assert np.allclose(reduce(to_array(items)[idx]), [ppl.nll_per_token([items[j] for j in i]) for i in idx])
    worse = [(ll * 1.05, n) for ll, n in items]  # 5% more NLL on every document
    c = stats.compare(items, worse, "nll_per_token", resamples=300)
    expected = math.log(aggregations.weighted_perplexity(worse) / aggregations.weighted_perplexity(items))
    assert c.delta == pytest.approx(expected) and c.ci95[0] <= c.delta <= c.ci95[1]


def test_a_clear_corpus_difference_reaches_past_its_floor():
    """1,000 resamples cannot show p below 1/1001, which Holm over 13 comparisons turns into 0.013 (one star at
    most); a p at that floor is extended by the normal approximation of both tests (the bootstrap's spread with
    Student's t, the permutation distribution's), computed here independently, so a clear difference reaches
    p < 0.001 after adjustment; never above the floor."""
    from scipy.stats import norm
    from scipy.stats import t as student

    rng = np.random.default_rng(8)
    gold = rng.integers(0, 5, 150)
    b = [[int(g), int(g) if rng.random() < 0.1 else int(rng.integers(0, 5))] for g in gold]
    t = [[int(g), int(g) if rng.random() < 0.9 else int(rng.integers(0, 5))] for g in gold]
    c = stats.compare(b, t, "f1_macro", resamples=1000)
    assert c.resamples == 1000 and c.mc_error is None and c.p_value < 1 / 1001
    assert stats.adjust([c.p_value] * 13)[0] < 0.001
    # the same from the spreads: the bootstrap sd of the delta, and the sd of the permuted deltas
    to_array, reduce = aggregations.vector_spec("f1_macro")
    a_, b_ = to_array(b), to_array(t)
    g = np.random.default_rng(0)
    idx = g.integers(0, 150, (1000, 150))
    sd_boot = np.std(reduce(b_[idx]) - reduce(a_[idx]))
    swap = (g.random((1000, 150)) < 0.5)[..., None]
    sd_perm = np.std(reduce(np.where(swap, a_, b_)) - reduce(np.where(swap, b_, a_)))
    approx = max(2 * student.sf(c.delta / sd_boot, 149), 2 * norm.sf(c.delta / sd_perm))
    assert c.p_value == pytest.approx(approx, rel=0.5)  # different draws of the same spreads


def test_a_corpus_metric_needs_changed_documents():
    """19 of 200 answers changed: the bootstrap would resample mostly identical documents and be far too narrow, so
    there is no interval; at 20 there is one."""
    rng = np.random.default_rng(9)
    gold = rng.integers(0, 5, 200)
    base = [[int(g), int(g)] for g in gold]
    for k, has_ci in ((19, False), (20, True)):
        tuned = [[g, (p + 1) % 5] if i < k else [g, p] for i, (g, p) in enumerate(base)]
        c = stats.compare(base, tuned, "f1_macro", resamples=300)
        assert c.n_changed == k and (c.ci95 is not None) == has_ci and (c.mde is not None) == has_ci


def test_a_document_without_a_cluster_never_joins_a_cluster_with_its_id():
    """Questions q0..q9 on pages 0..4, and documents 3 and 4 without a `cluster` field: each is its own unit, not a
    member of page 3 or 4 (65 units promised, 61 found, before)."""
    from harness.core import comparisons

    rows = [{"doc_id": f"q{i}", "cluster": i % 5} for i in range(10)] + [{"doc_id": 3}, {"doc_id": 4}]
    keys = comparisons.cluster_keys(comparisons.doc_clusters(rows), [r["doc_id"] for r in rows])
    assert len(set(keys)) == 5 + 2
    assert keys[3] == keys[8] and keys[10] not in keys[:10] and keys[11] not in keys[:10]
    base, tuned = [0.0] * 12, [1.0, 0.0] * 6
    assert stats.compare(base, tuned, clusters=keys).n_clusters == 7
