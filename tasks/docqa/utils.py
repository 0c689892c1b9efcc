"""Helpers for docqa (documentation QA): data, prompt, per-sample scores, corpus-level aggregations."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tasks import metrics
from tasks.data import DataError, meta_int, pick_column, read_table_lines, read_text_file
from tasks.resampling import resampled

QUESTION_COLUMNS = ("question", "Question", "query", "instruction")
ANSWER_COLUMNS = ("answer", "Answer_True", "Answer", "reference", "output")
CONTEXT_COLUMNS = ("context", "Context", "passage")
DOCUMENT_COLUMNS = ("document", "Document_True", "doc")
CLUSTER_COLUMNS = ("cluster",)


def _document_text(docs_dir: Path, name: str, path, line, column, limit: int) -> str:
    """The text of the document a row names, looked up only inside the documents folder: a name that is absolute,
    climbs out with '..', or reaches a file outside through a symlink is refused (the text would go into prompts)."""
    where = f"{path}: line {line}, column '{column}'"
    if "\0" in name:
        raise DataError(f"{where}: document name {name!r} contains a NUL character; give a path relative to {docs_dir}")
    rel = Path(name)
    if rel.is_absolute() or ".." in rel.parts:
        raise DataError(f"{where}: document {name!r} points outside the documents folder {docs_dir}; "
                        "name a file relative to that folder (no absolute paths, no '..')")
    root = docs_dir.resolve()
    # The AWS QA set names pages as "<guide>/<file>.md", stored at "<guide>/doc_source/<file>.md".
    guide, _, file = name.partition("/")
    for candidate in (docs_dir / name, docs_dir / guide / "doc_source" / file):
        try:
            if not candidate.is_file():
                if candidate.exists() and not candidate.is_dir():
                    raise DataError(f"{where}: document {name!r} is not a regular file (a pipe or a device) under "
                                    f"{docs_dir}; name a text file")
                continue
            real = candidate.resolve()
        except OSError as e:  # a name too long for the file system, a link loop, ...
            raise DataError(f"{where}: document {name!r} cannot be looked up under {docs_dir} ({e.strerror or e}); "
                            "check the name") from None
        if not real.is_relative_to(root):
            raise DataError(f"{where}: document {name!r} leads through a link to {real}, outside the documents folder "
                            f"{docs_dir}; copy the file into the folder instead of linking to it")
        return read_text_file(real)[:limit]
    raise DataError(f"{where}: document {name!r} not found under {docs_dir}")


def load_rows(path, documents=None, context_chars: int = 2000) -> list[dict]:
    lines = read_table_lines(path, "docqa_data")
    rows = [r for _, r in lines]
    q_col = pick_column(rows, path, QUESTION_COLUMNS)
    a_col = pick_column(rows, path, ANSWER_COLUMNS)
    c_col = pick_column(rows, path, CONTEXT_COLUMNS, required=False)
    page_col = pick_column(rows, path, DOCUMENT_COLUMNS, required=False)
    d_col = page_col if documents else None
    cl_col = pick_column(rows, path, CLUSTER_COLUMNS, required=False)
    docs_dir = Path(documents).expanduser() if documents else None
    if docs_dir is not None and not docs_dir.is_dir():
        what = "is a file, not a folder" if docs_dir.exists() else "no such folder"
        raise DataError(f"docqa_documents={documents}: {what}; give the folder that holds the documents the "
                        f"'{d_col or DOCUMENT_COLUMNS[0]}' column names")
    out = []
    for line, row in lines:
        q, a = row.get(q_col), row.get(a_col)
        for col, v in ((q_col, q), (a_col, a)):
            if not isinstance(v, str) or not v.strip():
                raise DataError(f"{path}: line {line}, column '{col}': empty value")
        context = str(row.get(c_col) or "") if c_col else ""
        if d_col and row.get(d_col):
            context = _document_text(docs_dir, str(row[d_col]).strip(), path, line, d_col, context_chars)
        out.append({"question": q.strip(), "answer": a.strip(), "context": context.strip()[:context_chars],
                    "cluster": _cluster(row, cl_col, page_col, c_col)})
    if all(r["cluster"] is None for r in out):
        for r in out:  # nothing to group by: the documents stay as they were (and so do their hashes)
            del r["cluster"]
    return out


def _cluster(row: dict, cl_col: str | None, page_col: str | None, c_col: str | None) -> str | None:
    """The cluster a question belongs to, for the paired statistics: questions about one page share its wording and
    its difficulty, so their answers are not independent. An explicit `cluster` column wins; else the page the
    document column names (with or without a documents folder); else, for rows that carry their own context, the
    context text (questions on the same passage); else None (the question is its own cluster)."""
    for col in (cl_col, page_col):
        if _given(row, col):
            return _given(row, col)
    context = _given(row, c_col)
    if context:
        import hashlib

        return "context:" + hashlib.sha256(context.encode()).hexdigest()[:16]
    return None


def _given(row: dict, col: str | None) -> str:
    """The row's value in `col` as stripped text; "" for no column, an empty cell, or a missing one (None, NaN)."""
    value = row.get(col) if col else None
    return "" if value is None or value != value else str(value).strip()  # value != value: NaN (parquet)


