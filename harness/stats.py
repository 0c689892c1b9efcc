"""Paired statistics for adapter - base deltas (numpy / scipy; no torch): one contract for every metric.

Base and adapter answer the same documents, so every comparison is paired by document (the *unit*: a review, a
question, a perplexity document with all its windows), and for every comparison the 95% CI and the p-value come
from ONE procedure, so "CI excludes 0" and "p < 0.05" always agree:

- Metrics that are a mean of per-document values (accuracy, exact match, token F1, per-answer ROUGE/BLEU, n_parsed):
  the paired sign-flip test of the mean difference. 0/1 values: computed exactly at any n (at delta 0 it is the exact
  McNemar test). Other values: every sign pattern enumerated when n <= EXACT_MAX_N, random sign patterns otherwise.
  The CI is the test inverted: every shift delta0 the test does not reject at 5% when applied to d - delta0.
- Corpus metrics (F1 over classes, corpus ROUGE/BLEU, perplexity from summed NLL, macro averages by group): a paired
  bootstrap over documents, the metric recomputed on each resample; the CI is the expanded percentile interval
  (percentiles widened by sqrt(n/(n-1)) * t_{n-1} for small-sample coverage) and the p-value is that interval
  inverted: the largest level at which the interval still excludes 0.
- Below MIN_PAIRS paired units (MIN_PAIRS_CORPUS for corpus metrics) there is no comparison: the record says
  "n too small", with no CI and no p-value.

tests/test_stats_simulation.py checks CI coverage and A/A false alarms by simulation for every metric kind.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

ALPHA = 0.05


def _weighted_perplexity(items):
    ll = sum(i[0] for i in items)
    n = sum(i[1] for i in items)
    return math.exp(-ll / n) if n else float("nan")


def _bits_per_byte(items):
    ll = sum(i[0] for i in items)
    n = sum(i[1] for i in items)
    return -ll / n / math.log(2) if n else float("nan")


@functools.lru_cache(maxsize=1)
def _aggregators() -> dict[str, Callable[[Sequence], float]]:
    from tasks.docqa import utils as docqa
    from tasks.yelp import utils as yelp

    out: dict[str, Callable] = {
        "mean": lambda xs: float(np.mean(xs)), "weighted_perplexity": _weighted_perplexity,
        "bits_per_byte": _bits_per_byte, "perplexity": lambda xs: math.exp(-float(np.mean(xs))),
        "count": lambda xs: float(sum(xs)),
    }
    for name in ("accuracy", "f1_micro", "f1_macro", "f1_weighted", "accuracy_drop", "f1_micro_drop",
                 "f1_macro_drop", "f1_weighted_drop"):
        out[name] = getattr(yelp, name)
    for name in ("rouge1_corpus", "rouge2_corpus", "rougeL_corpus", "bleu4_corpus"):
        out[name] = getattr(docqa, name)
    from tasks.general_mc import utils as general_mc

    out["macro_by_group"] = general_mc.macro_by_group
    return out


MIN_PAIRS = 10  # means of per-document values: fewer paired units than this is "n too small" (no CI, no p-value)
MIN_PAIRS_CORPUS = 20  # corpus metrics: the bootstrap needs more units to cover (see tests/test_stats_simulation.py)
EXACT_MAX_N = 16  # up to 2**16 sign patterns are enumerated
_BINARY_GRID_MAX = 250_000  # exact 0/1 inversion: (discordant+1)**2 grid points; above it, random sign patterns
N_TOO_SMALL = "n too small"


@dataclass
class Comparison:
    delta: float
    ci95: list[float] | None
    p_value: float | None
    test: str
    n: int
    min_n: int = MIN_PAIRS

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < ALPHA


def _is_numeric(values) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _percentile_ci(deltas: np.ndarray) -> list[float]:
    lo, hi = np.nanpercentile(deltas, [2.5, 97.5])
    return [float(lo), float(hi)]


# --- vectorised aggregates: per-document values -> array (n, ...); reduce (R, n, ...) -> (R,) ---------------------

def _class_f1(m: np.ndarray, average: str, drop: bool) -> np.ndarray:
    """F1 over the classes 0..4 from (R, n, 2) [gold, pred] arrays, as scikit-learn's f1_score(labels=0..4,
    zero_division=0) computes it; pred -1 (unparseable) is a miss and no class's false positive."""
    # One confusion matrix per resample by bincount over (resample, gold, pred + 1) codes: O(R n), where comparing
    # every document with every class would build several (R, n, 5) arrays (the bulk of a Yelp comparison's time).
    r = len(m)
    gold, pred = m[..., 0].astype(np.int64), m[..., 1].astype(np.int64) + 1  # pred 0: unparseable
    flat = ((np.arange(r)[:, None] * 5 + gold) * 6 + pred).ravel()
    confusion = np.bincount(flat, minlength=r * 30).reshape(r, 5, 6)
    if drop:
        confusion = confusion[..., 1:]  # an unparseable answer leaves the sample altogether
    tp = np.diagonal(confusion[..., -5:], axis1=1, axis2=2)  # (R, 5)
    n_true, n_pred = confusion.sum(2), confusion[..., -5:].sum(1)
    if average == "micro":
        denom = n_true.sum(1) + n_pred.sum(1)
        return np.divide(2 * tp.sum(1), denom, out=np.zeros(len(m)), where=denom > 0)
    f1 = np.divide(2 * tp, n_true + n_pred, out=np.zeros(tp.shape), where=(n_true + n_pred) > 0)
    if average == "macro":
        return f1.mean(1)
    support = n_true.sum(1)
    return np.divide((f1 * n_true).sum(1), support, out=np.zeros(len(m)), where=support > 0)


