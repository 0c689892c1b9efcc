"""Per class: precision, recall, F1 and support of every arm on a rating task (scikit-learn), from the samples'
[gold, predicted] pairs. The convention is the task's own: an unparseable answer (-1) is a miss for its true class
(recall) and a prediction of no class (precision), so the per-class F1s average to the table's f1_macro."""

from __future__ import annotations

from harness.core.arms import BASE_ARM
from reports import numbers
from reports.blocks import Table
from reports.data import Report

CLASSES = range(5)  # the Yelp ratings 1..5 as labels 0..4
PAIR_METRIC = "accuracy"  # the per-review [gold, pred] pair the rating tasks record


def pairs(report: Report, arm: str, task: str) -> list[tuple[int, int]]:
    out = []
    for r in report.samples(arm, task):
        pair = (r.get("metrics") or {}).get(PAIR_METRIC)
        if isinstance(pair, list) and len(pair) == 2:
            out.append((int(pair[0]), int(pair[1])))
    return out


def per_class(golds: list[int], preds: list[int]) -> list[tuple[float, float, float, int]]:
    """(precision, recall, F1, support) per class 0..4."""
    from sklearn.metrics import precision_recall_fscore_support

    p, r, f, s = precision_recall_fscore_support(golds, preds, labels=list(CLASSES), zero_division=0)
    return [(float(p[i]), float(r[i]), float(f[i]), int(s[i])) for i in CLASSES]


def table(report: Report, task: str = "yelp") -> Table | None:
    arms = [a for a in [BASE_ARM, *report.adapters] if pairs(report, a, task)]
    if not arms:
        return None
    t = Table(f"classes-{task}", ["stars", "support", *[f"{a} {x}" for a in arms for x in ("P", "R", "F1")]],
              numeric=[False, True, *[True] * (3 * len(arms))],
              caption=("Per class: P precision (of the answers giving these stars, the share right), R recall (of the "
                       "reviews with these stars, the share answered right), F1 their harmonic mean; support: reviews "
                       "with these stars. An unparseable answer is a miss for recall and no class's answer for "
                       "precision, so the F1 column's mean is the arm's f1_macro."))
    stats = {a: per_class(*map(list, zip(*pairs(report, a, task)))) for a in arms}
    for i in CLASSES:
        t.rows.append([str(i + 1), numbers.count(stats[arms[0]][i][3]),
                       *[numbers.value(stats[a][i][k]) for a in arms for k in range(3)]])
    return t
