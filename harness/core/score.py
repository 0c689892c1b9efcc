"""Means of per-document values, paired: Tango's score interval for the difference of paired proportions, on
effective counts, with a design effect for questions that share a document.

Paired 0/1 outcomes (accuracy, exact match) are a 2x2 table whose off-diagonal counts x (adapter right, base
wrong) and y (the reverse) carry all the information about delta = (x - y) / n. Tango's (1998) score statistic for
H0: delta = d0,

    Z(d0) = (x - y - n d0) / sqrt(n (2 q + d0 (1 - d0))),   q = the restricted MLE of P(d = -1) under delta = d0,

is McNemar's score test at d0 = 0, and the interval {d0 : |Z(d0)| < crit} is the test inverted. With few changed
answers the score test alone rejects too often (4 of 4 changes one way gives p = 0.046, which happens 12.5% of
the time under no difference), so a difference is significant only when McNemar's exact test (mid-p) also rejects: p is
the larger of the two p-values and the interval is widened to 0 where they disagree, so the CI excludes 0 exactly
when p < 0.05. Unlike a permutation test inverted by shifting the differences, it stays honest when few
answers change (0 of 40 changed is [-0.088, +0.088], not [0, 0]); Fagerland, Lydersen & Laake (2014) recommend it
for paired proportions.

Other per-document values (token F1, per-answer ROUGE/BLEU) in [0, 1] enter as the counts a randomized rounding
would give in expectation: a difference d in [-1, 1] is +1 with probability d+ and -1 with probability d-, so
x = sum(d+) and y = sum(d-) (exactly the 0/1 counts when d is 0/1). The rounded variable has the same mean as d and
a variance at least d's (E|d| - delta^2 >= E d^2 - delta^2), so the interval is the one a 0/1 outcome with the same
mean and churn E|d| gets: it assumes that any change the sample did not show may be as large as the metric's range,
never that unseen changes are as small as the ones seen. Tiny changes therefore count as a tiny churn: 12 changes of
0.01 among 40 documents leave the interval of no change (a little wider), where scaling the counts by the size of
the observed changes (statistics contract 5 and before) made it 50 times narrower. The price is width when every
document changes a little: the interval is then wider than a normal one by about sqrt(E|d| / E d^2). Values
outside [0, 1] (a metric with no known range) are scaled by the largest change observed, and say so in the test's
name.

Questions that share a document (docqa asks several per page) are not independent. Given cluster keys, the
variance of the mean difference is estimated from cluster totals, the design effect deff = (cluster variance) /
(independent variance), floored at 1, divides x, y and n (Rao & Scott 1992), and the critical value is Student's
t with K - 1 degrees of freedom for K clusters.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from harness.core.decision import ALPHA, Comparison, consistent
from harness.core.power import mde_exact

TEST = "tango-score"
CONTINUITY = 1.0  # documents: the continuity correction of the interval a check at a margin reads


def _restricted_q(x: float, y: float, n: float, d0: float) -> float:
    """Tango's restricted MLE of P(d = -1) under delta = d0 (closed form: the root of a quadratic)."""
    a = 2 * n
    b = -x - y + (2 * n - x + y) * d0
    c = -y * d0 * (1 - d0)
    disc = max(b * b - 4 * a * c, 0.0)
    return max((math.sqrt(disc) - b) / (2 * a), 0.0)


def tango_z(x: float, y: float, n: float, d0: float, cc: float = 0.0) -> float:
    """The score statistic for H0: delta = d0 (0 when the data sit exactly on d0); `cc` moves the observed
    difference that many documents towards d0 (a continuity correction)."""
    num = x - y - n * d0
    num = math.copysign(max(abs(num) - cc, 0.0), num)
    var = n * (2 * _restricted_q(x, y, n, d0) + d0 * (1 - d0))
    if var <= 0:
        return 0.0 if abs(num) < 1e-12 else math.copysign(math.inf, num)
    return num / math.sqrt(var)


def _bound(x: float, y: float, n: float, crit: float, est: float, direction: float, cc: float = 0.0) -> float:
    """The edge of {d0 : |Z(d0)| < crit} on one side of the estimate, by bisection (|Z| rises away from it)."""
    inside, outside = est, direction * 1.0
    if abs(tango_z(x, y, n, outside, cc)) < crit:
        return outside
    for _ in range(80):
        mid = (inside + outside) / 2
        if abs(tango_z(x, y, n, mid, cc)) < crit:
            inside = mid
        else:
            outside = mid
    return inside


def exact_p(x: float, y: float) -> float:
    """McNemar's exact test with the mid-p correction (half the probability of the observed table counted):
    two-sided, 2 * (P(X >= k) + P(X >= k + 1)) / 2 for k = max(x, y) of m = x + y changes at 1/2. The exact test
    is conservative (2-3% false alarms at 5%); mid-p brings it close to 5% without the score test's excess at few
    changes (Fagerland, Lydersen & Laake 2013). For effective counts the binomial tails are continued to real
    counts by the regularized incomplete beta function."""
    from scipy.special import betainc

    m = x + y
    k = max(x, y)
    if m <= 0 or k <= m / 2:
        return 1.0
    upper = betainc(k + 1, m - k, 0.5) if m - k > 0 else 0.0
    return float(min(1.0, betainc(k, m - k + 1, 0.5) + upper))


