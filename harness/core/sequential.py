"""Evaluation that stops once the verdict is decided: the document order every arm shares, the chunk schedule, and
anytime-valid bounds for the mean of per-document values in [0, 1].

A fixed-n interval checked after every chunk, with the run stopped at the first decisive one, is wrong far more
often than 2.5% a side: every look is another chance. A confidence *sequence* holds at every n at once, so stopping
whenever it excludes a rule's threshold keeps the rule's error rate. The bounds here are betting confidence
sequences (Waudby-Smith & Ramdas 2023, JRSS-B 86(1), "Estimating means of bounded random variables by betting"):
for a candidate mean m, a gambler bets the fraction lambda_i of her capital that the next value x_i is above m; her
capital prod(1 + lambda_i (x_i - m)) is a non-negative supermartingale when the true mean is <= m, so by Ville's
inequality it ever reaches 1/alpha with probability <= alpha. Every m whose capital reached 1/alpha is ruled out,
and the lower bound is the largest such m. The bets use the paper's predictable plug-in
lambda_i = min(sqrt(2 log(1/alpha) / (sigma_{i-1}^2 i log(1 + i))), C): they depend on earlier values only, and
they do not depend on m (so the capital falls with m and the bound is found by bisection). The upper bound is the
same bet on 1 - x. Each bound holds at one-sided 2.5%, the level every gate check is a test at.

The guarantee is for documents in random order from the population the test set was drawn from (the same model
as every fixed-n test here); `order` makes the order random, seeded, and the same for every arm. Clustered
documents are not independent, and a corpus metric (F1 over classes) is no mean: neither has a bound here.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from harness.core import aggregations
from harness.core.arms import BASE_ARM
from harness.core.comparisons import aggregation, doc_clusters, doc_values

ALPHA_SIDE = 0.025  # each bound: one-sided, as each gate check is
FIRST_CHUNK = 64
BET_CAP = 0.75  # the largest fraction ever bet: 1 + 0.75 (x - m) >= 0.25 for every x, m in [0, 1]
METHOD = ("betting confidence sequence (Waudby-Smith & Ramdas 2023, predictable plug-in), one-sided 2.5% per bound, "
          "documents in a seeded random order")


def order(doc_ids: Sequence, seed: int) -> list:
    """The documents in the order they are scored: sorted by sha256(seed:doc_id), which no library version changes,
    the same for every arm and every rerun with this seed."""
    return sorted(doc_ids, key=lambda d: hashlib.sha256(f"{seed}:{d}".encode()).hexdigest())


def schedule(n: int, first: int = FIRST_CHUNK, cap: int | None = None) -> list[int]:
    """How many documents have been scored after each chunk: first, then doubling, ending at min(n, cap)."""
    end = n if cap is None else min(n, cap)
    looks, k = [], max(1, first)
    while k < end:
        looks.append(k)
        k *= 2
    return looks + [end] if end > 0 else []


def _bets(x: np.ndarray, alpha: float) -> np.ndarray:
    """lambda_i from x_1..x_{i-1} only (the predictable plug-in, its prior mean 1/2 and variance 1/4)."""
    i = np.arange(1, len(x) + 1, dtype=float)
    mu = (0.5 + np.concatenate([[0.0], np.cumsum(x)[:-1]])) / i  # mean of the values before i, with the prior
    # running variance about the running mean before each value, as the paper's sigma_hat: (1/4 + sum (x_j - mu_j)^2) / (j + 1)
    sq = np.concatenate([[0.0], np.cumsum((x - mu) ** 2)[:-1]])
    var = (0.25 + sq) / i
    lam = np.sqrt(2 * math.log(1 / alpha) / (var * i * np.log1p(i)))
    return np.minimum(lam, BET_CAP)


def _log_capital(x: np.ndarray, lam: np.ndarray, m: float, ends: np.ndarray) -> np.ndarray:
    """log capital against mean m after each look (cumulative counts `ends`)."""
    return np.cumsum(np.log1p(lam * (x - m)))[ends - 1]


def _lower(x: np.ndarray, ends: np.ndarray, alpha: float) -> float:
    """The largest m ruled out at some look (the running intersection over the looks), 0 when none is."""
    lam, target = _bets(x, alpha), math.log(1 / alpha)
    if _log_capital(x, lam, 0.0, ends).max() < target:
        return 0.0
    lo, hi = 0.0, 1.0  # capital >= 1/alpha at some look for lo, never for hi (capital falls as m rises)
    for _ in range(50):
        mid = (lo + hi) / 2
        if _log_capital(x, lam, mid, ends).max() >= target:
            lo = mid
        else:
            hi = mid
    return lo


def bounds(values: Sequence[float], looks: Sequence[int] | None = None,
           alpha: float = ALPHA_SIDE) -> tuple[float, float]:
    """(lower, upper) bounds for the mean of values in [0, 1], in the order they were scored, at the last look: each
    holds at one-sided `alpha` whatever the looks, which are the counts after each chunk (default: every value)."""
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return 0.0, 1.0
    if np.any((x < 0) | (x > 1)) or not np.all(np.isfinite(x)):
        raise ValueError("betting bounds need values in [0, 1]")
    ends = np.arange(1, len(x) + 1) if looks is None else np.asarray([k for k in looks if 0 < k <= len(x)], int)
    if len(ends) == 0 or ends[-1] != len(x):
        ends = np.append(ends, len(x))
    return _lower(x, ends, alpha), 1.0 - _lower(1.0 - x, ends, alpha)


def difference_bounds(diffs: Sequence[float], looks: Sequence[int] | None = None,
                      alpha: float = ALPHA_SIDE) -> tuple[float, float]:
    """The same for the mean of paired differences in [-1, 1] (an arm's value minus the base's, each in [0, 1])."""
    lo, hi = bounds((np.asarray(diffs, dtype=float) + 1) / 2, looks, alpha)
    return 2 * lo - 1, 2 * hi - 1


def in_unit_range(values: Sequence[float]) -> bool:
    x = np.asarray(values, dtype=float)
    return bool(len(x)) and bool(np.all(np.isfinite(x) & (x >= 0) & (x <= 1)))


def describe(stopped: dict) -> str:
    """run.json's `stopped` in words: 'decided after 64 of 150 documents', 'stopped after 300 of 5000 documents',
    'scored all 150 documents'."""
    k, n = stopped["docs"], stopped["of"]
    if str(stopped.get("reason") or "").startswith("decided"):
        return f"decided after {k} of {n} documents"
    return f"scored all {n} documents" if k == n else f"stopped after {k} of {n} documents"


def said(stopped: dict) -> str:
    """describe() and why: 'decided after 64 of 150 documents (every check on it passed or failed)'."""
    why = str(stopped.get("reason") or "").removeprefix("decided: ")
    return f"{describe(stopped)} ({why})" if why else describe(stopped)


# --- a run's checks: the bounds of one (task, metric, arm) in the order it was scored ------------------------------

Samples = Callable[[str, str], list]  # (arm, task) -> sample rows


@dataclass(frozen=True)
class Bounds:
    lower: float
    upper: float
    n: int


def stopped(run: dict, task: str) -> dict | None:
    """run.json's `stopped` for a task scored in the seeded order and judged on anytime-valid bounds, else None (a
    task scored to its end in one look, or by a plain run)."""
    s = (run.get("tasks", {}).get(task) or {}).get("stopped")
    return s if isinstance(s, dict) and s.get("method") else None


def _recorded(run: dict, task: str) -> dict:
    s = (run.get("tasks", {}).get(task) or {}).get("stopped")
    return s if isinstance(s, dict) else {}


def _score_row(run: dict, task: str, metric: str, arm: str) -> dict:
    return next((s for s in run["scores"] if (s["task"], s["metric"], s["arm"]) == (task, metric, arm)), {})


def _numbers(run: dict, rows: list[dict], task: str, metric: str, arm: str) -> tuple[dict | None, str | None]:
    """{doc_id: value in [0, 1]} of one arm's metric, or why the metric has no anytime-valid bound."""
    if doc_clusters(rows):
        return None, f"{task}'s documents share clusters, and the bounds assume independent documents"
    raw = metric.split(":")[0]
    values = doc_values(rows, raw, _score_row(run, task, metric, arm).get("filter"))
    docs = [d for d, v in values.items() if v is not None and not (isinstance(v, float) and v != v)]
    got = aggregations.mean_values(aggregation(run, task, raw), [values[d] for d in docs])
    if got is None or got[1] != 1.0:
        return None, f"{task}/{metric} is a corpus metric, not a mean of per-document values"
    if not in_unit_range(got[0]):
        return None, f"{task}/{metric} has per-document values outside [0, 1]"
    return dict(zip(docs, got[0].tolist())), None


