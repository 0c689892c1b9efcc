"""One way to write a number in every report, table and console line.

- values: 4 decimals below 1 and 4 significant digits above, never scientific notation ("0.0312", "0.5000",
  "13.48", "1524"); a whole number that counts something (n, n_parsed, classes) is written as an integer;
- shares: "62.5%";
- a delta and its CI: the same number of decimals for all three, chosen so the largest of them has 4 significant
  digits ("+0.0312 [+0.0100, +0.0500]", "-1524 [-1664, -1379]"), with an explicit sign;
- a minimum detectable effect: two significant digits ("0.088", "0.33", "7.4", "1500"): a planning figure, not a
  measurement.
"""

from __future__ import annotations

import math

MISSING = "n/a"


def missing(v) -> bool:
    """No number to show: None, NaN or infinite."""
    return v is None or (isinstance(v, float) and not math.isfinite(v))


def _decimals(ref: float, digits: int = 4, cap: int = 4) -> int:
    if ref == 0 or not math.isfinite(ref):
        return cap
    return max(0, min(cap, digits - 1 - math.floor(math.log10(abs(ref)))))


def value(v, integer: bool = False) -> str:
    """A metric's value."""
    if missing(v):
        return MISSING
    if isinstance(v, bool):
        return str(v).lower()
    if integer or (isinstance(v, int)):
        return f"{int(round(v))}"
    text = f"{v:.{_decimals(v)}f}"
    return text.lstrip("-") if float(text) == 0 else text


def share(v) -> str:
    """A proportion as a percentage."""
    return MISSING if missing(v) else f"{100 * v:.1f}%"


def count(v) -> str:
    return MISSING if missing(v) else f"{int(v)}"


def _signed(x: float, dec: int) -> str:
    text = f"{x:+.{dec}f}"
    return f"{0.0:+.{dec}f}" if float(text) == 0 else text  # never "-0.0000"


def delta_parts(d, ci=None) -> tuple[str, str | None, str | None]:
    """The change and its CI's bounds as delta() writes them, all three with the same decimals: ('+0.0312',
    '+0.0100', '+0.0500'); the bounds None when the CI is missing."""
    if missing(d):
        return MISSING, None, None
    parts = [d] + ([x for x in ci if not missing(x)] if ci else [])
    dec = _decimals(max(abs(x) for x in parts))
    if ci and not any(missing(x) for x in ci):
        return _signed(d, dec), _signed(ci[0], dec), _signed(ci[1], dec)
    return _signed(d, dec), None, None


def delta(d, ci=None) -> str:
    """'+0.0312 [+0.0100, +0.0500]'; the CI left out when there is none."""
    text, lo, hi = delta_parts(d, ci)
    return text if lo is None else f"{text} [{lo}, {hi}]"


def mde(v) -> str:
    """A minimum detectable effect, to two significant digits."""
    if missing(v):
        return MISSING
    if v == 0:
        return "0"
    dec = 1 - math.floor(math.log10(abs(v)))
    return f"{v:.{dec}f}" if dec >= 0 else f"{round(v, dec):.0f}"


def p_value(p) -> str:
    if missing(p):
        return MISSING
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def stars(p) -> str:
    if missing(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""