def design_effect(d: np.ndarray, clusters: np.ndarray | None) -> tuple[float, int | None]:
    """(deff, K): the variance of the mean difference from cluster totals over its value for independent
    documents, floored at 1; (1, None) without clusters."""
    if clusters is None:
        return 1.0, None
    _, inverse = np.unique(clusters, return_inverse=True)
    k = int(inverse.max()) + 1
    n = len(d)
    mean = d.mean()
    v_iid = float(np.sum((d - mean) ** 2)) * n / max(n - 1, 1)
    totals = np.bincount(inverse, weights=d - mean, minlength=k)
    v_cluster = float(np.sum(totals ** 2)) * k / max(k - 1, 1)
    if v_iid <= 0 or k < 2:
        return 1.0, k
    return max(1.0, v_cluster / v_iid), k


def effective_counts(d: np.ndarray, scale: float = 1.0) -> tuple[float, float, float]:
    """(x, y, scale): the expected counts of +1 and -1 after rounding d / scale to {-1, 0, +1} at random (the
    mean kept); `scale` is the metric's range (1 for values in [0, 1])."""
    if scale <= 0:
        return 0.0, 0.0, 1.0
    return float(d[d > 0].sum()) / scale, float(-d[d < 0].sum()) / scale, scale


def value_range(values: np.ndarray) -> float | None:
    """1 for values in [0, 1] (every per-document metric the tasks define); None when some lie outside, so the
    range is not known."""
    return 1.0 if values.size == 0 or (values.min() >= 0 and values.max() <= 1) else None


def score_compare(d: np.ndarray, factor: float = 1.0, clusters: np.ndarray | None = None,
                  scale: float | None = 1.0) -> Comparison:
    """The comparison of paired differences `d` (adapter - base per document), delta and CI scaled by `factor`;
    `scale`: the range of one document's value (None: unknown, the largest change observed stands in)."""
    n = len(d)
    observed = float(np.abs(d).max()) if n else 0.0
    x, y, s = effective_counts(d, scale if scale is not None else observed)
    deff, k = design_effect(d, clusters)
    xe, ye, ne = x / deff, y / deff, n / deff
    if k is None:
        crit = float(sps.norm.isf(ALPHA / 2))
        p = 1.0 if x + y == 0 else float(2 * sps.norm.sf(abs(tango_z(xe, ye, ne, 0.0))))
    else:
        crit = float(sps.t.isf(ALPHA / 2, max(k - 1, 1)))
        p = 1.0 if x + y == 0 else float(2 * sps.t.sf(abs(tango_z(xe, ye, ne, 0.0)), max(k - 1, 1)))
    p = max(p, exact_p(xe, ye))
    est = (x - y) / n
    lo, hi = _bound(xe, ye, ne, crit, est, -1.0), _bound(xe, ye, ne, crit, est, 1.0)
    scale_out = s * factor
    test = TEST if scale is not None else f"{TEST} (range unknown: scaled by the largest change, {s:.4g})"
    if k is not None:
        test += f" (clustered: {k} clusters, design effect {deff:.2f})"
    out = consistent(float(d.mean()) * factor, [lo * scale_out, hi * scale_out], p, test, n)
    out.n_clusters = k
    # a test at a margin other than 0 (improves: margin 0.02) has no exact test beside it as 0 has: the score test
    # alone passes up to 4.9% at its margin (all changes one way, n = 400, margin 0.01, computed exactly); moved one
    # document towards the margin it passes at most 2.4% (n = 30, 100, 400, margins 0.005-0.3, churn 1-4x margin)
    cc = CONTINUITY / deff
    out.ci_margin = [_bound(xe, ye, ne, crit, est, -1.0, cc) * scale_out, _bound(xe, ye, ne, crit, est, 1.0, cc) * scale_out]
    # the variance the test itself uses for one document's difference under "no change": the churn of the rounded
    # counts, E|d| (E d^2 for 0/1), design effect included; with no change observed at all, one change in n is the
    # smallest churn the data cannot rule out
    churn = max((x + y) / n, 1.0 / n)
    var_unit = churn * deff * s * s
    # exact for the 0/1 outcome with that churn at the effective n (harness.core.power): the normal approximation
    # promised 80% where an effect of its size meant a few changed documents (36% at churn 2%, n = 100)
    mde = mde_exact(n / deff, churn)
    out.mde = mde * s * factor if math.isfinite(mde) else None
    # a count (factor n) grows with the documents themselves: planning n for it has no meaning
    out.var_unit = var_unit if factor == 1.0 else None
    return out
