"""`harness plan RUN_DIR --effect E [--power P]`: from a pilot run, the documents (and clusters) each comparison would
need to detect a change of E with power P at two-sided 5%. Reads run.json only: no samples, no model, no torch."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from harness.core.errors import HarnessError
from harness.core.paths import user_path


def add_parser(sub) -> None:
    p = sub.add_parser("plan", help="documents needed to detect an effect, from a pilot run",
                       description="From a pilot run's comparisons (their per-document variance, design effect "
                                   "included), the documents each (task, metric, adapter) needs to detect a change "
                                   "of --effect with --power at two-sided 5%: for a mean of per-document values "
                                   "the smallest n at which the test as shipped does (computed exactly); for a "
                                   "corpus metric n = (z_.975 + z_power)^2 * var_unit / effect^2; and the clusters "
                                   "that makes at the pilot's mean cluster size.")
    p.add_argument("run", type=user_path, metavar="RUN_DIR", help="the pilot run")
    p.add_argument("--effect", type=float, required=True,
                   help="the change to detect, in each metric's own units (0.02: two points of accuracy)")
    p.add_argument("--power", type=float, default=0.8, help="the chance of detecting it (default 0.8)")
    p.add_argument("--all", action="store_true",
                   help="also the descriptive per-group rows (e.g. general_mc's acc[<subject>])")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_plan)


def _check_flags(effect: float, power: float) -> None:
    if not math.isfinite(effect) or effect <= 0:
        raise HarnessError(f"--effect {effect:g}: must be a finite number above 0 (the change to detect, in the "
                           "metric's units, e.g. 0.02)")
    if not math.isfinite(power) or not 0 < power < 1:
        raise HarnessError(f"--power {power:g}: must be between 0 and 1, exclusive (e.g. 0.8)")


def _units(c: dict) -> str:
    from harness.gate.checks import plural  # lazily: the gate imports numpy, `harness --help` must not

    return plural(c.get("unit") or "document")


def _too_small(c: dict) -> str:
    """Why the pilot had no interval, in the words of the run's own rule (stats.too_small: documents, or clusters
    when the documents were enough), and what a pilot needs: each minimum it fell short of."""
    from harness.core import stats

    n, k = c.get("n"), c.get("n_clusters")
    min_n = c.get("min_n") or stats.MIN_PAIRS
    why = stats.too_small(n=n, min_n=min_n, n_clusters=k, min_clusters=stats.MIN_CLUSTERS)
    short = ([f"{min_n} {_units(c)}"] if n is None or n < min_n else [])
    short += [f"{stats.MIN_CLUSTERS} clusters"] if k and k < stats.MIN_CLUSTERS else []
    need = f"pilot on at least {' in at least '.join(short)}" if short else f"pilot on more {_units(c)}"
    return f"n too small in the pilot ({why}): no variance estimate; {need}"


def _why_not(c: dict) -> str:
    """Why a comparison gives no basis for planning."""
    if c.get("n_too_small"):
        return _too_small(c)
    if "var_unit" not in c:
        return ("the run records no var_unit (written before planning data); write it again with the same "
                "`harness run` command and --force (the response cache answers)")
    var = c.get("var_unit")
    if var is None:
        return f"no per-document variance for this comparison ({c.get('test')})"
    if not isinstance(var, (int, float)) or not math.isfinite(var) or var < 0:
        return f"var_unit {var!r} is not a variance (run.json edited?)"
    return ("no paired difference varies in the pilot (every document scored alike on both arms): nothing to "
            "plan from; pilot on more documents")


def plan_row(c: dict, effect: float, power: float) -> dict:
    """One comparison's plan: the documents (and clusters) needed, or why there is no answer."""
    from harness.core import stats
    from harness.core.power import design
    from harness.core.stats import n_needed

    row = {"task": c.get("task"), "metric": c.get("metric"), "arm": c.get("arm"), "unit": c.get("unit") or "document",
           "pilot_n": c.get("n"), "pilot_clusters": c.get("n_clusters"), "pilot_mde": c.get("mde"),
           "documents": None, "clusters": None, "method": None, "note": ""}
    var = c.get("var_unit")
    usable = isinstance(var, (int, float)) and not isinstance(var, bool) and math.isfinite(var) and var > 0
    if c.get("n_too_small") or not usable:
        row["note"] = _why_not(c)
        return row
    shape = design(c.get("test"))
    row["documents"] = n_needed(var, effect, power, design=shape)
    row["method"] = "normal" if shape is None else "exact"
    notes = [] if shape else ["normal approximation (a corpus metric)"]
    least = int(c.get("min_n") or stats.MIN_PAIRS)
    if row["documents"] < least:  # fewer would get no interval at all, whatever the effect
        row["documents"] = least
        notes.append(f"raised to the {least} a comparison needs for an interval"
                     + (f", of which {stats.MIN_CHANGED_CORPUS} must change" if not shape else ""))
    k, n = c.get("n_clusters"), c.get("n")
    if isinstance(k, int) and k > 0 and isinstance(n, int) and n > 0:
        row["clusters"] = math.ceil(row["documents"] * k / n)  # documents / the pilot's mean cluster size
        notes.append(f"at the pilot's {n / k:.3g} {_units(c)} per cluster")
    row["note"] = "; ".join(notes)
    return row


