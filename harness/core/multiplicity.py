"""Many comparisons at once: p-values adjusted over a family so that a star survives the number of comparisons.

Holm (1979) controls the family-wise error (the chance of any false star in the run) under any dependence between
the comparisons, which correlated metrics of the same answers have; Benjamini-Hochberg (1995) controls the false
discovery rate instead (valid for the positively dependent metrics of one run), for a reader who prefers power.
"""

from __future__ import annotations

METHODS = ("holm", "bh")


def adjust(p_values: list, method: str = "holm") -> list:
    """Adjusted p-values in the input order; None (no test) stays None and is not counted in the family."""
    if method not in METHODS:
        raise ValueError(f"multiplicity method {method!r} is not one of {', '.join(METHODS)}")
    tested = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(tested)
    out: list = [None] * len(p_values)
    if method == "holm":
        running = 0.0
        for rank, (p, i) in enumerate(tested):
            running = max(running, min(1.0, (m - rank) * p))
            out[i] = running
    else:
        running = 1.0
        for rank in range(m - 1, -1, -1):
            p, i = tested[rank]
            running = min(running, m * p / (rank + 1))
            out[i] = min(1.0, running)
    return out
