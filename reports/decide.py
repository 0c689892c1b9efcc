"""The Verdict's first screen: a PASS / FAIL / NOT JUDGED mark per adapter with at most three short lines (gained,
broke, not judged), the legend that says what the marks and ▲/▼ mean, and the report's terms, each defined once
(the Terms section the legend links to). The full sentence per adapter (reports/verdict.py) follows the headline."""

from __future__ import annotations

from harness.core.arms import BASE_ARM
from reports import notes, numbers, tables, text, verdict
from reports.blocks import Table
from reports.data import Report

PASS, FAIL, NOT_JUDGED = "PASS", "FAIL", "NOT JUDGED"

TERMS = [
    ("PASS / FAIL / NOT JUDGED", "the mark per adapter: the recorded gate's result for it (harness gate --record); "
     "without a gate, PASS only on a significant gain on the primary task with no significant loss, every task "
     "judged and every forgetting probe able to show forgetting; FAIL on a significant loss or a classifier no "
     "better than its most common label; NOT JUDGED otherwise"),
    ("▲ / ▼", "better / worse in the metric's good direction, not up / down: a fall in unparseable_rate or "
     "perplexity is ▲"),
    ("Δ", "adapter − base on the same documents (paired)"),
    ("95% CI", "the interval that holds the true Δ (or score) in 95% of runs like this one; it prices in the "
     "changes a sample of this size could have missed"),
    ("*, **, ***", "significant after the run's multiplicity adjustment at p < 0.05, 0.01, 0.001"),
    ("Holm / BH", "adjustments of the p-values over every comparison of the run: Holm keeps the chance of any false "
     "star at 5%, Benjamini-Hochberg the expected share of false stars"),
    ("MDE", "minimum detectable effect: the Δ this many documents would detect with 80% power at two-sided 5%"),
    ("n too small", "fewer documents (or clusters) than an interval needs; the exact paired sign-flip test then "
     "says only whether the documents that changed went one way"),
    ("exact p", "the paired sign-flip test's p over the documents that changed, not adjusted for the run's "
     "comparisons"),
    ("churn", "the share of documents whose score changed between the base and the adapter"),
    ("non-inferiority", "how large a drop a forgetting probe's interval rules out: 'rules out a drop larger than x'"),
    ("CS", "confidence sequence: anytime-valid bounds for a task --until-decided stopped early"),
    ("tied", "a checkpoint the paired test cannot tell from the best (its p multiplied by the pairs is ≥ 0.05)"),
]
LEGEND = ("Marks: the recorded gate's result per adapter; without a gate (harness gate --record), PASS only on "
          "a significant gain on the primary task with nothing broken and every task judged, FAIL on a significant "
          "loss or a classifier no better than its most common label, NOT JUDGED otherwise. ▲ better, ▼ worse, in each metric's good direction "
          "(a fall in perplexity is ▲). Δ, CI, MDE, Holm and the other terms:")


_BLIND = ("judges nothing", "cannot show forgetting at all")  # a probe reading that rules out nothing


def mark(report: Report, arm: str) -> tuple[str, str]:
    """(PASS | FAIL | NOT JUDGED, where it comes from: the gate, or '' for the rule the legend states). Without a
    gate, PASS needs evidence: a significant gain on the primary task, no significant loss, every task judged and
    every forgetting probe able to show forgetting; a classifier no better than always answering its most common
    label FAILs; anything short of that is NOT JUDGED (the lines say what is missing)."""
    found = verdict.gate_rules(report, arm)
    if found is not None:
        rules, failed, mine = found
        if mine:
            return FAIL, f"gate: {len(mine)} of {len(rules)} rules fail ({verdict.rule_names(mine)})"
        others = f"; the run's gate fails on other adapters ({verdict.rule_names(failed)})" if failed else ""
        return PASS, f"gate: {len(rules)} of {len(rules)} rules pass" if not failed else f"gate: its checks pass{others}"
    a = verdict.assess(report, arm)
    main = verdict.primary(report)
    c = tables.comparison_index(report).get((main[0], main[1], arm)) if main else None
    if a["losses"] or (main and below_chance(report, main[0], arm)):
        return FAIL, ""
    blind = any(w in r for r in a["readings"] for w in _BLIND)
    if a["unjudged"] or blind or (a["probes"] and not a["readings"]) or not c or not tables.starred(c) \
            or not text.better(c):
        return NOT_JUDGED, ""
    return PASS, ""


def below_chance(report: Report, task: str, arm: str) -> str:
    """', yet its accuracy 0.180 is below the 0.280 of always answering the most common label' where a classifier
    scores no better than that; '' otherwise."""
    d = next((d for d in report.diagnostics if d.get("task") == task and d.get("arm") == arm), None)
    acc, chance = (d or {}).get("accuracy"), (d or {}).get("chance_accuracy")
    if numbers.missing(acc) or numbers.missing(chance) or acc > chance:
        return ""
    return (f", yet its accuracy {numbers.value(acc)} is no better than the {numbers.value(chance)} of always "
            "answering the most common label")


def gained(report: Report, arm: str) -> str:
    main = verdict.primary(report)
    if main is None:
        return "gained: no scores"
    c = tables.comparison_index(report).get((main[0], main[1], arm))
    if c is None:
        return f"gained: no comparison on {main[0]} {main[1]}"
    word = "gained" if text.better(c) and tables.starred(c) else "changed"
    sig = verdict.significance(c, notes.adjustment(report))
    return (f"{word}: {main[0]} {main[1]} Δ {text.comparison_text(c)} ({sig}; n {text.count_text(c)})"
            + below_chance(report, main[0], arm))


def lines(report: Report, arm: str) -> list[str]:
    """At most three lines: gained (the primary task), broke (losses, then the forgetting probes' readings), not
    judged (only when some task was not)."""
    a = verdict.assess(report, arm)
    # never "nothing" while a task went unjudged
    broke = "; ".join(a["losses"]) or ("nothing significant" if not a["unjudged"] else
                                       "no significant loss among the tasks judged" if a["judged"] else
                                       "no task could be judged")
    if a["readings"]:
        broke += "; forgetting: " + "; ".join(a["readings"])
    elif a["probes"] and not any(p in x for p in a["probes"] for x in a["losses"]):
        broke += "; no forgetting probe could be judged"
    flags = verdict.warning_flags(report, arm)
    if flags:
        broke += "; warning: " + ", ".join(flags) + " (below)"
    out = [gained(report, arm), "broke: " + broke]
    if a["unjudged"]:
        out.append("not judged: " + "; ".join(a["unjudged"]))
    return out


def terms_table() -> Table:
    t = Table("terms", ["term", "meaning"], numeric=[False, False], full_text={1})
    t.rows = [[term, meaning] for term, meaning in TERMS]
    return t


def verdict_rows(report: Report) -> list[tuple[str, str, str, list[str]]]:
    """(arm, mark, its source, lines) per adapter, in the report's order."""
    return [(arm, *mark(report, arm), lines(report, arm)) for arm in report.adapters if arm != BASE_ARM]
