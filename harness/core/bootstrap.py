"""The bootstrap family: corpus metrics (F1 over classes, corpus ROUGE/BLEU, perplexity from summed NLL, macro
averages by group), recomputed on paired resamples of the documents.

Significant only when the paired permutation test and the expanded percentile interval both reject; the p-value is
the larger of the two, so CI and p agree.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from harness.core import signflip
from harness.core.decision import (
    ALPHA,
    EXACT_MAX_N,
    MIN_CHANGED_CORPUS,
    MIN_PAIRS_CORPUS,
    N_TOO_SMALL,
    POWER_Z,
    Comparison,
    all_patterns,
    consistent,
)

TEST = "paired-bootstrap+permutation"


def percentile_ci(values: np.ndarray) -> list[float]:
    lo, hi = np.nanpercentile(values, [2.5, 97.5])
    return [float(lo), float(hi)]


def expanded_alpha(n: int) -> float:
    """Hesterberg's expanded percentile interval: the percentile level whose normal quantile is
    sqrt(n/(n-1)) * t_{n-1, 0.975}, which corrects the percentile bootstrap's narrowness at small n."""
    z = math.sqrt(n / (n - 1)) * sps.t.ppf(1 - ALPHA / 2, n - 1)
    return float(2 * sps.norm.sf(z))


def bootstrap_p(boot: np.ndarray, n: int) -> float:
    """The expanded percentile interval inverted: the level at which its boundary sits on 0."""
    k = min(np.mean(boot <= 0), np.mean(boot >= 0))
    level = min(1.0, 2 * k)
    if level >= 1.0:
        return 1.0
    level = max(level, 1.0 / len(boot))  # 0 outside every resample: bounded by what R resamples can show
    return float(min(1.0, 2 * sps.t.sf(sps.norm.isf(level / 2) / math.sqrt(n / (n - 1)), n - 1)))


