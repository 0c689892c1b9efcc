"""Paired statistics for adapter - base deltas (numpy / scipy; no torch): one contract for every metric.

Base and adapter answer the same documents, so every comparison is paired by document (the *unit*: a review, a
question, a perplexity document with all its windows). The contract, validated by simulation
(benchmarks/simulate.py, tests/test_stats_simulation.py; the README shows its table):

- Means of per-document values (accuracy, exact match, token F1, per-answer scores): Tango's score interval for
  the difference of paired proportions, on rounded counts for values other than 0/1 (harness.core.score); p is
  the larger of McNemar's score test and McNemar's exact mid-p test, the interval widened to 0 where they disagree.
  It stays honest when few answers change. Values in [0, 1] other than 0/1 enter as the expected counts of a
  randomized rounding to {-1, 0, +1}: any change the sample did not show is priced in at the metric's full range.
- Corpus metrics (F1 over classes, corpus ROUGE/BLEU, perplexity from summed NLL, macro averages by group): a
  paired bootstrap over documents, the metric recomputed on each resample, with the expanded percentile interval,
  significant only when the paired permutation test agrees (harness.core.bootstrap). Resamples are doubled while
  p is within two Monte Carlo errors of 0.05 (the error is recorded); a p below what its resamples can show is
  extended by the normal approximation of both tests' spreads.
- For each comparison the 95% CI and the raw p-value come from one procedure: "CI excludes 0" and "p < 0.05" are
  the same statement. Stars use p adjusted over the run's family (harness.core.multiplicity: Holm by default).
- Questions that share a document (a task's `cluster` key) are resampled, or their variance estimated, by
  cluster; `n_clusters` is recorded. Strata (MMLU subjects) are not clusters.
- A document without a value on either side is left out of that comparison and counted (`n_missing`).
- Every comparison carries `mde`, the effect detectable with 80% power at two-sided 5%, and `var_unit`, from which
  n_needed() plans the documents another effect needs.
- Below MIN_PAIRS paired units (MIN_PAIRS_CORPUS for corpus metrics, MIN_CLUSTERS clusters) there is no comparison:
  the record says "n too small", with no CI and no p-value; so too for a corpus metric whose values differ between
  the arms on fewer than MIN_CHANGED_CORPUS documents (its bootstrap would be far too narrow). Beside it: the exact
  sign-flip test (harness.core.signflip, valid at any n) as p_exact, and the units whose value rose and fell (n_up,
  n_down); p_exact is no p_value: it joins no family and decides no gate.
- Per-arm values: Wilson intervals for proportions (on the effective n for other values in [0, 1] and for
  clusters), a t interval for other means, the percentile bootstrap for corpus metrics.

The parts: harness.core.decision (the record, thresholds, power), harness.core.score, harness.core.bootstrap,
harness.core.multiplicity, and harness.core.aggregations (aggregations by name: lm-eval's generic ones, and each
task's own as its family registers them in tasks.resampling).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from harness.core import aggregations, signflip
from harness.core.bootstrap import MAX_RESAMPLES, corpus_compare, percentile_ci, resample_index
from harness.core.decision import (
    ALPHA,
    MIN_CHANGED_CORPUS,
    MIN_PAIRS,
    MIN_PAIRS_CORPUS,
    N_TOO_SMALL,
    Comparison,
    n_needed,
    too_small,
)
from harness.core.multiplicity import adjust
from harness.core.score import design_effect, score_compare, value_range

__all__ = ["ALPHA", "MIN_CHANGED_CORPUS", "MIN_CLUSTERS", "MIN_PAIRS", "MIN_PAIRS_CORPUS", "N_TOO_SMALL", "SEED", "Comparison", "adjust",
           "compare", "n_needed", "too_small", "value_ci"]

SEED = 0  # the one resampling seed, for `harness run` and `harness report` alike
MIN_CLUSTERS = 10  # fewer clusters than this: no interval can be trusted


def _present(v) -> bool:
    if v is None:
        return False
    if isinstance(v, float):
        return math.isfinite(v)
    return True


def _pairs(base: Sequence, tuned: Sequence, clusters: Sequence | None):
    keep = [i for i in range(len(base)) if _present(base[i]) and _present(tuned[i])]
    cl = None if clusters is None else np.asarray([str(clusters[i]) for i in keep])
    return [base[i] for i in keep], [tuned[i] for i in keep], cl, len(base) - len(keep)


def compare(base: Sequence, tuned: Sequence, aggregation: str = "mean", resamples: int = 1000, seed: int = SEED,
            clusters: Sequence | None = None) -> Comparison | None:
    """tuned - base for one metric over paired per-document values; None when the aggregation is unknown or the
    lengths differ. `clusters`: a key per document (documents sharing one are resampled together)."""
    if len(base) != len(tuned) or (clusters is not None and len(clusters) != len(base)):
        return None
    base, tuned, cl, missing = _pairs(base, tuned, clusters)
    out = _compare(base, tuned, aggregation, resamples, seed, cl)
    if out is not None:
        out.n_missing = missing
    return out


def _compare(base, tuned, aggregation, resamples, seed, cl) -> Comparison | None:
    n = len(base)
    if n == 0:
        return None
    numeric = aggregations.is_numeric(base) and aggregations.is_numeric(tuned)
    if not aggregations.known(aggregation) and numeric:
        aggregation = "mean"
    k = None if cl is None else len(set(cl))
    means = aggregations.mean_values(aggregation, base), aggregations.mean_values(aggregation, tuned)
    if means[0] is not None and means[1] is not None:
        (a, factor), (b, _) = means
        if n < MIN_PAIRS or (k is not None and k < MIN_CLUSTERS):
            out = Comparison(float((b.mean() - a.mean()) * factor), None, None, N_TOO_SMALL, n, n_clusters=k)
            return signflip.attach(out, signflip.mean_test(b - a, cl, np.random.default_rng(seed)))
        return score_compare(b - a, factor, cl, value_range(np.concatenate([a, b])) if factor == 1.0 else 1.0)
    spec = aggregations.spec(aggregation)
    if spec is None:
        return None
    to_array, reduce = spec
    # an aggregation without a vectorised form is called once per resample in Python: few doublings only
    vector = aggregations.vector_spec(aggregation) is not None
    budget = signflip.FAST if vector else signflip.SLOW
    if k is not None and k < MIN_CLUSTERS:
        a_, b_ = to_array(base), to_array(tuned)
        delta = float(reduce(b_[None])[0] - reduce(a_[None])[0])
        out = Comparison(delta, None, None, N_TOO_SMALL, n, MIN_PAIRS_CORPUS, n_clusters=k)
        return signflip.attach(out, signflip.corpus_test(a_, b_, reduce, cl, np.random.default_rng(seed), budget))
    most = MAX_RESAMPLES if vector else 4 * resamples
    return corpus_compare(to_array(base), to_array(tuned), reduce, resamples, np.random.default_rng(seed), cl, most,
                          budget)


def wilson(p: float, n: float) -> list[float]:
    """Wilson's score interval for a proportion p observed on n (possibly effective) trials."""
    from scipy.stats import norm

    z = float(norm.isf(ALPHA / 2))
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [max(0.0, centre - half), min(1.0, centre + half)]


