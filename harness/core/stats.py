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

This module is the entry point; the parts: harness.core.decision (the record, thresholds, CI/p agreement),
harness.core.signflip, harness.core.bootstrap, and harness.core.aggregations (aggregations by name: lm-eval's generic
ones, and each task's own as its family registers them in tasks.resampling).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.core import aggregations, signflip
from harness.core.bootstrap import corpus_compare, percentile_ci
from harness.core.decision import ALPHA, EXACT_MAX_N, MIN_PAIRS, MIN_PAIRS_CORPUS, N_TOO_SMALL, Comparison

__all__ = ["ALPHA", "EXACT_MAX_N", "MIN_PAIRS", "MIN_PAIRS_CORPUS", "N_TOO_SMALL", "Comparison", "compare", "value_ci"]

def compare(base: Sequence, tuned: Sequence, aggregation: str = "mean", resamples: int = 1000, seed: int = 0) -> Comparison | None:
    """tuned - base for one metric over paired per-document values; None when the aggregation is unknown."""
    n = len(base)
    if n == 0 or n != len(tuned):
        return None
    numeric = aggregations.is_numeric(base) and aggregations.is_numeric(tuned)
    if not aggregations.known(aggregation) and numeric:
        aggregation = "mean"
    rng = np.random.default_rng(seed)
    means = aggregations.mean_values(aggregation, base), aggregations.mean_values(aggregation, tuned)
    if means[0] is not None and means[1] is not None:
        (a, factor), (b, _) = means
        if n < MIN_PAIRS:
            return Comparison(float((b.mean() - a.mean()) * factor), None, None, N_TOO_SMALL, n)
        return signflip.signflip(b - a, factor, resamples, rng)
    spec = aggregations.spec(aggregation)
    if spec is None:
        return None
    to_array, reduce = spec
    return corpus_compare(to_array(base), to_array(tuned), reduce, resamples, rng)


def value_ci(values: Sequence, aggregation: str = "mean", resamples: int = 1000, seed: int = 0) -> list[float] | None:
    """Percentile bootstrap CI of one arm's aggregate (corpus metrics recomputed per resample); None below
    MIN_PAIRS documents."""
    if not values or not resamples or len(values) < MIN_PAIRS:
        return None
    if not aggregations.known(aggregation) and aggregations.is_numeric(values):
        aggregation = "mean"
    spec = aggregations.spec(aggregation)
    if spec is None:
        return None
    to_array, reduce = spec
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(resamples, len(values)))
    return percentile_ci(reduce(to_array(values)[idx]))