def _chunks(resamples: int, a: np.ndarray) -> list[int]:
    """Resamples in blocks small enough that a block of resampled arrays stays near 32 MB (a 1,000-document run
    at 32,000 resamples would otherwise hold gigabytes)."""
    size = max(1, 4_000_000 // max(1, a.size))
    return [min(size, resamples - start) for start in range(0, resamples, size)]


def swap_p(a: np.ndarray, b: np.ndarray, reduce, delta: float, resamples: int, rng) -> tuple[float, float]:
    """Paired permutation test: each document's two answers swapped between the arms (all patterns when n is small).
    Returns (p, the standard deviation of the permuted differences)."""
    n = len(a)
    tol = abs(delta) - 1e-12 * max(1.0, abs(delta))
    blocks = [all_patterns(n)] if n <= EXACT_MAX_N else (rng.random((r, n)) < 0.5 for r in _chunks(resamples, a))
    permuted = []
    for swap in blocks:
        swap = swap.reshape(swap.shape + (1,) * (a.ndim - 1))
        permuted.append(reduce(np.where(swap, a, b)) - reduce(np.where(swap, b, a)))
    signed = np.concatenate(permuted)
    hits, total = int(np.sum(np.abs(signed) >= tol)), len(signed)
    spread = float(np.std(signed[np.isfinite(signed)])) if np.isfinite(signed).any() else 0.0
    return (float(hits / total) if n <= EXACT_MAX_N else float((1 + hits) / (1 + total))), spread


def bootstrap_decision(delta: float, boot: np.ndarray, n: int, p_swap: float) -> Comparison:
    """Corpus metrics: significant only when the paired permutation test (exact under 'the arms are the same') and
    the expanded bootstrap interval both reject; p is the larger of the two p-values and the CI is widened to 0
    when they do not both reject, so CI and p agree and A/A false alarms stay at or below the permutation test's.
    `n` is the number of units resampled (documents, or clusters)."""
    boot = boot[np.isfinite(boot)]
    if not len(boot):
        return Comparison(float(delta), None, None, TEST, n)
    a = expanded_alpha(n)
    lo, hi = (float(x) for x in np.percentile(boot, [100 * a / 2, 100 * (1 - a / 2)]))
    p = max(bootstrap_p(boot, n), p_swap)
    if p >= ALPHA:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    out = consistent(delta, [lo, hi], p, TEST, n)
    out.min_n = MIN_PAIRS_CORPUS
    return out


def resample_index(n: int, resamples: int, rng, clusters: np.ndarray | None) -> list[np.ndarray]:
    """Bootstrap resamples of document indices, as (R', size) blocks: documents drawn with replacement, or whole
    clusters drawn with replacement (blocks grouped by the resample's size, which then varies)."""
    if clusters is None:
        return [rng.integers(0, n, size=(resamples, n))]
    _, inverse = np.unique(clusters, return_inverse=True)
    k = int(inverse.max()) + 1
    members = [np.flatnonzero(inverse == c) for c in range(k)]
    drawn = [np.concatenate([members[c] for c in row]) for row in rng.integers(0, k, size=(resamples, k))]
    by_size: dict[int, list[np.ndarray]] = {}
    for idx in drawn:
        by_size.setdefault(len(idx), []).append(idx)
    return [np.stack(block) for block in by_size.values()]


MAX_RESAMPLES = 32_000  # resamples are doubled up to this while p is within 2 Monte Carlo errors of alpha


def _beyond_floor(delta: float, sd: float | None, spread: float, n: int, floor: float) -> float:
    """A p-value below the floor the resamples can show, from the normal approximations of both tests' spreads
    (the bootstrap's, `sd`, with Student's t on n - 1, the permutation distribution's): a clear difference can then
    reach ** and *** after Holm without tens of thousands of resamples; never above the floor itself."""
    if not sd or sd <= 0 or spread <= 0:
        return floor
    p_boot = 2 * sps.t.sf(abs(delta) / sd, max(n - 1, 1))
    p_perm = 2 * sps.norm.sf(abs(delta) / spread)
    return float(min(floor, max(p_boot, p_perm)))


def _once(a, b, reduce, delta, resamples, rng, clusters) -> tuple[Comparison, bool]:
    """One bootstrap + swap test at `resamples`; also whether p sat at the floor the resamples allow (then p is
    extended below it by the normal approximation, see _beyond_floor)."""
    boot = np.concatenate([reduce(b[idx]) - reduce(a[idx]) for r in _chunks(resamples, a)
                           for idx in resample_index(len(a), r, rng, clusters)])
    k = len(a) if clusters is None else len(np.unique(clusters))
    p_swap, spread = swap_p(a, b, reduce, delta, resamples, rng)
    out = bootstrap_decision(delta, boot, k, p_swap)
    out.n = len(a)
    sd = float(np.std(boot[np.isfinite(boot)])) if np.isfinite(boot).any() else None
    out.var_unit = None if sd is None else sd * sd * len(a)
    out.mde = None if sd is None else POWER_Z * sd
    floor = max(bootstrap_p(np.ones(resamples), k), 1 / (1 + resamples)) if len(a) > EXACT_MAX_N else 0.0
    at_floor = out.p_value is not None and out.p_value <= floor * (1 + 1e-9)
    if at_floor:
        out.p_value = _beyond_floor(delta, sd, spread, k, floor)
    return out, at_floor


def changed(a: np.ndarray, b: np.ndarray) -> int:
    """Documents whose values differ between the arms."""
    if a.dtype == object:
        return sum(1 for x, y in zip(a, b) if x != y)
    diff = a != b
    return int(np.sum(diff.reshape(len(a), -1).any(axis=1)))


def corpus_compare(a: np.ndarray, b: np.ndarray, reduce, resamples: int, rng, clusters=None,
                   max_resamples: int = MAX_RESAMPLES, budget: tuple[int, int] = signflip.FAST) -> Comparison:
    """tuned (b) - base (a) for a corpus metric, from the arms' per-document arrays (n, ...). With cluster keys the
    bootstrap draws whole clusters. Resamples are doubled (up to `max_resamples`) while p sits within two Monte
    Carlo errors of alpha, so the verdict does not depend on the seed; the error is recorded (none for a p extended
    below the resamples' floor). Too few documents (or changed ones) for the bootstrap: "n too small", with the
    exact sign-flip test (harness.core.signflip, at `budget`) beside it."""
    n = len(a)
    delta = float(reduce(b[None])[0] - reduce(a[None])[0])
    k = None if clusters is None else len(np.unique(clusters))
    moved = None if n < MIN_PAIRS_CORPUS else changed(a, b)
    if moved is None or moved < MIN_CHANGED_CORPUS:
        out = Comparison(delta, None, None, N_TOO_SMALL, n, MIN_PAIRS_CORPUS, n_clusters=k, n_changed=moved)
        return signflip.attach(out, signflip.corpus_test(a, b, reduce, clusters, rng, budget))
    if not resamples:
        return Comparison(delta, None, None, "paired-bootstrap (needs --resamples > 0)", n, MIN_PAIRS_CORPUS,
                          n_clusters=k, n_changed=moved)
    while True:
        out, at_floor = _once(a, b, reduce, delta, resamples, rng, clusters)
        p = out.p_value
        mc = None if p is None else math.sqrt(max(p * (1 - p), 1e-12) / resamples)
        if p is None or at_floor or abs(p - ALPHA) > 2 * mc or resamples * 2 > max_resamples:
            break
        resamples *= 2
    out.mc_error, out.resamples, out.n_clusters, out.n_changed = None if at_floor else mc, resamples, k, moved
    if k is not None:
        out.test = f"{TEST} (clustered: {k} clusters)"
    return out
