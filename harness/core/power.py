"""Exact power of the paired test on means of per-document values, as harness.core.score ships it, for planning.

The normal approximation (z_.975 + z_.8) x sqrt(churn / n) promises power it does not have when an effect of that
size means a handful of changed documents: at churn 2% its MDE is detected 36% of the time at n = 100, and the n it
recommends for a forgetting budget of 0.05 passes 26% of the time when nothing changed. Here the shipped decision
is evaluated on every table it can see instead. A document's paired difference is +1, -1 or 0; under an
alternative with churn c and true delta, P(+1) = (c + delta) / 2 and P(-1) = (c - delta) / 2. The churn a
comparison observed is its churn under no change, and a delta larger than that cannot happen at that churn, so an
alternative of size delta has churn max(c, |delta|) (beyond c, every change goes the one way). The number of changed
documents m is binomial (n, churn) and the gains x given m binomial (m, P(+1) / churn); the decision is a threshold
in x for each m (the statistics fall monotonically as the table leans further one way), found by a vectorised
bisection on the shipped statistics, so power is a sum over m of binomial tails, m pruned to 8 standard deviations
either side of its mean (the mass left out is below 1e-13).

- Two-sided significance (harness.core.score): max(McNemar's score p, exact mid-p) < 0.05; it depends on x and m
  alone, so the thresholds are computed once per m and kept.
- Non-inferiority (the gate's forgetting and no_regression): Tango's lower bound > -budget, i.e. the score
  statistic for H0: delta = -budget is at least z_.975 (a one-sided 2.5% test).

Tango's statistic and the mid-p are harness.core.score's, vectorised; tests/test_power.py checks the decisions
against score_compare table by table, and the power against a simulation of stats.compare. Clustered comparisons
are planned at the effective n = n / deff (rounded down) and the same churn (the design effect divides x, y and n
alike), with z where the test uses Student's t on K - 1 degrees of freedom: a little optimistic for few clusters.
Scores other than 0/1 are planned as the 0/1 outcome with their churn E|d|, which is how the test counts them
(their realised counts vary less, so the numbers are conservative for them).

Above LARGE expected changed documents the normal approximation is accurate (its power is within 0.1 point of the
target there) and is used. Corpus metrics (a bootstrap's variance) always use it: decision.n_needed without a
design.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

import numpy as np
from scipy import optimize, special
from scipy import stats as sps

# decision.ALPHA and decision.MIN_PAIRS: this module is the leaf that decision and score import, so it cannot import
# them back; tests/test_power.py checks that they agree
ALPHA = 0.05
MIN_PAIRS = 10
CRIT = float(sps.norm.isf(ALPHA / 2))
LARGE = 4000  # expected changed documents above which the normal approximation is used
SPREAD = 8.0  # standard deviations of the changed documents' count enumerated either side of its mean
MAX_N = 10 ** 8  # n_needed_exact gives up beyond this (an effect of ~1e-4 at churn 1)
WINDOW = 8  # n below the bisection's crossing scanned for an earlier one (the rate saw-tooths in n)


def tango_z(x, y, n, d0):
    """score.tango_z on arrays: the score statistic for H0: delta = d0 (0 when the data sit exactly on d0)."""
    x, y, n = (np.asarray(v, dtype=float) for v in (x, y, n))
    b = -x - y + (2 * n - x + y) * d0
    c = -y * d0 * (1 - d0)
    q = np.maximum((np.sqrt(np.maximum(b * b - 8 * n * c, 0.0)) - b) / (4 * n), 0.0)
    num = x - y - n * d0
    var = n * (2 * q + d0 * (1 - d0))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = num / np.sqrt(var)
    flat = np.where(np.abs(num) < 1e-12, 0.0, np.copysign(np.inf, num))
    return np.where(var > 0, z, flat)


def _at_least(k, m, p):
    """P(Binomial(m, p) >= k), elementwise, for integer k (any) and m >= 0."""
    k, m = np.asarray(k, dtype=float), np.asarray(m, dtype=float)
    inside = (k >= 1) & (k <= m)
    tail = special.betainc(np.where(inside, k, 1.0), np.where(inside, m - k + 1, 1.0), p)
    return np.where(k <= 0, 1.0, np.where(inside, tail, 0.0))


def exact_p(x, y):
    """score.exact_p on arrays: McNemar's exact mid-p, two-sided, P(X >= k) + P(X >= k + 1) at 1/2, the tails
    continued to real counts by the regularized incomplete beta function."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    m, k = x + y, np.maximum(x, y)
    live = (m > 0) & (k > m / 2)
    k, rest = np.where(live, k, 1.0), np.where(live, m - k, 1.0)
    upper = np.where(rest > 0, special.betainc(k + 1, np.maximum(rest, 1e-300), 0.5), 0.0)
    return np.where(live, np.minimum(1.0, special.betainc(k, rest + 1, 0.5) + upper), 1.0)