def _class_accuracy(m: np.ndarray, drop: bool) -> np.ndarray:
    gold, pred = m[..., 0], m[..., 1]
    keep = pred != -1 if drop else np.ones_like(pred, bool)
    n = keep.sum(1)
    return np.divide(((gold == pred) & keep).sum(1), n, out=np.zeros(len(m)), where=n > 0)


def _ratio_sum(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return m[..., 0].sum(1), m[..., 1].sum(1)


def _rouge_corpus(m: np.ndarray) -> np.ndarray:
    matches, pred, ref = m[..., 0].sum(1), m[..., 1].sum(1), m[..., 2].sum(1)
    p = np.divide(matches, pred, out=np.zeros(len(m)), where=pred > 0)
    r = np.divide(matches, ref, out=np.zeros(len(m)), where=ref > 0)
    return np.divide(2 * p * r, p + r, out=np.zeros(len(m)), where=(p + r) > 0)


def _group_array(values) -> np.ndarray:
    codes: dict = {}
    return np.asarray([[codes.setdefault(g, len(codes)), float(v)] for g, v in values], dtype=float)


def _group_macro(m: np.ndarray) -> np.ndarray:
    """Mean of per-group means for each of R resamples, from (R, n, 2) [group code, value] arrays; a group absent
    from a resample does not count (as when the metric is computed on that sample directly)."""
    r, n = m.shape[:2]
    codes = m[..., 0].astype(np.int64)
    g = int(codes.max()) + 1 if codes.size else 1
    flat = (np.arange(r)[:, None] * g + codes).ravel()
    sums = np.bincount(flat, weights=m[..., 1].ravel(), minlength=r * g).reshape(r, g)
    counts = np.bincount(flat, minlength=r * g).reshape(r, g)
    means = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    present = (counts > 0).sum(1)
    return np.divide(means.sum(1), present, out=np.zeros(r), where=present > 0)


def _vector_spec(aggregation: str):
    pairs = lambda vs: np.asarray(vs, dtype=np.int64)  # noqa: E731
    floats = lambda vs: np.asarray(vs, dtype=float)  # noqa: E731
    if aggregation == "mean":
        return floats, lambda m: m.mean(1)
    if aggregation == "count":
        return floats, lambda m: m.sum(1)
    if aggregation in ("accuracy", "accuracy_drop"):
        return pairs, lambda m: _class_accuracy(m, aggregation.endswith("_drop"))
    if aggregation.startswith("f1_") and aggregation.split("_")[1] in ("micro", "macro", "weighted"):
        return pairs, lambda m: _class_f1(m, aggregation.split("_")[1], aggregation.endswith("_drop"))
    if aggregation == "macro_by_group":
        return _group_array, _group_macro
    if aggregation == "weighted_perplexity":
        return floats, lambda m: np.exp(-np.divide(*_ratio_sum(m)))
    if aggregation == "bits_per_byte":
        return floats, lambda m: -np.divide(*_ratio_sum(m)) / math.log(2)
    if aggregation in ("rouge1_corpus", "rouge2_corpus", "rougeL_corpus"):
        key = aggregation.removesuffix("_corpus")
        return (lambda vs: np.asarray([[v[key]["matches"], v[key]["pred_len"], v[key]["ref_len"]] for v in vs], float),
                _rouge_corpus)
    return None


def _spec(aggregation: str):
    """(to_array, reduce) for an aggregation: the vectorised form when there is one, else the task's own function
    applied to each resample (corpus BLEU), over an object array so that resampling and swapping work the same."""
    spec = _vector_spec(aggregation)
    if spec is not None:
        return spec
    agg = _aggregators().get(aggregation)
    if agg is None:
        return None

    def to_array(values) -> np.ndarray:
        out = np.empty(len(values), dtype=object)
        for i, v in enumerate(values):  # element by element: numpy would read a list of pairs as a 2-d array
            out[i] = v
        return out

    return to_array, lambda m: np.array([agg(list(row)) for row in m])


# --- the sign-flip family: a mean of per-document values ---------------------------------------------------------

def _mean_values(aggregation: str, values: Sequence) -> tuple[np.ndarray, float] | None:
    """Per-document numbers whose mean (times a scale) is the metric, or None for a corpus metric."""
    if aggregation == "mean" and _is_numeric(values):
        return np.asarray(values, dtype=float), 1.0
    if aggregation == "count" and _is_numeric(values):
        return np.asarray(values, dtype=float), float(len(values))
    if aggregation == "accuracy":  # [gold, pred] pairs: the mean of gold == pred
        m = np.asarray(values, dtype=np.int64)
        return (m[:, 0] == m[:, 1]).astype(float), 1.0
    return None


def _all_patterns(n: int) -> np.ndarray:
    """Every one of the 2**n flip (or swap) patterns of n documents, as booleans; the identity (none) included."""
    return (np.arange(2 ** n)[:, None] >> np.arange(n)[None, :] & 1).astype(bool)


def _sign_matrix(n: int, resamples: int, rng) -> np.ndarray | None:
    if n <= EXACT_MAX_N:
        return np.where(_all_patterns(n), -1.0, 1.0)
    if not resamples:
        return None
    return np.where(rng.random((resamples, n)) < 0.5, -1.0, 1.0)


def _signflip_p(d: np.ndarray, shift: float, signs: np.ndarray, exact: bool) -> float:
    x = d - shift
    t = abs(x.sum())
    hits = np.sum(np.abs(signs @ x) >= t - 1e-9 * max(1.0, t))
    return float(hits / len(signs)) if exact else float((1 + hits) / (1 + len(signs)))


def _binary_p(c_pos: int, c_neg: int, c_zero: int, shift: float) -> float:
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


def _invert(p_of, center: float, scale: float) -> list[float]:
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


def _signflip(d: np.ndarray, factor: float, resamples: int, rng) -> Comparison:
    n = len(d)
    mean = float(d.mean())
    scale = float(np.abs(d).max()) or 1.0
    if set(np.unique(d)) <= {-1.0, 0.0, 1.0}:
        c_pos, c_neg = int(np.sum(d == 1)), int(np.sum(d == -1))
        c_zero = n - c_pos - c_neg
        if (c_pos + 1) * (c_neg + 1) <= _BINARY_GRID_MAX:
            p = _binary_p(c_pos, c_neg, c_zero, 0.0)
            lo, hi = _invert(lambda delta: _binary_p(c_pos, c_neg, c_zero, delta), mean, scale / n)
            return _consistent(mean * factor, [lo * factor, hi * factor], p, "mcnemar-exact", n)
    signs = _sign_matrix(n, resamples, rng)
    if signs is None:
        return Comparison(mean * factor, None, None, "sign-flip (needs --resamples > 0)", n)
    exact = n <= EXACT_MAX_N
    p = _signflip_p(d, 0.0, signs, exact)
    lo, hi = _invert(lambda delta: _signflip_p(d, delta, signs, exact), mean, scale / n)
    return _consistent(mean * factor, [lo * factor, hi * factor], p, "sign-flip-exact" if exact else "sign-flip", n)


def _consistent(delta: float, ci: list[float], p: float, test: str, n: int) -> Comparison:
    """One decision: the CI is the test inverted, so it excludes 0 exactly when p < alpha. Bisection finds the
    boundary to within float tolerance; where a boundary sits on 0 itself, it is moved to agree with p."""
    lo, hi = ci
    if p < ALPHA and lo <= 0 <= hi:
        lo, hi = (max(lo, np.nextafter(0.0, 1.0)), hi) if delta > 0 else (lo, min(hi, np.nextafter(0.0, -1.0)))
    elif p >= ALPHA and not lo <= 0 <= hi:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    return Comparison(float(delta), [float(lo), float(hi)], float(p), test, n)


# --- the bootstrap family: corpus metrics ------------------------------------------------------------------------

def _expanded_alpha(n: int) -> float:
    """Hesterberg's expanded percentile interval: the percentile level whose normal quantile is
    sqrt(n/(n-1)) * t_{n-1, 0.975}, which corrects the percentile bootstrap's narrowness at small n."""
    z = math.sqrt(n / (n - 1)) * sps.t.ppf(1 - ALPHA / 2, n - 1)
    return float(2 * sps.norm.sf(z))


def _bootstrap_p(boot: np.ndarray, n: int) -> float:
    """The expanded percentile interval inverted: the level at which its boundary sits on 0."""
    k = min(np.mean(boot <= 0), np.mean(boot >= 0))
    level = min(1.0, 2 * k)
    if level >= 1.0:
        return 1.0
    level = max(level, 1.0 / len(boot))  # 0 outside every resample: bounded by what R resamples can show
    return float(min(1.0, 2 * sps.t.sf(sps.norm.isf(level / 2) / math.sqrt(n / (n - 1)), n - 1)))


def _swap_p(a: np.ndarray, b: np.ndarray, reduce, delta: float, resamples: int, rng) -> float:
    """Paired permutation test: each document's two answers swapped between the arms (all patterns when n is small)."""
    n = len(a)
    if n <= EXACT_MAX_N:
        swap = _all_patterns(n)
    else:
        swap = rng.random((resamples, n)) < 0.5
    swap = swap.reshape(swap.shape + (1,) * (a.ndim - 1))
    stat = np.abs(reduce(np.where(swap, a, b)) - reduce(np.where(swap, b, a)))
    hits = np.sum(stat >= abs(delta) - 1e-12 * max(1.0, abs(delta)))
    return float(hits / len(swap)) if n <= EXACT_MAX_N else float((1 + hits) / (1 + len(swap)))


def _bootstrap_decision(delta: float, boot: np.ndarray, n: int, p_swap: float) -> Comparison:
    """Corpus metrics: significant only when the paired permutation test (exact under 'the arms are the same') and
    the expanded bootstrap interval both reject; p is the larger of the two p-values and the CI is widened to 0
    when they do not both reject, so CI and p agree and A/A false alarms stay at or below the permutation test's."""
    boot = boot[np.isfinite(boot)]
    if not len(boot):
        return Comparison(float(delta), None, None, "paired-bootstrap+permutation", n)
    a = _expanded_alpha(n)
    lo, hi = (float(x) for x in np.percentile(boot, [100 * a / 2, 100 * (1 - a / 2)]))
    p = max(_bootstrap_p(boot, n), p_swap)
    if p >= ALPHA:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    out = _consistent(delta, [lo, hi], p, "paired-bootstrap+permutation", n)
    out.min_n = MIN_PAIRS_CORPUS
    return out


def compare(base: Sequence, tuned: Sequence, aggregation: str = "mean", resamples: int = 1000, seed: int = 0) -> Comparison | None:
    """tuned - base for one metric over paired per-document values; None when the aggregation is unknown."""
    n = len(base)
    if n == 0 or n != len(tuned):
        return None
    numeric = _is_numeric(base) and _is_numeric(tuned)
    if aggregation not in _aggregators() and numeric:
        aggregation = "mean"
    rng = np.random.default_rng(seed)
    means = _mean_values(aggregation, base), _mean_values(aggregation, tuned)
    if means[0] is not None and means[1] is not None:
        (a, factor), (b, _) = means
        if n < MIN_PAIRS:
            return Comparison(float((b.mean() - a.mean()) * factor), None, None, N_TOO_SMALL, n)
        return _signflip(b - a, factor, resamples, rng)
    spec = _spec(aggregation)
    if spec is None:
        return None
    to_array, reduce = spec
    a, b = to_array(base), to_array(tuned)
    delta = float(reduce(b[None])[0] - reduce(a[None])[0])
    if n < MIN_PAIRS_CORPUS:
        return Comparison(delta, None, None, N_TOO_SMALL, n, MIN_PAIRS_CORPUS)
    if not resamples:
        return Comparison(delta, None, None, "paired-bootstrap (needs --resamples > 0)", n, MIN_PAIRS_CORPUS)
    idx = rng.integers(0, n, size=(resamples, n))
    boot = reduce(b[idx]) - reduce(a[idx])
    return _bootstrap_decision(delta, boot, n, _swap_p(a, b, reduce, delta, resamples, rng))


def value_ci(values: Sequence, aggregation: str = "mean", resamples: int = 1000, seed: int = 0) -> list[float] | None:
    """Percentile bootstrap CI of one arm's aggregate (corpus metrics recomputed per resample); None below
    MIN_PAIRS documents."""
    if not values or not resamples or len(values) < MIN_PAIRS:
        return None
    if aggregation not in _aggregators() and _is_numeric(values):
        aggregation = "mean"
    spec = _spec(aggregation)
    if spec is None:
        return None
    to_array, reduce = spec
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(resamples, len(values)))
    return _percentile_ci(reduce(to_array(values)[idx]))
