"""The one decision every comparison makes: the record, its thresholds, and the rule that CI and p-value agree.

A leaf module so that both test families (harness.core.score, harness.core.bootstrap) share it without importing
harness.core.stats, which imports them. Power: for means of per-document values, every comparison's `mde` and
n_needed() for planning are exact (harness.core.power: the shipped test evaluated on every table); for corpus
metrics they are the normal approximation (z_{0.975} + z_{0.8}) * standard error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ALPHA = 0.05
POWER = 0.8
# z_{1 - alpha/2} + z_{power}: an effect this many standard errors away is detected with 80% power at two-sided 5%
POWER_Z = 1.959963984540054 + 0.8416212335729143
MIN_PAIRS = 10  # means of per-document values: fewer paired units than this is "n too small" (no CI, no p-value)
MIN_PAIRS_CORPUS = 20  # corpus metrics: the bootstrap needs more units to cover (see tests/test_stats_simulation.py)
# corpus metrics: documents whose values differ between the arms. A bootstrap over documents of which only a few
# changed is far too narrow (macro F1: 35% coverage with ~1 changed, 61% with 3, 80-86% with 4-10; 92-95% from 12)
MIN_CHANGED_CORPUS = 20
EXACT_MAX_N = 16  # up to 2**16 swap patterns are enumerated: the permutation test is exact
N_TOO_SMALL = "n too small"


@dataclass
class Comparison:
    delta: float
    ci95: list[float] | None
    p_value: float | None
    test: str
    n: int
    min_n: int = MIN_PAIRS
    n_clusters: int | None = None  # None: every document its own unit
    n_missing: int = 0  # pairs left out because one arm has no value for the document
    mde: float | None = None  # the effect detectable with 80% power at two-sided 5%, at this n and churn
    var_unit: float | None = None  # variance of one document's paired difference (design effect included)
    mc_error: float | None = None  # Monte Carlo standard error of p (resampled tests only)
    resamples: int | None = None  # resamples actually drawn (resampled tests only)
    n_changed: int | None = None  # documents whose values differ between the arms (corpus metrics)
    ci_margin: list[float] | None = None  # the CI continuity-corrected by one document: what a margin test reads
    # "n too small" only: units (documents, or clusters) whose own value rose / fell, and the exact sign-flip p
    # (harness.core.signflip), which is never the comparison's p_value: it joins no family and decides no gate
    n_up: int | None = None
    n_down: int | None = None
    p_exact: float | None = None
    p_draws: int | None = None  # random flips behind p_exact when there were too many units to enumerate

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < ALPHA


def too_small(n: int | None, min_n: int | None, n_clusters: int | None, min_clusters: int,
              n_changed: int | None = None) -> str:
    """Why a comparison has no verdict: '6 documents < 20', '6 clusters < 10' when its documents are enough but
    its clusters are not, or '3 changed documents < 20' when a corpus metric saw too few changes."""
    min_n = min_n or MIN_PAIRS
    if n_changed is not None and (n is None or n >= min_n) and n_changed < MIN_CHANGED_CORPUS:
        return f"{int(n_changed)} changed documents < {MIN_CHANGED_CORPUS}"
    if n_clusters and (n is None or n >= min_n) and n_clusters < min_clusters:
        return f"{int(n_clusters)} clusters < {min_clusters}"
    return f"{n if n is None else int(n)} documents < {int(min_n)}"


def n_needed(var_unit: float, effect: float, power: float = POWER, design: tuple[float, float] | None = None,
             kind: str = "detect") -> int:
    """Documents needed for `effect` with `power`, from the per-document variance `var_unit` of the paired
    difference. With `design` (power.design of a score_compare test: its design effect and scale), exact
    (harness.core.power): kind "detect", the two-sided test at ALPHA detecting a true `effect`; "noninferiority",
    the check with budget `effect` passing when nothing changed. Without (a corpus metric's bootstrap variance),
    the normal approximation (z_.975 + z_power)^2 var_unit / effect^2 for both."""
    if design is not None:
        from harness.core.power import documents_needed

        return documents_needed(var_unit, effect, power, *design, kind=kind)
    from scipy.stats import norm

    z = float(norm.isf(ALPHA / 2) + norm.ppf(power))
    return max(1, math.ceil(z * z * var_unit / (effect * effect)))


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


def widening(k: int) -> float:
    """The factor a 95% interval's half-widths are multiplied by to hold simultaneously over k intervals
    (Bonferroni on the normal scale: z_(1-0.025/k) / z_0.975); shared by `registry best` and a report's Sweep."""
    from statistics import NormalDist

    z = NormalDist().inv_cdf
    return z(1 - 0.025 / k) / z(0.975) if k > 1 else 1.0
