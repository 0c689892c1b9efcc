"""The exact paired sign-flip (swap) test for comparisons too small for an interval ("n too small").

Under "the adapter and the base are the same", each document's two values are exchangeable: swapping them (for a
mean of per-document values, flipping the sign of the difference d = tuned - base) is as likely as not. The test
looks at every such pattern, so its p is exact at any n, where the score interval and the bootstrap are not:

- means of per-document values: the statistic is |mean(d)| over sign flips of d;
- corpus metrics: each document's two values are swapped between the arms and the metric (the `reduce` of the
  aggregation's vectorised form, as harness.core.bootstrap uses it) recomputed on both; the statistic is
  |metric(tuned) - metric(base)|.

With cluster keys whole clusters are flipped (questions on one page are not exchangeable one by one) and counted.
A unit whose two values are equal changes nothing when swapped, so only the m changed units are flipped: all 2**m
patterns when m <= EXACT_MAX_N (6 of 6 documents one way: p = 2/64), otherwise a seeded Monte Carlo of DRAWS
patterns with the observed one counted, p = (1 + #>=) / (1 + DRAWS), recorded with its number of draws (`p_draws`)
so that it is never called exact; an aggregation without a vectorised form, called
once per pattern in Python, gets the SLOW budget instead. The smallest exact p is 2 / 2**m: with 4 documents it is
0.125, and the test says plainly that 4 documents cannot show a difference at 5%.

The p is reported beside "n too small", never as the comparison's p-value: it does not join the run's family, and
a gate still fails such a rule as undecided (an exact p says a change is there, not how large it may be).
"""

from __future__ import annotations

import numpy as np

from harness.core.decision import EXACT_MAX_N, Comparison, all_patterns

DRAWS = 20_000  # Monte Carlo patterns beyond EXACT_MAX_N changed units: p's standard error at 0.05 is about 0.0015
FAST = (EXACT_MAX_N, DRAWS)  # (most units enumerated exactly, patterns drawn beyond) for a vectorised metric
# an aggregation called once per pattern in Python (corpus BLEU): 2**11 patterns, or 2,000 drawn (error ~0.005 at 0.05)
SLOW = (11, 2_000)
_BLOCK = 4096  # patterns per reduce call, so that (patterns, n, ...) arrays stay small


def _units(n: int, clusters) -> tuple[np.ndarray, int]:
    """(the unit of each document, the number of units): the documents themselves, or their clusters."""
    if clusters is None:
        return np.arange(n), n
    _, inverse = np.unique(np.asarray(clusters), return_inverse=True)
    return inverse, int(inverse.max()) + 1 if n else 0


def _patterns(m: int, rng, budget: tuple[int, int]):
    """Blocks of flip patterns of m units (True: flipped) and whether they are all of them (the exact test)."""
    exact_max, draws = budget
    if m <= exact_max:
        every = all_patterns(m)
        return (every[i:i + _BLOCK] for i in range(0, len(every), _BLOCK)), True
    return (rng.random((min(_BLOCK, draws - i), m)) < 0.5 for i in range(0, draws, _BLOCK)), False


def _p(observed: float, stats_: list[np.ndarray], exact: bool) -> tuple[float | None, int | None]:
    """(the share of patterns at least as extreme as the observed one (float ties counted as ties), the number
    of patterns drawn at random: None when every pattern was enumerated and the p is exact)."""
    flipped = np.concatenate(stats_)
    if not np.isfinite(observed):
        return None, None
    hits = int(np.sum(flipped >= observed - 1e-9 * max(1.0, observed)))
    return (hits / len(flipped), None) if exact else ((1 + hits) / (1 + len(flipped)), len(flipped))


def mean_test(d, clusters=None, rng=None) -> tuple[float | None, int | None, int, int]:
    """(p, random patterns drawn (None: exact), units that rose, units that fell) for the paired differences
    d = tuned - base of per-document values.
    With clusters a cluster's direction is that of its total."""
    d = np.asarray(d, dtype=float)
    unit, k = _units(len(d), clusters)
    totals = np.bincount(unit, weights=d, minlength=k) if len(d) else np.zeros(0)
    up, down = int(np.sum(totals > 0)), int(np.sum(totals < 0))
    moved = totals[totals != 0]
    if not len(moved):
        return 1.0, None, up, down
    blocks, exact = _patterns(len(moved), rng or np.random.default_rng(0), FAST)
    flips = [np.abs(np.where(block, -moved, moved).sum(axis=1)) for block in blocks]
    return (*_p(abs(float(moved.sum())), flips, exact), up, down)


def _own_changes(a: np.ndarray, b: np.ndarray, reduce, unit: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(each unit's own change: the metric on its rows alone, tuned - base; which units changed). A unit whose own
    metric is the same in both arms is not flipped, though its arrays may differ (an answer of another length that
    scores the same): whether a unit's own metric moved is the same after a swap, so the test may condition on it,
    and the p then never claims more than the units that went one way can show."""
    rows = [np.flatnonzero(unit == u) for u in range(k)]
    with np.errstate(all="ignore"):
        own = np.array([reduce(b[r][None])[0] - reduce(a[r][None])[0] for r in rows], dtype=float)
    if a.dtype == object:
        diff = np.array([x != y for x, y in zip(a, b)], dtype=bool)
    else:
        diff = (a != b).reshape(len(a), -1).any(axis=1)
    arrays = np.bincount(unit, weights=diff.astype(float), minlength=k) > 0
    # a unit whose own metric is undefined (no tokens on one side) counts as changed when its arrays differ
    return own, np.where(np.isnan(own), arrays, own != 0)


def corpus_test(a: np.ndarray, b: np.ndarray, reduce, clusters=None, rng=None,
                budget: tuple[int, int] = FAST) -> tuple[float | None, int | None, int, int]:
    """(p, random patterns drawn (None: exact), units that rose, units that fell) for a corpus metric, from the
    base's (a) and the tuned arm's (b) per-document arrays (n, ...); `reduce` maps (R, n, ...) arrays to R metric
    values. `budget`: FAST, or SLOW for an aggregation without a vectorised form."""
    unit, k = _units(len(a), clusters)
    own, changed = _own_changes(a, b, reduce, unit, k)
    up, down = int(np.sum(own > 0)), int(np.sum(own < 0))
    with np.errstate(all="ignore"):
        observed = abs(float(reduce(b[None])[0] - reduce(a[None])[0]))
    moved = np.flatnonzero(changed)
    if not len(moved):
        return (1.0 if np.isfinite(observed) else None), None, up, down
    blocks, exact = _patterns(len(moved), rng or np.random.default_rng(0), budget)
    position = np.full(k, -1)
    position[moved] = np.arange(len(moved))
    of_doc = position[unit]  # each document's place among the flipped units, -1 for one that never moves
    shape = (1,) * (a.ndim - 1)
    swaps = []
    for block in blocks:
        swap = np.where(of_doc >= 0, block[:, np.maximum(of_doc, 0)], False)
        swap = swap.reshape(swap.shape + shape)
        with np.errstate(all="ignore"):
            swaps.append(np.abs(reduce(np.where(swap, a, b)) - reduce(np.where(swap, b, a))))
    return (*_p(observed, swaps, exact), up, down)


def attach(c: Comparison, result: tuple[float | None, int | None, int, int]) -> Comparison:
    """A "n too small" comparison with its sign-flip test: p_exact, p_draws (None when exact), n_up, n_down."""
    c.p_exact, c.p_draws, c.n_up, c.n_down = result
    return c
