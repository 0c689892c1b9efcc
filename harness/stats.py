"""Paired statistics for adapter - base deltas (numpy / scipy; no torch).

Base and adapter answer the same documents, so every comparison is paired by document:

- CI: percentile bootstrap over documents (the same resampled documents for both arms), seeded and vectorised.
- p-value: exact McNemar (scipy's binomial test on the discordant pairs) when both arms' per-document scores are 0/1
  and the metric is their mean; otherwise a paired permutation test (each document's two scores swapped at random).
- Corpus-level metrics (F1 over classes, corpus BLEU/ROUGE, perplexity from summed NLL) are recomputed from the
  resampled documents on every resample, never averaged from per-document values.
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


@dataclass
class Comparison:
    delta: float
    ci95: list[float] | None
    p_value: float | None
    test: str
    n: int


def _is_numeric(values) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def mcnemar_exact(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided exact McNemar p-value: a binomial test of the discordant pairs (b=1,a=0 vs a=1,b=0) at 1/2."""
    a, b = np.asarray(a), np.asarray(b)
    only_b = int(np.sum((b == 1) & (a == 0)))
    only_a = int(np.sum((a == 1) & (b == 0)))
    if only_a + only_b == 0:
        return 1.0
    return float(sps.binomtest(only_b, only_a + only_b, 0.5).pvalue)


def _percentile_ci(deltas: np.ndarray) -> list[float]:
    lo, hi = np.nanpercentile(deltas, [2.5, 97.5])
    return [float(lo), float(hi)]


# --- vectorised aggregates: per-document values -> array (n, ...); reduce (R, n, ...) -> (R,) ---------------------

def _class_f1(m: np.ndarray, average: str, drop: bool) -> np.ndarray:
    """F1 over the classes 0..4 from (R, n, 2) [gold, pred] arrays, as scikit-learn's f1_score(labels=0..4,
    zero_division=0) computes it; pred -1 (unparseable) is a miss and no class's false positive."""
    gold, pred = m[..., 0], m[..., 1]
    keep = pred != -1 if drop else np.ones_like(pred, bool)
    classes = np.arange(5)[None, None, :]
    g = (gold[..., None] == classes) & keep[..., None]
    p = (pred[..., None] == classes) & keep[..., None]
    tp, n_true, n_pred = (g & p).sum(1), g.sum(1), p.sum(1)  # (R, 5)
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


def compare(base: Sequence, tuned: Sequence, aggregation: str = "mean", resamples: int = 1000, seed: int = 0) -> Comparison | None:
    """tuned - base for one metric over paired per-document values; None when the aggregation is unknown."""
    n = len(base)
    if n == 0 or n != len(tuned):
        return None
    numeric = _is_numeric(base) and _is_numeric(tuned)
    if aggregation not in _aggregators() and numeric:
        aggregation = "mean"
    spec = _vector_spec(aggregation)
    if spec is None:
        return _compare_loop(base, tuned, aggregation, resamples, seed)
    to_array, reduce = spec
    a, b = to_array(base), to_array(tuned)
    delta = float(reduce(b[None])[0] - reduce(a[None])[0])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(resamples, n))
    ci = _percentile_ci(reduce(b[idx]) - reduce(a[idx])) if resamples else None
    if aggregation == "mean" and set(np.unique(a)) <= {0.0, 1.0} and set(np.unique(b)) <= {0.0, 1.0}:
        return Comparison(delta, ci, mcnemar_exact(a, b), "mcnemar-exact", n)
    if not resamples:
        return Comparison(delta, ci, None, "paired-permutation", n)
    swap = (rng.random((resamples, n)) < 0.5).reshape((resamples, n) + (1,) * (a.ndim - 1))
    perm = np.abs(reduce(np.where(swap, a, b)) - reduce(np.where(swap, b, a)))
    p = float((1 + np.sum(perm >= abs(delta) - 1e-12)) / (1 + resamples))
    return Comparison(delta, ci, p, "paired-permutation", n)


def _compare_loop(base, tuned, aggregation, resamples, seed) -> Comparison | None:
    """Corpus metrics with no vectorised form (corpus BLEU): recomputed by their own function on every resample."""
    agg = _aggregators().get(aggregation)
    if agg is None:
        return None
    n = len(base)
    base, tuned = list(base), list(tuned)
    delta = agg(tuned) - agg(base)
    rng = np.random.default_rng(seed)
    boot = [agg([tuned[j] for j in idx]) - agg([base[j] for j in idx]) for idx in rng.integers(0, n, size=(resamples, n))]
    perm = []
    for swap in rng.random((resamples, n)) < 0.5:
        x = [tuned[j] if s else base[j] for j, s in enumerate(swap)]
        y = [base[j] if s else tuned[j] for j, s in enumerate(swap)]
        perm.append(abs(agg(y) - agg(x)))
    ci = _percentile_ci(np.asarray(boot)) if resamples else None
    p = float((1 + np.sum(np.asarray(perm) >= abs(delta) - 1e-12)) / (1 + resamples)) if resamples else None
    return Comparison(float(delta), ci, p, "paired-permutation", n)


def value_ci(values: Sequence, aggregation: str = "mean", resamples: int = 1000, seed: int = 0) -> list[float] | None:
    """Percentile bootstrap CI of one arm's aggregate (corpus metrics recomputed per resample)."""
    if not values or not resamples:
        return None
    if aggregation not in _aggregators() and _is_numeric(values):
        aggregation = "mean"
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(resamples, len(values)))
    spec = _vector_spec(aggregation)
    if spec is not None:
        to_array, reduce = spec
        return _percentile_ci(reduce(to_array(values)[idx]))
    agg = _aggregators().get(aggregation)
    if agg is None:
        return None
    values = list(values)
    return _percentile_ci(np.array([agg([values[j] for j in i]) for i in idx]))
