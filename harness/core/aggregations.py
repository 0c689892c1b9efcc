"""Aggregations by the name lm-eval records for them: lm-eval's generic ones here, a task's own (corpus F1, corpus
ROUGE, macro by group, ...) registered by its family in tasks.resampling, so adding one edits no file of harness.

For statistics an aggregation comes in up to three forms: the function itself (applied to each resample when
there is nothing faster), a vectorised form (per-document values -> array (n, ...); (R, n, ...) -> (R,)), and
per-document numbers whose mean is the metric (which the score interval handles instead of the bootstrap).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from tasks import resampling


def weighted_perplexity(items) -> float:
    ll = sum(i[0] for i in items)
    n = sum(i[1] for i in items)
    return math.exp(-ll / n) if n else float("nan")


def bits_per_byte(items) -> float:
    ll = sum(i[0] for i in items)
    n = sum(i[1] for i in items)
    return -ll / n / math.log(2) if n else float("nan")


GENERIC: dict[str, Callable[[Sequence], float]] = {
    "mean": lambda xs: float(np.mean(xs)), "weighted_perplexity": weighted_perplexity,
    "bits_per_byte": bits_per_byte, "perplexity": lambda xs: math.exp(-float(np.mean(xs))),
    "count": lambda xs: float(sum(xs)),
}


def _floats(values) -> np.ndarray:
    return np.asarray(values, dtype=float)


def _ratio_sum(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return m[..., 0].sum(1), m[..., 1].sum(1)


_GENERIC_VECTOR = {
    "mean": (_floats, lambda m: m.mean(1)),
    "count": (_floats, lambda m: m.sum(1)),
    "weighted_perplexity": (_floats, lambda m: np.exp(-np.divide(*_ratio_sum(m)))),
    "bits_per_byte": (_floats, lambda m: -np.divide(*_ratio_sum(m)) / math.log(2)),
}


def _task(aggregation: str) -> resampling.Resampled | None:
    # lm-eval's own names keep lm-eval's meaning, whatever a task registers.
    return None if aggregation in GENERIC else resampling.lookup(aggregation)


def aggregators() -> dict[str, Callable[[Sequence], float]]:
    """Every known aggregation by name."""
    return {**{r.name: r.aggregate for r in resampling.registered()}, **GENERIC}


def known(aggregation: str) -> bool:
    return aggregation in GENERIC or _task(aggregation) is not None


def is_numeric(values) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def mean_values(aggregation: str, values: Sequence) -> tuple[np.ndarray, float] | None:
    """Per-document numbers whose mean (times a scale) is the metric, or None for a corpus metric."""
    if aggregation == "mean" and is_numeric(values):
        return np.asarray(values, dtype=float), 1.0
    if aggregation == "count" and is_numeric(values):
        return np.asarray(values, dtype=float), float(len(values))
    task = _task(aggregation)
    if task is not None and task.per_document is not None:
        return np.asarray(task.per_document(values), dtype=float), 1.0
    return None


def vector_spec(aggregation: str):
    """(to_array, reduce) when the aggregation has a vectorised form, else None."""
    if aggregation in _GENERIC_VECTOR:
        return _GENERIC_VECTOR[aggregation]
    task = _task(aggregation)
    if task is not None and task.reduce is not None:
        return task.to_array, task.reduce
    return None


def _objects(values) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):  # element by element: numpy would read a list of pairs as a 2-d array
        out[i] = v
    return out


def spec(aggregation: str):
    """(to_array, reduce) for an aggregation: the vectorised form when there is one, else the aggregation itself
    applied to each resample (corpus BLEU), over an object array so that resampling and swapping work the same."""
    vector = vector_spec(aggregation)
    if vector is not None:
        return vector
    task = _task(aggregation)
    agg = GENERIC.get(aggregation) or (task.aggregate if task is not None else None)
    if agg is None:
        return None
    return _objects, lambda m: np.array([agg(list(row)) for row in m])
