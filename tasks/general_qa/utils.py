"""Helpers for general_qa, the forgetting probe: open-domain short answers scored against every accepted alias."""

from __future__ import annotations

import json

from tasks import metrics
from tasks.data import DataError, hub_dataset, pick_column, read_table_lines

DEFAULT_DATASET = ("google-research-datasets/nq_open", "validation")


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
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)})


def process_results(doc, results):
    pred = results[0].strip()
    return {"exact_match": metrics.exact_match(pred, doc["answer"]), "f1": metrics.token_f1(pred, doc["answer"])}
