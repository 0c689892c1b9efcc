"""The one decision every comparison makes: the record, its thresholds, and the rule that CI and p-value agree.

A leaf module so that both test families (harness.core.signflip, harness.core.bootstrap) share it without importing
harness.core.stats, which imports them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ALPHA = 0.05
MIN_PAIRS = 10  # means of per-document values: fewer paired units than this is "n too small" (no CI, no p-value)
MIN_PAIRS_CORPUS = 20  # corpus metrics: the bootstrap needs more units to cover (see tests/test_stats_simulation.py)
EXACT_MAX_N = 16  # up to 2**16 sign patterns are enumerated
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


def consistent(delta: float, ci: list[float], p: float, test: str, n: int) -> Comparison:
    """One decision: the CI is the test inverted, so it excludes 0 exactly when p < alpha. Bisection finds the
    boundary to within float tolerance; where a boundary sits on 0 itself, it is moved to agree with p."""
    lo, hi = ci
    if p < ALPHA and lo <= 0 <= hi:
        lo, hi = (max(lo, np.nextafter(0.0, 1.0)), hi) if delta > 0 else (lo, min(hi, np.nextafter(0.0, -1.0)))
    elif p >= ALPHA and not lo <= 0 <= hi:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    return Comparison(float(delta), [float(lo), float(hi)], float(p), test, n)


def all_patterns(n: int) -> np.ndarray:
    """Every one of the 2**n flip (or swap) patterns of n documents, as booleans; the identity (none) included."""
    return (np.arange(2 ** n)[:, None] >> np.arange(n)[None, :] & 1).astype(bool)
