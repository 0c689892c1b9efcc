"""Helpers for general_qa, the forgetting probe: open-domain short answers scored against every accepted alias.

References are scored as SQuAD v2's official scorer scores them: an alias that normalises to nothing ("," or "---",
real NQ-open / EfficientQA answers; also "A+", which loses its "+" and then its article) is dropped, because an empty
answer would otherwise match it. A question left with no reference at all is dropped from the scored documents; the
loader returns those in a `dropped` split with the reason, and run.json counts them (tasks.general_qa.dropped).
"""

from __future__ import annotations

import json

from tasks import metrics
from tasks.data import DataError, hub_dataset, pick_column, read_table_lines

DEFAULT_DATASET = ("google-research-datasets/nq_open", "validation")
NO_REFERENCE = "every reference normalises to nothing (SQuAD normalisation), so no answer can match it"


def usable_references(aliases) -> list[str]:
    """The references SQuAD v2's scorer keeps: those whose normalised text is not empty."""
    return [a for a in aliases if metrics.normalize_answer(a)]


def _aliases(value, path, line, column) -> list[str]:
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise DataError(f"{path}: line {line}, column '{column}': not a JSON list of answers") from None
    if isinstance(value, str):
        value = [a for a in value.split("|")]  # CSV: aliases separated by |
    if hasattr(value, "tolist"):
        value = value.tolist()
    aliases = [str(a).strip() for a in (value or []) if str(a).strip()]
    if not aliases:
        raise DataError(f"{path}: line {line}, column '{column}': no answer given")
    return aliases


def load_rows(path) -> list[dict]:
    lines = read_table_lines(path, "general_qa_data")
    rows = [r for _, r in lines]
    q_col = pick_column(rows, path, ("question", "Question", "query"))
    a_col = pick_column(rows, path, ("answer", "answers", "Answer"))
    out = []
    for line, row in lines:
        q = row.get(q_col)
        if not isinstance(q, str) or not q.strip():
            raise DataError(f"{path}: line {line}, column '{q_col}': empty question")
        out.append({"question": q.strip().rstrip("?"), "answer": _aliases(row.get(a_col), path, line, a_col)})
    return out


def load(general_qa_data=None, **metadata):
    import datasets

    if general_qa_data:
        docs = load_rows(general_qa_data)
    else:
        ds = hub_dataset(*DEFAULT_DATASET, family="general_qa", key="general_qa_data")
        docs = [{"question": r["question"].strip().rstrip("?"), "answer": list(r["answer"])} for r in ds]
    kept = [d for d in docs if usable_references(d["answer"])]
    dropped = [dict(d, reason=NO_REFERENCE) for d in docs if not usable_references(d["answer"])]
    if not kept:
        raise DataError(f"general_qa_data={general_qa_data or DEFAULT_DATASET[0]}: no question has a usable answer "
                        "(every reference normalises to nothing: punctuation, articles or spaces only)")
    # The aliases stay as the data has them (a few-shot example shows the first one); scoring drops the empty ones.
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(kept),
                                 "dropped": datasets.Dataset.from_list(dropped)})


def process_results(doc, results):
    pred = results[0].strip()
    refs = usable_references(doc["answer"])
    if not refs:  # (the loader leaves such questions out; a document built elsewhere scores 0)
        return {"exact_match": 0.0, "f1": 0.0}
    return {"exact_match": metrics.exact_match(pred, refs), "f1": metrics.token_f1(pred, refs)}
