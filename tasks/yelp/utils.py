"""Helpers for the yelp and yelp_mc tasks: data, prompt, extraction filter, per-sample results, aggregations."""

from __future__ import annotations

from functools import partial

import numpy as np

from tasks import metrics
from tasks.data import DataError, hub_dataset, pick_column, read_table_lines
from tasks.resampling import register
from tasks.yelp.extract import extract_star
from tasks.yelp.prompt import clean_review, render_prompt

DEFAULT_DATASET = ("Yelp/yelp_review_full", "test")


def _label(value, path, line, column) -> int:
    try:
        f = float(value)
        if f == int(f) and 0 <= int(f) <= 4:
            return int(f)
    except (TypeError, ValueError):
        pass
    raise DataError(f"{path}: line {line}, column '{column}': {value!r} is not a label 0-4 (0 = one star, 4 = five "
                    "stars); convert 1-5 star counts by subtracting 1")


def load_rows(path) -> list[dict]:
    lines = read_table_lines(path, "yelp_data")
    rows = [r for _, r in lines]
    text_col = pick_column(rows, path, ("text", "review"))
    label_col = pick_column(rows, path, ("label", "labels"))
    docs = []
    for line, row in lines:
        text = row.get(text_col)
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{path}: line {line}, column '{text_col}': empty review text")
        docs.append({"text": clean_review(text), "label": _label(row.get(label_col), path, line, label_col)})
    return docs


def load(yelp_data=None, **metadata):
    import datasets

    if yelp_data:
        docs = load_rows(yelp_data)
    else:
        ds = hub_dataset(*DEFAULT_DATASET, family="yelp", key="yelp_data")
        docs = [{"text": clean_review(r["text"]), "label": int(r["label"])} for r in ds]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)})


def doc_to_text(doc) -> str:
    return render_prompt(doc["text"])


def extract_filter(resps, docs):
    """lm-eval custom filter: each response -> {"star", "rule"} (star 1..5 or None), so the samples log keeps the
    raw answer (resps), the extracted star and the rule that fired (filtered_resps)."""
    return [[extract_star(r)._asdict() for r in doc_resps] for doc_resps in resps]


def process_results(doc, results):
    got = results[0]
    gold = doc["label"]
    pred = got["star"] - 1 if got["star"] is not None else metrics.UNPARSEABLE
    pair = (gold, pred)
    return {
        "accuracy": pair, "f1_micro": pair, "f1_macro": pair, "f1_weighted": pair,
        "unparseable_rate": float(pred == metrics.UNPARSEABLE),
        "accuracy_drop": pair, "f1_micro_drop": pair, "f1_macro_drop": pair, "f1_weighted_drop": pair,
        "n_parsed": float(pred != metrics.UNPARSEABLE),
    }


def _split(pairs, drop: bool):
    kept = [(g, p) for g, p in pairs if not (drop and p == metrics.UNPARSEABLE)]
    return [g for g, _ in kept], [p for _, p in kept]


def _aggregation(name: str, average: str | None, drop: bool):
    """One corpus-level aggregation over (gold, pred) pairs; `name` is what lm-eval's YAML and run.json call it."""

    def aggregate(pairs):
        golds, preds = _split(pairs, drop)
        if average is None:
            return metrics.rating_accuracy(golds, preds)
        return metrics.rating_f1(golds, preds, average=average)

    aggregate.__name__ = aggregate.__qualname__ = name
    return aggregate


accuracy = _aggregation("accuracy", None, drop=False)
f1_micro = _aggregation("f1_micro", "micro", drop=False)
f1_macro = _aggregation("f1_macro", "macro", drop=False)
f1_weighted = _aggregation("f1_weighted", "weighted", drop=False)
accuracy_drop = _aggregation("accuracy_drop", None, drop=True)
f1_micro_drop = _aggregation("f1_micro_drop", "micro", drop=True)
f1_macro_drop = _aggregation("f1_macro_drop", "macro", drop=True)
f1_weighted_drop = _aggregation("f1_weighted_drop", "weighted", drop=True)


def count(values):
    return float(sum(values))


# --- the same aggregations over R resamples at once, for the paired bootstrap (see tasks/resampling.py) ----------

def class_pairs(pairs) -> np.ndarray:
    return np.asarray(pairs, dtype=np.int64)


def pair_correct(pairs) -> np.ndarray:
    """Accuracy without dropping is a mean of per-review 0/1 values, so it gets the exact paired test."""
    m = np.asarray(pairs, dtype=np.int64)
    return (m[:, 0] == m[:, 1]).astype(float)


def class_f1(m: np.ndarray, average: str, drop: bool) -> np.ndarray:
    """F1 over the classes 0..4 from (R, n, 2) [gold, pred] arrays, as scikit-learn's f1_score(labels=0..4,
    zero_division=0) computes it; pred -1 (unparseable) is a miss and no class's false positive."""
    # One confusion matrix per resample by bincount over (resample, gold, pred + 1) codes: O(R n), where comparing
    # every document with every class would build several (R, n, 5) arrays (the bulk of a Yelp comparison's time).
    r = len(m)
    gold, pred = m[..., 0].astype(np.int64), m[..., 1].astype(np.int64) + 1  # pred 0: unparseable
    flat = ((np.arange(r)[:, None] * 5 + gold) * 6 + pred).ravel()
    confusion = np.bincount(flat, minlength=r * 30).reshape(r, 5, 6)
    if drop:
        confusion = confusion[..., 1:]  # an unparseable answer leaves the sample altogether
    tp = np.diagonal(confusion[..., -5:], axis1=1, axis2=2)  # (R, 5)
    n_true, n_pred = confusion.sum(2), confusion[..., -5:].sum(1)
    if average == "micro":
        denom = n_true.sum(1) + n_pred.sum(1)
        return np.divide(2 * tp.sum(1), denom, out=np.zeros(len(m)), where=denom > 0)
    f1 = np.divide(2 * tp, n_true + n_pred, out=np.zeros(tp.shape), where=(n_true + n_pred) > 0)
    if average == "macro":
        return f1.mean(1)
    support = n_true.sum(1)
    return np.divide((f1 * n_true).sum(1), support, out=np.zeros(len(m)), where=support > 0)


def class_accuracy(m: np.ndarray, drop: bool) -> np.ndarray:
    gold, pred = m[..., 0], m[..., 1]
    keep = pred != -1 if drop else np.ones_like(pred, bool)
    n = keep.sum(1)
    return np.divide(((gold == pred) & keep).sum(1), n, out=np.zeros(len(m)), where=n > 0)


register(accuracy, to_array=class_pairs, reduce=partial(class_accuracy, drop=False), per_document=pair_correct)
register(accuracy_drop, to_array=class_pairs, reduce=partial(class_accuracy, drop=True))
register(f1_micro, to_array=class_pairs, reduce=partial(class_f1, average="micro", drop=False))
register(f1_macro, to_array=class_pairs, reduce=partial(class_f1, average="macro", drop=False))
register(f1_weighted, to_array=class_pairs, reduce=partial(class_f1, average="weighted", drop=False))
register(f1_micro_drop, to_array=class_pairs, reduce=partial(class_f1, average="micro", drop=True))
register(f1_macro_drop, to_array=class_pairs, reduce=partial(class_f1, average="macro", drop=True))
register(f1_weighted_drop, to_array=class_pairs, reduce=partial(class_f1, average="weighted", drop=True))