def load(docqa_data=None, docqa_documents=None, docqa_context_chars=2000, **metadata):
    import datasets

    if not docqa_data:
        raise DataError("docqa: needs your own question/answer file (columns question, answer[, context]); give it "
                        "with --data docqa=qa.csv (stock lm-eval: --metadata '{\"docqa_data\": \"qa.csv\"}')")
    docs = load_rows(docqa_data, docqa_documents, meta_int("docqa_context_chars", docqa_context_chars, 1))
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)})


def doc_to_text(doc) -> str:
    context = f"Documentation:\n{doc['context']}\n\n" if doc.get("context") else ""
    return f"Answer the question using the documentation.\n\n{context}Question: {doc['question']}\nAnswer:"


def process_results(doc, results):
    pred, ref = results[0].strip(), doc["answer"]
    rs = metrics.rouge_sample(pred, ref)
    return {
        "rouge1": rs["rouge1"]["f"], "rouge2": rs["rouge2"]["f"], "rougeL": rs["rougeL"]["f"],
        "bleu4": metrics.bleu4(pred, ref),
        "exact_match": metrics.exact_match(pred, [ref]), "f1": metrics.token_f1(pred, [ref]),
        "rouge1_corpus": rs, "rouge2_corpus": rs, "rougeL_corpus": rs, "bleu4_corpus": (pred, ref),
    }


def process_results_llamafactory(doc, results):
    s = metrics.llamafactory_scores(results[0].strip(), doc["answer"])
    return {"lf_rouge1": s["rouge-1"], "lf_rouge2": s["rouge-2"], "lf_rougeL": s["rouge-l"], "lf_bleu4": s["bleu-4"]}


# --- corpus ROUGE over R resamples at once, for the paired bootstrap (see tasks/resampling.py) ------------------

def rouge_counts(key: str):
    """to_array for one ROUGE variant: each answer's [matches, prediction length, reference length], which the
    corpus F-measure sums before dividing."""

    def to_array(items) -> np.ndarray:
        return np.asarray([[v[key]["matches"], v[key]["pred_len"], v[key]["ref_len"]] for v in items], float)

    return to_array


def corpus_rouge_f(m: np.ndarray) -> np.ndarray:
    matches, pred, ref = m[..., 0].sum(1), m[..., 1].sum(1), m[..., 2].sum(1)
    p = np.divide(matches, pred, out=np.zeros(len(m)), where=pred > 0)
    r = np.divide(matches, ref, out=np.zeros(len(m)), where=ref > 0)
    return np.divide(2 * p * r, p + r, out=np.zeros(len(m)), where=(p + r) > 0)


@resampled(to_array=rouge_counts("rouge1"), reduce=corpus_rouge_f)
def rouge1_corpus(items):
    return metrics.rouge_corpus(items, "rouge1")


@resampled(to_array=rouge_counts("rouge2"), reduce=corpus_rouge_f)
def rouge2_corpus(items):
    return metrics.rouge_corpus(items, "rouge2")


@resampled(to_array=rouge_counts("rougeL"), reduce=corpus_rouge_f)
def rougeL_corpus(items):  # noqa: N802 (the metric's name)
    return metrics.rouge_corpus(items, "rougeL")


@resampled()  # no vectorised form: statistics call it on each resample
def bleu4_corpus(items):
    return metrics.bleu4_corpus(items)
