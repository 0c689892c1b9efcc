"""Helpers for the yelp and yelp_mc tasks: data, prompt, extraction filter, per-sample results, aggregations."""

from __future__ import annotations

from tasks import metrics
from tasks.data import DataError, hub_dataset, pick_column, read_table_lines
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
