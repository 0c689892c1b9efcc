"""Files that are not what they should be: docqa documents outside their folder, data paths that are pipes or
folders, damaged samples files (refused before any report file is written), run.json missing a key."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from harness.cli.app import main
from harness.core import results
from harness.core.errors import HarnessError
from harness.core.results import read_samples_file
from tasks.data import DataError, read_table, read_text_file
from tasks.docqa.utils import load_rows

GOLDEN = Path(__file__).resolve().parent / "data" / "golden_run"


@pytest.fixture
def docs(tmp_path) -> Path:
    d = tmp_path / "docs"
    (d / "guide" / "doc_source").mkdir(parents=True)
    (d / "page.md").write_text("Press the red button.\n")
    (d / "guide" / "doc_source" / "setup.md").write_text("Plug it in.\n")
    (d / "inner.md").symlink_to(d / "page.md")
    (tmp_path / "secret.md").write_text("hunter2\n")
    (d / "out.md").symlink_to(tmp_path / "secret.md")
    (d / "outdir").symlink_to(tmp_path, target_is_directory=True)
    os.mkfifo(d / "pipe.md")
    return d


def _qa(tmp_path, document: str) -> Path:
    f = tmp_path / "qa.jsonl"
    rows = [{"question": "How?", "answer": "Red.", "document": "page.md"},
            {"question": "Secret?", "answer": "hunter2", "document": document}]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return f


@pytest.mark.parametrize("document", ["page.md", "inner.md", "guide/setup.md", "guide/doc_source/setup.md"])
def test_documents_inside_the_folder_are_read(tmp_path, docs, document):
    rows = load_rows(_qa(tmp_path, document), docs)
    assert rows[1]["context"] in ("Press the red button.", "Plug it in.")


@pytest.mark.parametrize("document, message", [
    ("../secret.md", "line 2, column 'document': document '../secret.md' points outside the documents folder"),
    ("guide/../../secret.md", "points outside the documents folder"),
    ("guide/../page.md", "no '..'"),
    ("/etc/passwd", "document '/etc/passwd' points outside the documents folder"),
    ("out.md", "leads through a link to .*secret.md, outside the documents folder"),
    ("outdir/secret.md", "outside the documents folder"),
    ("page.md\u0000x", "contains a NUL character"),
    ("x" * 300 + ".md", "cannot be looked up"),
    ("pipe.md", "is not a regular file"),
    ("guide", "not found under"),
])
def test_documents_outside_the_folder_are_refused(tmp_path, docs, document, message):
    with pytest.raises(DataError, match=message):
        load_rows(_qa(tmp_path, document), docs)


def test_documents_folder_is_a_file(tmp_path, docs):
    with pytest.raises(DataError, match="is a file, not a folder"):
        load_rows(_qa(tmp_path, "page.md"), docs / "page.md")


def test_pipes_and_folders_are_named_for_what_they_are(tmp_path):
    pipe = tmp_path / "reviews.csv"
    os.mkfifo(pipe)
    with pytest.raises(DataError, match="not a regular file"):  # reading it would wait for a writer forever
        read_table(pipe, "yelp_data")
    with pytest.raises(DataError, match="not a regular file"):
        read_text_file(pipe)
    folder = tmp_path / "x_test.csv"
    folder.mkdir()
    with pytest.raises(DataError, match="is a folder; give a text file"):
        read_text_file(folder)


def _lines(n=3) -> str:
    return "".join(json.dumps({"doc_id": i, "metrics": {"acc": 1}}) + "\n" for i in range(n))


@pytest.mark.parametrize("text, message", [
    (_lines()[:-10], "line 3: cut off mid-line"),
    (_lines() + "<<<<<<< HEAD\n" + _lines(), "line 4: not valid JSON"),
    ("[1, 2]\n", "line 1: expected one JSON object per line, got list"),
    ('{"metrics": {}}\n', "line 1: the sample has no 'doc_id'"),
    ('{"doc_id": [1]}\n', "line 1: the sample has no 'doc_id'"),
    ('{"doc_id": 1, "metrics": [1]}\n', "line 1: the sample's 'metrics' is not an object"),
])
def test_damaged_samples_name_file_and_line(tmp_path, text, message):
    f = tmp_path / "yelp.jsonl"
    f.write_text(text)
    with pytest.raises(HarnessError, match=message) as e:
        read_samples_file(f)
    assert str(f) in str(e.value) and "--force" in str(e.value)


def test_good_samples_read(tmp_path):
    f = tmp_path / "yelp.jsonl"
    f.write_text(_lines() + "\n")
    assert [r["doc_id"] for r in read_samples_file(f)] == [0, 1, 2]


def test_report_on_a_damaged_run_writes_nothing(tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(GOLDEN, run)
    f = run / "samples" / "lora_r16" / "yelp.jsonl"
    f.write_bytes(f.read_bytes()[:-30])
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    assert main(["report", str(run)]) == 2  # into the run folder itself
    assert "yelp.jsonl: line 40: cut off mid-line" in capsys.readouterr().err
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before
    assert main(["report", str(GOLDEN), str(run), "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()


def test_run_json_messages_name_the_key(tmp_path):
    doc = json.loads((GOLDEN / "run.json").read_text())
    doc.pop("timing")
    (tmp_path / "run.json").write_text(json.dumps(doc))
    with pytest.raises(HarnessError, match=r"run.json: does not follow harness.run/1: run.timing: missing \(the required "
                                           r"key 'timing' is not there\)"):
        results.load_run(tmp_path)
    doc = json.loads((GOLDEN / "run.json").read_text())
    doc["scores"][0]["value"] = "0.5"
    doc["base"] = {"name": "x"}
    problems = results.validate_run(doc)
    assert "base.source: missing (the required key 'source' is not there)" in problems
    assert "scores[0].value: expected a number, got a string" in problems
    doc["arms"][0] = None
    assert "arms[0]: expected an object (with keys name), got null" in results.validate_run(doc)
    assert results.validate_run([]) == ["expected an object (with keys schema, run_id, created, config, environment, base, "
                                        "arms, tasks, scores, comparisons, timing, resources), got a list"]


def test_an_unreadable_file_says_so(tmp_path, monkeypatch):
    f = tmp_path / "reviews.csv"
    f.write_text("label,text\n0,awful\n")

    def refuse(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)  # the tests may run as root, which permission bits do not stop
    with pytest.raises(DataError, match="reviews.csv: cannot be read \\(Permission denied\\); check the file and its "
                                        "permissions") as e:
        read_table(f, "yelp_data")
    assert "hub" not in str(e.value)