def _num(v, digits: int = 4) -> str:
    if v is None:
        return "-"
    return str(v) if isinstance(v, int) else f"{v:.{digits}g}"


def _table(rows: list[dict]) -> str:
    head = ["task", "metric", "arm", "pilot n", "clusters", "mde (80%)", "needed", "clusters needed", "note"]
    body = [[r["task"], r["metric"], r["arm"], _num(r["pilot_n"]), _num(r["pilot_clusters"]), _num(r["pilot_mde"]),
             "-" if r["documents"] is None else f"{r['documents']} {_units(r)}", _num(r["clusters"]), r["note"]]
            for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    return "\n".join("  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip() for line in [head, *body])


_METHODS = {"holm": "Holm", "bh": "Benjamini-Hochberg"}


def _family_note(run: dict, power: float) -> str | None:
    """What the report's multiplicity adjustment costs a star: its strictest step tests at 5% / family size (Holm's
    first step; Benjamini-Hochberg's smallest p meets the same bar). The gate is not adjusted: it passes only when
    every check passes (intersection-union), each check its own one-sided test, and it never reads the stars."""
    from scipy.stats import norm

    statistics = run.get("statistics") or {}
    size = statistics.get("family_size")
    if not isinstance(size, int) or size < 2:
        return None
    method = _METHODS.get(statistics.get("multiplicity"), "Holm")
    z = norm.isf(0.025) + norm.ppf(power)
    factor = ((norm.isf(0.025 / size) + norm.ppf(power)) / z) ** 2
    return (f"Only the report's significance stars are adjusted ({method}) over the run's {size} tested "
            "comparisons; the gate's checks are not (each is its own one-sided test, and the gate passes only when "
            f"all do). For a star at the strictest step (5%/{size}) a change needs about {factor:.2f}x these "
            "documents.")


def _today(run: dict, run_dir: Path) -> dict:
    """The run's comparisons under today's statistics contract: one written under an older contract is recomputed
    in memory from its samples (as `harness report` does); without its samples, its own numbers, with a warning."""
    from harness.core import comparisons

    recorded = (run.get("statistics") or {}).get("version")
    if recorded == comparisons.VERSION or (run_dir / "samples").is_dir():
        return comparisons.current(run, run_dir)  # which leaves a run of today's contract (or one arm) as it is
    if len(run.get("arms") or []) > 1:
        print(f"warning: {run_dir}: its comparisons follow statistics contract {recorded}, not {comparisons.VERSION}, "
              "and its samples are not here to recompute them: the numbers below are the run's own", file=sys.stderr)
    return run


def _cmd_plan(a) -> int:
    from harness.core import results

    _check_flags(a.effect, a.power)
    run = _today(results.load_run(a.run), Path(a.run))
    comparisons = [c for c in run["comparisons"] if a.all or c.get("family") is not False]
    if not comparisons:
        raise HarnessError(f"{a.run}: the run has no comparisons to plan from (a run with only the base arm?); "
                           "pilot with --adapter")
    rows = [plan_row(c, a.effect, a.power) for c in comparisons]
    if a.json:
        print(json.dumps({"effect": a.effect, "power": a.power, "alpha": 0.05, "rows": rows}, indent=2))
        return 0
    print(f"Documents needed to detect a change of {a.effect:g} (in each metric's units) with {a.power:.0%} power at "
          f"two-sided 5%, from the pilot {a.run}: for a mean of per-document values, the smallest n at which the "
          "test as shipped detects it, computed exactly for a 0/1 outcome with the churn observed (var_unit, the "
          "variance of one document's paired difference if nothing changed; at the effective n = n / design "
          "effect for clusters); for a corpus metric, the normal approximation n = (z_.975 + z_power)^2 x var_unit "
          "/ effect^2, var_unit from the bootstrap; clusters = n / the pilot's mean cluster size.")
    print(_table(rows))
    left_out = len(run["comparisons"]) - len(comparisons)
    if left_out:
        print(f"{left_out} descriptive per-group rows left out (--all shows them).")
    note = _family_note(run, a.power)
    if note:
        print(note)
    return 0
