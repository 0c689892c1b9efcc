"""Aggregations that statistics recompute on resampled documents, registered by the task family that defines them.

A corpus metric (F1 over classes, corpus ROUGE, a macro average by group) is not a mean of per-document values, so
harness.core.stats cannot test it by flipping signs of per-document differences: it resamples documents and asks
the metric again on every resample. It finds the metric by the name lm-eval records for the aggregation, here:

    @resampled(to_array=..., reduce=...)
    def rouge1_corpus(items): ...

The aggregation function itself stays what lm-eval calls (`!function utils.rouge1_corpus` in the YAML). Without a
vectorised form, statistics call it once per resample, a Python loop over the resamples; `to_array` and `reduce` make
that one numpy call over all of them.

lm-eval executes a utils.py by path once per `!function` reference, as a fresh module named `utils`, while the project
imports the same file as `tasks.<family>.utils`: registration is keyed by name and a repeat from the same family's
file replaces the earlier entry, so any number of executions leave one registration. `lookup` never relies on lm-eval
having loaded anything: it imports every family (a sub-package of this folder with a utils.py) itself, once.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

TASKS_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Resampled:
    """One registered aggregation. `to_array`: per-document values -> array (n, ...); `reduce`: the (R, n, ...)
    arrays of R resamples -> (R,) metric values; `per_document`: values -> (n,) numbers whose mean is the metric
    (then the exact sign-flip test applies instead of the bootstrap)."""

    name: str
    aggregate: Callable[[Sequence], float]
    to_array: Callable | None = None
    reduce: Callable | None = None
    per_document: Callable | None = None
    origin: str = ""


_REGISTRY: dict[str, Resampled] = {}


def _origin(aggregate: Callable) -> str:
    """'<family folder>/<file>' of the code that defines `aggregate`: the same for every execution of one file (and
    for two installed copies of it), different for two families that picked the same name."""
    code = getattr(getattr(aggregate, "func", aggregate), "__code__", None)
    if code is None:
        return repr(aggregate)
    path = Path(code.co_filename)
    return f"{path.parent.name}/{path.name}"


def register(aggregate: Callable[[Sequence], float], name: str | None = None, to_array: Callable | None = None,
             reduce: Callable | None = None, per_document: Callable | None = None) -> Callable[[Sequence], float]:
    """Register `aggregate` under `name` (default: its __name__, which is what lm-eval records) and return it."""
    if (to_array is None) != (reduce is None):
        raise TypeError("resampled: give to_array and reduce together (the vectorised form needs both) or neither")
    key = name or aggregate.__name__
    entry = Resampled(key, aggregate, to_array, reduce, per_document, _origin(aggregate))
    known = _REGISTRY.get(key)
    if known is not None and known.origin != entry.origin:
        # Statistics look aggregations up by name alone: two meanings of one name would silently pick one.
        raise ValueError(f"aggregation {key!r} is registered by {known.origin} and again by {entry.origin}; "
                         "give one of them another name")
    _REGISTRY[key] = entry
    return aggregate


def resampled(name: str | None = None, *, to_array: Callable | None = None, reduce: Callable | None = None,
              per_document: Callable | None = None) -> Callable[[Callable], Callable]:
    """Decorator form of `register`; the decorated function is returned unchanged (lm-eval calls it as it is)."""
    return functools.partial(register, name=name, to_array=to_array, reduce=reduce, per_document=per_document)


def families() -> list[str]:
    """The project's task families: sub-packages of this folder with a utils.py, so a new one needs no list edited."""
    return sorted(d.name for d in TASKS_DIR.iterdir() if (d / "__init__.py").is_file() and (d / "utils.py").is_file())


@functools.lru_cache(maxsize=1)
def _discover() -> None:
    for family in families():
        importlib.import_module(f"{__package__}.{family}.utils")


def lookup(name: str) -> Resampled | None:
    """The registration for aggregation `name`, or None when no task family registers it."""
    _discover()
    return _REGISTRY.get(name)


def registered() -> list[Resampled]:
    _discover()
    return list(_REGISTRY.values())