def _mean_ci(x: np.ndarray, factor: float, cl) -> list[float]:
    """A mean's interval: Wilson for values in [0, 1] (on the effective n: n / design effect for 0/1 values,
    p(1-p) / Var(mean) otherwise), a t interval for other values."""
    from scipy.stats import t

    n, mean = len(x), float(x.mean())
    deff, k = design_effect(x, cl)
    if x.min() >= 0 and x.max() <= 1:
        binary = bool(np.all((x == 0) | (x == 1)))
        var_mean = float(x.var(ddof=1)) / n * deff if n > 1 else 0.0
        n_eff = n / deff if binary or var_mean <= 0 or mean in (0.0, 1.0) else min(n, mean * (1 - mean) / var_mean)
        lo, hi = wilson(mean, max(n_eff, 1.0))
    else:
        se = math.sqrt(float(x.var(ddof=1)) / n * deff) if n > 1 else 0.0
        q = float(t.isf(ALPHA / 2, max((k or n) - 1, 1)))
        lo, hi = mean - q * se, mean + q * se
    return [lo * factor, hi * factor]


def value_ci(values: Sequence, aggregation: str = "mean", resamples: int = 1000, seed: int = SEED,
             clusters: Sequence | None = None) -> list[float] | None:
    """One arm's 95% interval; None below MIN_PAIRS documents (or MIN_CLUSTERS clusters). Missing values are left
    out."""
    keep = [i for i, v in enumerate(values) if _present(v)]
    values = [values[i] for i in keep]
    cl = None if clusters is None else np.asarray([str(clusters[i]) for i in keep])
    if len(values) < MIN_PAIRS or (cl is not None and len(set(cl)) < MIN_CLUSTERS):
        return None
    if not aggregations.known(aggregation) and aggregations.is_numeric(values):
        aggregation = "mean"
    means = aggregations.mean_values(aggregation, values)
    if means is not None:
        return _mean_ci(*means, cl)
    spec = aggregations.spec(aggregation)
    if spec is None or not resamples:
        return None
    to_array, reduce = spec
    m = to_array(values)
    rng = np.random.default_rng(seed)
    return percentile_ci(np.concatenate([reduce(m[idx]) for idx in resample_index(len(values), resamples, rng, cl)]))
