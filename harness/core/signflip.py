"""The sign-flip family: metrics that are a mean of per-document values, tested on the paired differences.

0/1 values are computed exactly at any n (at delta 0 the exact McNemar test); other values enumerate every sign
pattern up to EXACT_MAX_N documents and draw random patterns above. The CI is the test inverted.
"""

from __future__ import annotations

import numpy as np

from harness.core.decision import ALPHA, EXACT_MAX_N, Comparison, all_patterns, consistent

_BINARY_GRID_MAX = 250_000  # exact 0/1 inversion: (discordant+1)**2 grid points; above it, random sign patterns


def sign_matrix(n: int, resamples: int, rng) -> np.ndarray | None:
    if n <= EXACT_MAX_N:
        return np.where(all_patterns(n), -1.0, 1.0)
    if not resamples:
        return None
    return np.where(rng.random((resamples, n)) < 0.5, -1.0, 1.0)


def signflip_p(d: np.ndarray, shift: float, signs: np.ndarray, exact: bool) -> float:
    x = d - shift
    t = abs(x.sum())
    hits = np.sum(np.abs(signs @ x) >= t - 1e-9 * max(1.0, t))
    return float(hits / len(signs)) if exact else float((1 + hits) / (1 + len(signs)))


def binary_p(c_pos: int, c_neg: int, c_zero: int, shift: float) -> float:
    """Exact sign-flip p-value for d in {-1, 0, +1} shifted by `shift`: T = sum s_i (d_i - shift) is a sum of three
    independent scaled binomials; at shift 0 this is the exact McNemar test."""
    from scipy.stats import binom

    n = c_pos + c_neg + c_zero
    t = abs(c_pos - c_neg - n * shift)
    tol = 1e-9 * max(1.0, t)
    x1 = np.arange(c_pos + 1)[:, None]
    x2 = np.arange(c_neg + 1)[None, :]
    a = (1 - shift) * (2 * x1 - c_pos) + (-1 - shift) * (2 * x2 - c_neg)
    w = binom.pmf(x1, c_pos, 0.5) * binom.pmf(x2, c_neg, 0.5)
    if c_zero == 0 or shift == 0:
        return float(min(1.0, np.sum(w * (np.abs(a) >= t - tol))))
    # B = -shift * (2 X0 - c_zero); P(A + B >= t) + P(A + B <= -t), over X0 ~ Bin(c_zero, 1/2)
    k_hi = (c_zero - (t - tol - a) / shift) / 2  # A + B >= t  <=>  X0 <= k_hi (shift > 0) or X0 >= k_hi (shift < 0)
    k_lo = (c_zero + (t - tol + a) / shift) / 2  # A + B <= -t <=>  X0 >= k_lo (shift > 0) or X0 <= k_lo (shift < 0)
    if shift > 0:
        p = binom.cdf(np.floor(k_hi + 1e-12), c_zero, 0.5) + binom.sf(np.ceil(k_lo - 1e-12) - 1, c_zero, 0.5)
    else:
        p = binom.sf(np.ceil(k_hi - 1e-12) - 1, c_zero, 0.5) + binom.cdf(np.floor(k_lo + 1e-12), c_zero, 0.5)
    return float(min(1.0, np.sum(w * np.minimum(p, 1.0))))


def invert(p_of, center: float, scale: float) -> list[float]:
    """The shifts the test does not reject: bisection outwards from the estimate, where p is 1."""
    step = max(scale, 1e-12)
    bounds = []
    for direction in (-1.0, 1.0):
        inside, outside = center, center + direction * step
        for _ in range(60):
            if p_of(outside) < ALPHA:
                break
            inside, outside = outside, center + 2 * (outside - center)
        while abs(outside - inside) > 1e-6 * step:  # bounds to 1e-6 of a document's weight: far below display
            mid = (inside + outside) / 2
            if p_of(mid) >= ALPHA:
                inside = mid
            else:
                outside = mid
        bounds.append(inside)
    return bounds


def signflip(d: np.ndarray, factor: float, resamples: int, rng) -> Comparison:
    """The comparison of paired differences `d`, delta and CI scaled by `factor` (a count is a mean times n)."""
    n = len(d)
    mean = float(d.mean())
    scale = float(np.abs(d).max()) or 1.0
    if set(np.unique(d)) <= {-1.0, 0.0, 1.0}:
        c_pos, c_neg = int(np.sum(d == 1)), int(np.sum(d == -1))
        c_zero = n - c_pos - c_neg
        if (c_pos + 1) * (c_neg + 1) <= _BINARY_GRID_MAX:
            p = binary_p(c_pos, c_neg, c_zero, 0.0)
            lo, hi = invert(lambda delta: binary_p(c_pos, c_neg, c_zero, delta), mean, scale / n)
            return consistent(mean * factor, [lo * factor, hi * factor], p, "mcnemar-exact", n)
    signs = sign_matrix(n, resamples, rng)
    if signs is None:
        return Comparison(mean * factor, None, None, "sign-flip (needs --resamples > 0)", n)
    exact = n <= EXACT_MAX_N
    p = signflip_p(d, 0.0, signs, exact)
    lo, hi = invert(lambda delta: signflip_p(d, delta, signs, exact), mean, scale / n)
    return consistent(mean * factor, [lo * factor, hi * factor], p, "sign-flip-exact" if exact else "sign-flip", n)