def value_bounds(run: dict, samples: Samples, task: str, metric: str, arm: str) -> tuple[Bounds | None, str | None]:
    """An arm's score's bounds, in the seeded order at the looks run.json records; or why there are none."""
    info = _recorded(run, task)
    values, why = _numbers(run, samples(arm, task), task, metric, arm)
    if why:
        return None, why
    docs = order(list(values), info.get("seed", 0))
    lo, hi = bounds([values[d] for d in docs], info.get("looks"))
    return Bounds(lo, hi, len(docs)), None


def change_bounds(run: dict, samples: Samples, task: str, metric: str, arm: str) -> tuple[Bounds | None, str | None]:
    """The bounds of the arm's change against the base in the metric's good direction, paired on the documents both
    scored, in the seeded order at the looks run.json records; or why there are none."""
    info = _recorded(run, task)
    tuned, why = _numbers(run, samples(arm, task), task, metric, arm)
    base, why_base = _numbers(run, samples(BASE_ARM, task), task, metric, BASE_ARM) if not why else (None, None)
    if why or why_base:
        return None, why or why_base
    sign = -1.0 if _score_row(run, task, metric, arm).get("higher_is_better") is False else 1.0
    docs = order(sorted(set(tuned) & set(base)), info.get("seed", 0))
    lo, hi = difference_bounds([sign * (tuned[d] - base[d]) for d in docs], info.get("looks"))
    return Bounds(lo, hi, len(docs)), None


