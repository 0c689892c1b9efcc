"""Empty answers of generation tasks (general_qa, docqa) are counted per arm and warned about when they are most of
the answers: 1,799 empty answers out of 1,800 must not pass as an ordinary low score."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.core import comparisons, diagnostics, results
from reports import data, document

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "data" / "golden_run"


def _rows(answers: list[str]) -> list[dict]:
    return [{"doc_id": i, "prompt": "Q: q?\nA:", "target": "Paris", "response": a, "filtered": a,
             "metrics": {"exact_match": 0.0, "f1": 0.0}} for i, a in enumerate(answers)]


def test_empty_share_of_1800_answers():
    answers = [""] * 1001 + ["  ", "\n", " \t "] * 266 + ["Paris"]  # 1,799 empty (blank counts as empty), 1 not
    assert len(answers) == 1800
    d = diagnostics.empty_answers(diagnostics.answer_texts(_rows(answers)))
    assert d == {"n": 1800, "empty": 1799, "empty_share": 1799 / 1800, "verdict": "mostly empty"}
    assert diagnostics.describe_empty(d, "general_qa", "lora") == (
        "lora on general_qa: 1799 of its 1800 answers (99.9%) are empty; its scores measure a model that does not "
        "answer, not what it knows (check the prompt format and the stop strings: an answer that starts with one of "
        "them is cut to nothing).")


@pytest.mark.parametrize("empty, verdict", [(0, "ok"), (50, "ok"), (51, "mostly empty"), (100, "mostly empty")])
def test_threshold_is_more_than_half(empty, verdict):
    d = diagnostics.empty_answers([""] * empty + ["x"] * (100 - empty))
    assert d["verdict"] == verdict and d["empty"] == empty
    assert (diagnostics.describe_empty(d, "t", "a") is None) == (verdict == "ok")


def test_fill_keeps_classifiers_apart():
    run = {"arms": [{"name": "base"}, {"name": "lora"}],
           "tasks": {"general_qa": {"unit": "question"}, "docqa": {}, "perplexity": {}}}
    samples = {("base", "general_qa"): _rows(["Paris", "", "London", "Rome"]),
               ("lora", "general_qa"): _rows(["", "", " ", "Rome"]),
               ("base", "docqa"): _rows(["an answer"] * 3), ("lora", "docqa"): _rows(["an answer", "", ""]),
               ("base", "perplexity"): [{"doc_id": 0, "response": -12.5, "filtered": -12.5, "metrics": {}}],
               ("lora", "perplexity"): [{"doc_id": 0, "response": -11.0, "filtered": -11.0, "metrics": {}}]}
    diagnostics.fill(run, lambda arm, task: samples[(arm, task)])
    assert run["diagnostics"] == []  # the classifier records (and the gate's not_degenerate rule) are unchanged
    got = {(d["task"], d["arm"]): (d["n"], d["empty"], d["verdict"], d["unit"]) for d in run["generation_diagnostics"]}
    assert got == {("general_qa", "base"): (4, 1, "ok", "question"), ("general_qa", "lora"): (4, 3, "mostly empty", "question"),
                   ("docqa", "base"): (3, 0, "ok", "document"), ("docqa", "lora"): (3, 2, "mostly empty", "document")}


def test_report_warns_about_an_arm_that_answers_nothing(tmp_path):
    d = tmp_path / "run"
    shutil.copytree(GOLDEN, d)
    rows = results.read_samples(d, "lora_r8", "general_qa")
    for r in rows[:-1]:
        r["response"] = r["filtered"] = ""
    results.write_jsonl(results.samples_path(d, "lora_r8", "general_qa"), rows)
    run = results.load_run(d)
    results.write_json(d / "run.json", comparisons.fill(run, d, resamples=50))
    warnings = [w for b in document.build(data.load([d])) if b.kind == "warnings" for w in b.items]
    n = len(rows)
    assert (f"lora_r8 on general_qa: {n - 1} of its {n} answers ({100 * (n - 1) / n:.1f}%) are empty; its scores "
            "measure a model that does not answer") in " ".join(warnings)
    assert not any(w.startswith(("base on general_qa", "lora_r16 on general_qa")) for w in warnings)


def test_reports_stay_torch_free():
    code = ("import sys; import reports.document, reports.text, reports.html, reports.markdown, harness.core.diagnostics; "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO, timeout=120).returncode == 0
