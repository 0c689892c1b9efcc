"""harness.core.power: the exact power of the paired test as shipped, checked against score_compare's own decisions
table by table, against a brute-force enumeration written here, against a simulation of stats.compare, and the
promise it exists for: power at the reported MDE and the pass rate at the recommended n within 3 points of 80%."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from harness.core import decision, power, score, stats

CRIT = sps.norm.isf(0.025)
CHURNS = (0.02, 0.05, 0.15, 0.40)
SIZES = (30, 100, 400)


def trinomial(n: int, churn: float, delta: float, top: int):
    """Every table (x gains, y losses) with x + y <= top, and its probability when P(+1) = (c + delta) / 2 and
    P(-1) = (c - delta) / 2, c = max(churn, |delta|)."""
    c = max(churn, abs(delta))
    up, down = (c + delta) / 2, (c - delta) / 2
    for x in range(top + 1):
        for y in range(top + 1 - x):
            yield x, y, math.exp(sps.multinomial.logpmf([x, y, n - x - y], n, [up, down, 1 - up - down]))


def brute_power(n: int, churn: float, delta: float, top: int) -> float:
    """Two-sided significance summed over every table, each decided by score's scalar functions as score_compare
    does: max(2 sf(|Z(0)|), exact mid-p) < 0.05."""
    out = 0.0
    for x, y, w in trinomial(n, churn, delta, top):
        p = 1.0 if x + y == 0 else 2 * sps.norm.sf(abs(score.tango_z(x, y, n, 0.0)))
        out += w * (max(p, score.exact_p(x, y)) < 0.05)
    return out


def brute_pass(n: int, churn: float, budget: float, top: int, delta: float = 0.0) -> float:
    """The forgetting check summed over every table: Tango's lower bound > -budget, i.e. Z(-budget) >= z_.975
    (test_decisions_match_score_compare_table_by_table checks the equivalence)."""
    return sum(w for x, y, w in trinomial(n, churn, delta, top) if score.tango_z(x, y, n, -budget) >= CRIT)


def test_the_constants_are_decisions():
    assert power.ALPHA == decision.ALPHA and power.MIN_PAIRS == decision.MIN_PAIRS
    assert power.CRIT == pytest.approx(sps.norm.isf(decision.ALPHA / 2))


def test_the_vectorised_statistics_are_score_s():
    rng = np.random.default_rng(1)
    for _ in range(300):
        n = int(rng.integers(10, 500))
        x, y = rng.uniform(0, n / 2, 2) * (rng.random(2) < 0.9)
        d0 = float(rng.uniform(-0.5, 0.5)) * (rng.random() < 0.8)
        assert power.tango_z(x, y, n, d0) == pytest.approx(score.tango_z(x, y, n, d0), rel=1e-9, abs=1e-9)
        assert power.exact_p(x, y) == pytest.approx(score.exact_p(x, y), rel=1e-9, abs=1e-12)
        assert power.exact_p(round(x), round(y)) == pytest.approx(score.exact_p(round(x), round(y)), abs=1e-12)


@pytest.mark.parametrize("n, top", [(30, 30), (100, 24)])
def test_decisions_match_score_compare_table_by_table(n, top):
    """Every table a run of n documents can produce (for n = 100, up to 24 changes), through score_compare as
    shipped: significant, and the lower bound against three budgets."""
    budgets = (0.05, 0.1, 0.2)
    for x in range(top + 1):
        for y in range(top + 1 - x):
            d = np.array([1.0] * x + [-1.0] * y + [0.0] * (n - x - y))
            c = score.score_compare(d)
            assert bool(power.significant(x, y)) == c.significant, (x, y)
            for b in budgets:
                assert bool(power.within(x, y, n, b)) == (c.ci95[0] > -b), (x, y, b)


@pytest.mark.parametrize("n, churn, delta, top", [(30, 0.05, 0.1, 20), (60, 0.15, 0.05, 35), (40, 0.02, 0.2, 30)])
def test_power_is_the_enumeration_of_every_table(n, churn, delta, top):
    assert power.power_at(n, churn, delta) == pytest.approx(brute_power(n, churn, delta, top), abs=1e-9)
    assert power.power_at(n, churn, -delta) == pytest.approx(power.power_at(n, churn, delta), abs=1e-12)


@pytest.mark.parametrize("n, churn, budget, delta, top", [(60, 0.15, 0.1, 0.0, 40), (124, 0.02, 0.05, 0.0, 25),
                                                         (80, 0.1, 0.1, -0.1, 45)])
def test_pass_rate_is_the_enumeration_of_every_table(n, churn, budget, delta, top):
    assert power.pass_rate(n, churn, budget, delta) == pytest.approx(brute_pass(n, churn, budget, top, delta),
                                                                     abs=1e-9)


def _simulate(n: int, churn: float, delta: float, sims: int, seed: int):
    """stats.compare on drawn 0/1 runs: each document gains (P (c + delta) / 2), loses, or keeps a drawn answer."""
    rng = np.random.default_rng(seed)
    c = max(churn, abs(delta))
    for _ in range(sims):
        kind = rng.choice(3, size=n, p=[(c + delta) / 2, (c - delta) / 2, 1 - c])
        kept = (rng.random(n) < 0.6).astype(float)
        base = np.where(kind == 0, 0.0, np.where(kind == 1, 1.0, kept))
        tuned = np.where(kind == 0, 1.0, np.where(kind == 1, 0.0, kept))
        yield stats.compare(base.tolist(), tuned.tolist())


def test_the_enumeration_agrees_with_a_simulation_of_stats_compare():
    """n = 30 at churn 5% with a true drop of the reported MDE; the forgetting check at budget 0.1 and churn 15% at
    its recommended n with nothing changed. 1,000 runs each: within 3.5 Monte Carlo standard errors."""
    sims = 1000
    mde = power.mde_exact(30, 0.05)
    rejected = np.mean([c.significant for c in _simulate(30, 0.05, -mde, sims, 11)])
    n = power.n_needed_exact(0.15, 0.1, kind="noninferiority")
    passed = np.mean([c.ci95[0] > -0.1 for c in _simulate(n, 0.15, 0.0, sims, 12)])
    for got, want in ((rejected, power.power_at(30, 0.05, mde)), (passed, power.pass_rate(n, 0.15, 0.1))):
        assert abs(got - want) <= 3.5 * math.sqrt(want * (1 - want) / sims), (got, want)


def test_power_rises_with_delta():
    for n in (30, 100):
        for churn in (0.02, 0.15, 0.4):
            curve = [power.power_at(n, churn, d) for d in np.linspace(0, 1, 201)]
            assert np.all(np.diff(curve) > -1e-9), (n, churn)


@pytest.mark.parametrize("churn", CHURNS)
def test_the_reported_mde_has_its_power(churn):
    """The Done-when, for the MDE: at the churn a run would report (at least 1/n), exact power 80% +- 3 points,
    where the normal approximation fell short at low churn."""
    for n in SIZES:
        mde = power.mde_exact(n, max(churn, 1 / n))
        assert 0.77 <= power.power_at(n, churn, mde) <= 0.83, (n, mde)
        assert power.power_at(n, churn, mde * 0.98) < 0.8  # the smallest: a little less is not detected
    assert power.power_at(100, 0.02, power.normal_mde(100, 0.02)) < 0.4  # the audit's 36%


@pytest.mark.parametrize("churn", CHURNS)
def test_the_recommended_n_passes_80_percent_when_nothing_changed(churn):
    """The Done-when, for the gate's "about N would": at budget 0.05 the pass rate at N is 80% to 83%, and N - 1 is
    short of 80%; at the budget of each size's MDE, at least 80%, and above 83% only where one document fewer is
    short (the discreteness forces it)."""
    n = power.n_needed_exact(churn, 0.05, kind="noninferiority")
    assert 0.8 <= power.pass_rate(n, churn, 0.05) <= 0.83 and power.pass_rate(n - 1, churn, 0.05) < 0.8
    for size in SIZES:
        budget = power.mde_exact(size, max(churn, 1 / size))
        n = power.n_needed_exact(churn, budget, kind="noninferiority")
        rate = power.pass_rate(n, churn, budget)
        assert rate >= 0.8 and (rate <= 0.83 or power.pass_rate(n - 1, churn, budget) < 0.8), (size, rate)


def test_n_needed_detect_is_the_smallest_n():
    for churn, effect in ((0.0731, 0.05), (0.02, 0.1), (0.4, 0.1)):
        n = power.n_needed_exact(churn, effect)
        assert power.power_at(n, churn, effect) >= 0.8 > power.power_at(n - 1, churn, effect)
    n = power.n_needed_exact(0.02, 0.1)  # a handful of changes: the normal approximation's n falls far short
    assert brute_power(n, 0.02, 0.1, 30) >= 0.8 > brute_power(power.normal_n(0.02, 0.1), 0.02, 0.1, 30)
    with pytest.raises(ValueError):
        power.n_needed_exact(0.1, 0.05, kind="superiority")


def test_large_counts_use_the_normal_approximation_where_it_is_accurate():
    n, churn = 20_000, 0.25  # 5,000 changed documents expected, past LARGE
    mde = power.mde_exact(n, churn)
    assert mde == power.normal_mde(n, churn) and power.power_at(n, churn, mde) == pytest.approx(0.8, abs=0.005)
    assert power.n_needed_exact(0.4, 0.01) == power.normal_n(0.4, 0.01)


def test_design_reads_score_compare_s_test():
    rng = np.random.default_rng(3)
    d = rng.choice([-1.0, 0.0, 1.0], size=120, p=[0.1, 0.8, 0.1])
    clusters = np.repeat(np.arange(24), 5)
    d[clusters < 6] = 1.0  # whole pages that move together
    clustered = score.score_compare(d, clusters=clusters)
    deff = float(clustered.test.rpartition("design effect ")[2].rstrip(")"))
    assert deff > 1 and power.design(clustered.test) == (deff, 1.0)
    assert power.design(score.score_compare(d).test) == (1.0, 1.0)
    wide = score.score_compare(d * 4, scale=None)
    assert power.design(wide.test) == (1.0, 4.0)
    assert power.design("paired-bootstrap+permutation") is None and power.design(None) is None


def test_score_compare_records_the_exact_mde_at_the_effective_n():
    d = np.array([1.0] * 5 + [-1.0] * 2 + [0.0] * 53)
    c = score.score_compare(d)
    assert c.mde == pytest.approx(power.mde_exact(60, 7 / 60)) and c.var_unit == pytest.approx(7 / 60)
    assert score.score_compare(d, factor=60).mde == pytest.approx(60 * c.mde)
    clusters = np.repeat(np.arange(12), 5)
    k = score.score_compare(np.sort(d), clusters=clusters)
    deff, _ = power.design(k.test)
    assert k.mde == pytest.approx(power.mde_exact(60 / deff, 7 / 60), rel=1e-3)


def test_n_needed_is_exact_with_a_design_and_normal_without():
    z = sps.norm.isf(0.025) + sps.norm.ppf(0.8)
    assert stats.n_needed(0.09, 0.05) == math.ceil(z * z * 0.09 / 0.05 ** 2)  # a corpus metric's bootstrap variance
    assert stats.n_needed(0.09, 0.05, design=(1.0, 1.0)) == power.n_needed_exact(0.09, 0.05)
    assert stats.n_needed(0.09, 0.05, design=(1.0, 1.0), kind="noninferiority") == \
        power.n_needed_exact(0.09, 0.05, kind="noninferiority")
    # clusters: the effective n at the same churn, back to documents; a scale: the effect in rounded units
    assert stats.n_needed(0.18, 0.05, design=(2.0, 1.0)) == math.ceil(2 * power.n_needed_exact(0.09, 0.05))
    assert stats.n_needed(0.36, 0.1, design=(1.0, 2.0)) == power.n_needed_exact(0.09, 0.05)
    assert stats.n_needed(0.5, 0.9, design=(1.0, 1.0)) == decision.MIN_PAIRS  # never below a test's minimum
