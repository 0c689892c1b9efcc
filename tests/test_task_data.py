"""Task data: local files in every supported format, and bad data reported with the file and line or column."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from tasks.data import DataError, read_corpus, read_table
from tasks.docqa import utils as docqa
from tasks.general_qa import utils as general_qa
from tasks.perplexity import utils as perplexity
from tasks.yelp import utils as yelp

ROWS = [{"label": 4, "text": "Great food!\\nWill come back."}, {"label": 0, "text": "Cold and rude."}]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_yelp_formats_agree(tmp_path, fmt):
    path = tmp_path / f"reviews.{fmt}"
    frame = pd.DataFrame(ROWS)
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_parquet(path)
    docs = yelp.load_rows(path)
    assert docs == [{"text": "Great food!\nWill come back.", "label": 4}, {"text": "Cold and rude.", "label": 0}]


def _write(tmp_path, name, content: bytes | str):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


@pytest.mark.parametrize("name, content, fragment", [
    ("empty.csv", "", "the file is empty"),
    ("header.csv", "label,text\n", "no rows"),
    ("nolabel.csv", "stars,text\n3,ok\n", "no column 'label'"),
    ("range.csv", "label,text\n2,fine\n7,too high\n", "line 3, column 'label': '7' is not a label 0-4"),
    ("notnum.jsonl", '{"label": 1, "text": "a"}\n{"label": "five", "text": "b"}\n', "line 2, column 'label'"),
    ("broken.jsonl", '{"label": 1, "text": "a"}\n{"label": 2, "text": \n', "line 2: malformed JSON"),
    ("list.jsonl", '[1, 2]\n', "line 1: expected a JSON object"),
    ("latin1.csv", b"label,text\n1,ok\n2,caf\xe9\n", "line 3: not UTF-8"),
    ("emptytext.csv", "label,text\n1,\n", "line 2, column 'text': empty review text"),
    ("extra.csv", "label,text\n1,a,b\n", "line 2: more fields than the header"),
    ("table.xlsx", "x", "unsupported file type"),
])
def test_yelp_bad_data(tmp_path, name, content, fragment):
    path = _write(tmp_path, name, content)
    with pytest.raises(DataError) as e:
        yelp.load_rows(path)
    assert fragment in str(e.value) and str(path) in str(e.value) and "\n" not in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_table(tmp_path / "nope.csv", "yelp_data")


def test_docqa_needs_data_and_finds_documents(tmp_path):
    with pytest.raises(DataError, match="--data docqa="):
        docqa.load()
    (tmp_path / "docs" / "guide" / "doc_source").mkdir(parents=True)
    (tmp_path / "docs" / "guide" / "doc_source" / "page.md").write_text("# Page\nThe limit is 5.")
    qa = _write(tmp_path, "qa.csv", "\ufeffQuestion,Answer_True,Document_True\nWhat is the limit?,5, guide/page.md\n")
    rows = docqa.load_rows(qa, tmp_path / "docs")
    assert rows == [{"question": "What is the limit?", "answer": "5", "context": "# Page\nThe limit is 5.",
                     "cluster": "guide/page.md"}]
    bad = _write(tmp_path, "bad.csv", "Question,Answer_True,Document_True\nQ?,A,guide/missing.md\n")
    with pytest.raises(DataError, match="line 2, column 'Document_True': document 'guide/missing.md' not found"):
        docqa.load_rows(bad, tmp_path / "docs")


def test_docqa_questions_cluster_by_their_page(tmp_path):
    """Every question carries the page it was asked about as its cluster (the unit the paired statistics resample):
    the document column's name, with or without a documents folder; an explicit `cluster` column wins; rows with only
    a context share a cluster when their context is the same text; with nothing to group by, no cluster field."""
    (tmp_path / "docs" / "g").mkdir(parents=True)
    for page in ("a.md", "b.md"):
        (tmp_path / "docs" / "g" / page).write_text(f"# {page}")
    qa = _write(tmp_path, "qa.csv", "question,answer,document\nQ1?,A,g/a.md\nQ2?,B,g/b.md\nQ3?,C,g/a.md\nQ4?,D,\n")
    with_text = docqa.load_rows(qa, tmp_path / "docs")
    assert [r["cluster"] for r in with_text] == ["g/a.md", "g/b.md", "g/a.md", None]
    assert [r["context"] for r in with_text] == ["# a.md", "# b.md", "# a.md", ""]
    names_only = docqa.load_rows(qa)  # no documents folder: the page's name still groups its questions
    assert [r["cluster"] for r in names_only] == ["g/a.md", "g/b.md", "g/a.md", None]
    assert all(r["context"] == "" for r in names_only)
    own = _write(tmp_path, "own.jsonl", "".join(json.dumps(r) + "\n" for r in [
        {"question": "Q1?", "answer": "A", "document": "g/a.md", "cluster": "topic-1"},
        {"question": "Q2?", "answer": "B", "document": "g/b.md", "cluster": 7}]))
    assert [r["cluster"] for r in docqa.load_rows(own)] == ["topic-1", "7"]
    ctx = _write(tmp_path, "ctx.csv", "question,answer,context\nQ1?,A,Passage one.\nQ2?,B,Passage two.\n"
                                      "Q3?,C, Passage one. \n")
    clusters = [r["cluster"] for r in docqa.load_rows(ctx)]
    assert clusters[0] == clusters[2] != clusters[1] and clusters[0].startswith("context:")
    plain = _write(tmp_path, "plain.csv", "question,answer\nQ1?,A\nQ2?,B\n")
    assert docqa.load_rows(plain) == [{"question": "Q1?", "answer": "A", "context": ""},
                                      {"question": "Q2?", "answer": "B", "context": ""}]


def test_sample_rows_carry_the_documents_cluster(tmp_path):
    """harness.run.records keeps a logged document's `cluster` in its sample row (samples/<arm>/<task>.jsonl), and
    adds no key for a document without one; keys are text (a number as its digits: never equal to an int doc_id,
    which a document without a cluster is grouped by); the run directory reads them back."""
    from harness.core import results
    from harness.run.records import sample_rows

    def logged(doc_id, doc):  # the fields lm-eval logs per sample that sample_rows reads
        return {"doc_id": doc_id, "doc": doc, "doc_hash": f"h{doc_id}", "filter": "none", "target": doc["answer"],
                "arguments": [["prompt", {"until": ["\n\n"]}]], "resps": [["answer"]], "filtered_resps": ["answer"],
                "metrics": ["f1"], "f1": 0.5}

    docs = [{"question": "Q1?", "answer": "A", "context": "", "cluster": "g/a.md"},
            {"question": "Q2?", "answer": "B", "context": "", "cluster": None},
            {"question": "Q3?", "answer": "C", "context": "", "cluster": 3},
            {"question": "Q4?", "answer": "D", "context": "", "cluster": ["x", 1]},
            {"question": "Q5?", "answer": "E", "context": ""}]
    rows = sample_rows([logged(i, d) for i, d in enumerate(docs)])
    assert [r.get("cluster", "absent") for r in rows] == ["g/a.md", "absent", "3", '["x", 1]', "absent"]
    results.write_jsonl(results.samples_path(tmp_path, "base", "docqa"), rows)
    assert [r.get("cluster") for r in results.read_samples(tmp_path, "base", "docqa")] == ["g/a.md", None, "3",
                                                                                           '["x", 1]', None]


def test_general_qa_aliases(tmp_path):
    path = _write(tmp_path, "nq.jsonl", json.dumps({"question": "who wrote hamlet", "answer": ["Shakespeare", "W. S."]}) + "\n")
    assert general_qa.load_rows(path) == [{"question": "who wrote hamlet", "answer": ["Shakespeare", "W. S."]}]
    csv_path = _write(tmp_path, "nq.csv", "question,answer\ncapital of france?,Paris|paris city\n")
    assert general_qa.load_rows(csv_path)[0]["answer"] == ["Paris", "paris city"]
    empty = _write(tmp_path, "noanswer.jsonl", json.dumps({"question": "q", "answer": []}) + "\n")
    with pytest.raises(DataError, match="line 1, column 'answer': no answer given"):
        general_qa.load_rows(empty)


def test_corpus_sources(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "b.md").write_text("second")
    (tmp_path / "c" / "a.txt").write_text("first")
    (tmp_path / "c" / "skip.png").write_bytes(b"\x89PNG")
    assert [d["name"] for d in read_corpus(tmp_path / "c")] == ["a.txt", "b.md"]
    (tmp_path / "e").mkdir()
    with pytest.raises(DataError, match="no .md or .txt files"):
        read_corpus(tmp_path / "e")
    (tmp_path / "c" / "blank.txt").write_text("  \n")
    with pytest.raises(DataError, match="document blank.txt is empty"):
        read_corpus(tmp_path / "c")


def test_perplexity_needs_data_and_tokenizer(tmp_path, tiny_model):
    with pytest.raises(DataError, match="--data perplexity="):
        perplexity.load()
    (tmp_path / "a.txt").write_text("the cat sat on the mat")
    with pytest.raises(DataError, match="needs the model's tokenizer"):
        perplexity.load(perplexity_data=str(tmp_path))
    with pytest.raises(DataError, match="ppl_stride=100 must be between 1 and the window"):
        perplexity.load(perplexity_data=str(tmp_path), tokenizer=str(tiny_model), ppl_window=64, ppl_stride=100)
    doc = perplexity.load(perplexity_data=str(tmp_path), tokenizer=str(tiny_model))["test"][0]
    assert doc["n_words"] == 6 and doc["n_bytes"] == 22 and doc["n_tokens"] > 0


def test_bad_data_fails_before_the_model_loads(tiny_model, tmp_path):
    bad = _write(tmp_path, "reviews.csv", "label,text\n1,ok\n9,bad label\n")
    r = subprocess.run([sys.executable, "-m", "harness", "run", "--base", str(tiny_model), "--tasks", "yelp",
                        "--data", f"yelp={bad}", "--out", str(tmp_path / "run")], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [f"error: {bad}: line 3, column 'label': '9' is not a label 0-4 (0 = one "
                                             "star, 4 = five stars); convert 1-5 star counts by subtracting 1"]
    assert "loading base" not in r.stderr and not (tmp_path / "run").exists()


def test_unknown_data_key_and_missing_path(tiny_model, tmp_path):
    r = subprocess.run([sys.executable, "-m", "harness", "run", "--base", str(tiny_model), "--tasks", "yelp",
                        "--data", "yelpp=x.csv", "--data", f"docqa={tmp_path / 'none.csv'}", "--out",
                        str(tmp_path / "run")], capture_output=True, text=True)
    assert r.returncode == 2
    line = r.stderr.strip().splitlines()[-1]
    assert "unknown data key 'yelpp'" in line and "none.csv: no such file" in line