def significant(x, y):
    """The shipped two-sided decision on unclustered counts: max(score p, mid-p) < ALPHA (McNemar's score
    statistic, Tango's at 0, is (x - y) / sqrt(x + y))."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    m = x + y
    z = np.abs(x - y) / np.sqrt(np.maximum(m, 1.0))
    p_score = np.where(m > 0, 2 * special.ndtr(-z), 1.0)
    return np.maximum(p_score, exact_p(x, y)) < ALPHA


def within(x, y, n, budget: float):
    """The shipped non-inferiority decision: Tango's lower bound above -budget, i.e. Z(-budget) >= z_.975."""
    return tango_z(x, y, n, -budget) >= CRIT


def _first(ok, lo, hi):
    """For each entry, the smallest integer in (lo, hi] where ok(v) holds, given ok false at lo, true at hi and
    monotone between (a vectorised bisection)."""
    lo, hi = np.asarray(lo, dtype=np.int64).copy(), np.asarray(hi, dtype=np.int64).copy()
    while np.any(hi - lo > 1):
        mid = (lo + hi) // 2
        good = ok(mid)
        hi, lo = np.where(good, mid, hi), np.where(good, lo, mid)
    return hi


_THRESHOLDS = np.zeros(0, dtype=np.int64)


def _thresholds(top: int) -> np.ndarray:
    """k(m) for m = 0..top: the smallest max(x, y) significant among m changes (m + 1: none is), kept and grown by
    doubling (they depend on m alone)."""
    global _THRESHOLDS
    if len(_THRESHOLDS) <= top:
        m = np.arange(max(2 * len(_THRESHOLDS), top + 1, 1024))
        _THRESHOLDS = _first(lambda k: (k > m) | significant(np.minimum(k, m), m - np.minimum(k, m)), m // 2, m + 1)
    return _THRESHOLDS[: top + 1]


def _changes(n: int, churn: float) -> tuple[np.ndarray, np.ndarray]:
    """The numbers of changed documents m with non-negligible mass, and their binomial probabilities."""
    mean, sd = n * churn, math.sqrt(n * churn * (1 - churn))
    m = np.arange(max(0, math.floor(mean - SPREAD * sd - 5)), min(n, math.ceil(mean + SPREAD * sd + 10)) + 1)
    log = special.gammaln(n + 1) - special.gammaln(m + 1) - special.gammaln(n - m + 1)
    return m, np.exp(log + special.xlogy(m, churn) + special.xlog1py(n - m, -churn))


def _alternative(churn: float, delta: float) -> tuple[float, float]:
    """(churn, P(a change is a gain)) under a true `delta`: the churn grows to |delta| if needed."""
    c = min(max(churn, abs(delta)), 1.0)
    return c, 0.5 if c <= 0 else min(1.0, max(0.0, (1 + delta / c) / 2))


def _power(n: int, churn: float, delta: float) -> float:
    if n < 1:
        return 0.0
    c, gain = _alternative(churn, abs(delta))
    m, w = _changes(n, c)
    k = _thresholds(int(m[-1]))[m]
    reject = _at_least(k, m, gain) + _at_least(k, m, 1 - gain)  # x >= k, or y >= k
    return float(np.clip(np.sum(w * reject), 0.0, 1.0))


@lru_cache(maxsize=4096)
def _passes(n: int, churn: float, budget: float, delta: float = 0.0) -> float:
    if n < 1:
        return 0.0
    c, gain = _alternative(churn, delta)
    m, w = _changes(n, c)
    x = _first(lambda v: (v > m) | within(np.minimum(v, m), m - np.minimum(v, m), n, budget), np.full_like(m, -1),
               m + 1)
    return float(np.clip(np.sum(w * _at_least(x, m, gain)), 0.0, 1.0))


def _key(v: float) -> float:
    """Inputs rounded to 6 significant digits: far below what planning can tell apart, so the caches hit."""
    return float(f"{v:.6g}")


def power_at(n: int, churn: float, delta: float) -> float:
    """The chance that n documents with this churn (under no change) show a true `delta` significant, two-sided."""
    return _power(int(n), float(churn), float(delta))


def pass_rate(n: int, churn: float, budget: float, delta: float = 0.0) -> float:
    """The chance that the forgetting check (lower bound > -budget) passes when the true change is `delta` (0:
    nothing changed, what the gate's "about N would" is for; -budget: a drop at the budget, about 2.5%)."""
    return _passes(int(n), _key(churn), _key(budget), _key(delta))


def normal_mde(n: float, churn: float, power: float = 0.8) -> float:
    """The normal approximation every comparison reported before: (z_.975 + z_power) sqrt(churn / n)."""
    return (CRIT + float(sps.norm.ppf(power))) * math.sqrt(churn / n)


def normal_n(churn: float, effect: float, power: float = 0.8) -> int:
    """The normal approximation's documents: (z_.975 + z_power)^2 churn / effect^2."""
    z = CRIT + float(sps.norm.ppf(power))
    return max(1, math.ceil(z * z * churn / (effect * effect)))


@lru_cache(maxsize=4096)
def _mde(n: int, churn: float, power: float) -> float:
    if n < 1 or _power(n, churn, 1.0) < power:
        return math.inf
    if _power(n, churn, 0.0) >= power:
        return 0.0
    return optimize.brentq(lambda d: _power(n, churn, d) - power, 0.0, 1.0, xtol=1e-7, rtol=1e-6)


def mde_exact(n: float, churn: float, power: float = 0.8) -> float:
    """The |delta| detected (two-sided 5%) with probability `power`, to a relative 1e-6; inf when not even delta = 1
    is (fewer than 5 documents can never be significant). Power is continuous in delta under the churn convention
    and rises with it (a binomial tail in either regime: tests/test_power.py checks it on a grid), so there is one
    crossing, found by Brent's method; the discreteness is in n, not delta. Above LARGE expected changed
    documents, the normal approximation."""
    n, churn = int(n), min(max(float(churn), 0.0), 1.0)
    if n * max(churn, normal_mde(max(n, 1), churn, power)) > LARGE:
        return normal_mde(n, churn, power)
    return _mde(n, _key(churn), float(power))


def _rate(kind: str, n: int, churn: float, effect: float) -> float:
    return _power(n, churn, effect) if kind == "detect" else _passes(n, churn, effect)


@lru_cache(maxsize=4096)
def _n_needed(churn: float, effect: float, power: float, kind: str) -> int:
    lo, hi = 0, normal_n(churn, effect, power)
    if hi * max(churn, effect) > LARGE:
        return hi
    while _rate(kind, hi, churn, effect) < power:
        lo, hi = hi, 2 * hi
        if hi > MAX_N or hi * max(churn, effect) > LARGE:
            return normal_n(churn, effect, power)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if _rate(kind, mid, churn, effect) >= power else (mid, hi)
    earlier = [n for n in range(max(1, hi - WINDOW), hi) if _rate(kind, n, churn, effect) >= power]
    return earlier[0] if earlier else hi


def n_needed_exact(churn: float, effect: float, power: float = 0.8, kind: str = "detect") -> int:
    """The smallest n with at least `power`: kind "detect", the two-sided test detecting a true `effect`;
    "noninferiority", the check with budget `effect` passing when nothing changed. The search doubles from the
    normal approximation's n until the target is met, bisects, then scans the WINDOW n below the crossing, where
    the saw-tooth of a discrete test could reach the target first. Past the crossing the rate dips under the target
    by at most 0.2 points (checked on a grid of churn 1-70% and effects 0.02-0.2 up to 1.5 times the answer). Past
    LARGE expected changed documents (or MAX_N), the normal approximation."""
    if kind not in ("detect", "noninferiority"):
        raise ValueError(f"kind {kind!r}: 'detect' or 'noninferiority'")
    return _n_needed(_key(min(max(churn, 0.0), 1.0)), _key(effect), float(power), kind)


_DEFF = re.compile(r"design effect ([0-9.]+)")
_SCALE = re.compile(r"scaled by the largest change, ([0-9.eE+-]+)")


def design(test: str | None) -> tuple[float, float] | None:
    """(design effect, scale) of a comparison whose test is score_compare's (its `test` text names both when they
    are not 1); None for any other test (a corpus metric's bootstrap), which keeps the normal approximation."""
    if not isinstance(test, str) or not test.startswith("tango-score"):
        return None
    deff, scale = _DEFF.search(test), _SCALE.search(test)
    return float(deff.group(1)) if deff else 1.0, float(scale.group(1)) if scale else 1.0


def documents_needed(var_unit: float, effect: float, power: float, deff: float, scale: float,
                     kind: str = "detect") -> int:
    """decision.n_needed for a mean of per-document values: var_unit = churn x deff x scale^2 back to the churn,
    the effect in the rounded counts' units, and the effective n back to documents (never below MIN_PAIRS)."""
    churn = var_unit / (deff * scale * scale)
    return max(MIN_PAIRS, math.ceil(deff * n_needed_exact(churn, effect / scale, power, kind)))
