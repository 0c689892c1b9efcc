"""A third engine plugs in with one file (tests/dummy_engine.py) and one table entry, and `harness run --engine dummy`
works end to end: planned, scored through lm-eval, compared, written, reported, cached."""

from __future__ import annotations

import os

import pytest
from conftest import ENGINE_TASKS
from dummy_engine import DummyEngine, answer, choice_score
from engine_tasks.utils import _STORIES as STORIES

from harness.cli.app import main
from harness.core import results
from harness.engines import base as engines


@pytest.fixture
def dummy_engine(monkeypatch):
    monkeypatch.setitem(engines.ENGINES, "dummy", "dummy_engine:DummyEngine")  # the one table entry


def _run(base, adapters, out, *extra) -> int:
    argv = ["run", "--engine", "dummy", "--base", os.path.relpath(base), "--tasks", "tiny_gen,tiny_ll",
            "--include-path", os.path.relpath(ENGINE_TASKS), "--out", out, "--cache-dir", "cache", "--limit", "6",
            "--no-registry", *extra]
    for a in adapters:
        argv += ["--adapter", os.path.relpath(a)]
    return main(argv)


@pytest.mark.parametrize("name", ["hf", "vllm", "dummy"])
def test_every_engine_class_has_what_the_contract_names(dummy_engine, name):
    """The Protocol's methods and class attributes, on each class in the table (`lm` and `base` are set by __init__)."""
    members = {m for m in vars(engines.Engine) if not m.startswith("_")} | {"name"}
    cls = engines.engine_class(name)
    assert members == {"name", "activate", "provenance", "cache_tag", "preflight"}
    assert all(hasattr(cls, m) for m in members) and cls.name == name
    assert cls is DummyEngine or name != "dummy"


def test_the_fixture_added_one_entry_and_left_the_table_as_it_was():
    assert set(engines.ENGINES) == {"hf", "vllm"}


def test_a_third_engine_runs_end_to_end(dummy_engine, tiny_model, tiny_adapters, capsys):
    assert _run(tiny_model, tiny_adapters[:2], "run") == 0
    run = results.load_run("run")
    assert run["environment"]["engine"]["engine"] == "dummy" and run["config"]["engine"] == "dummy"
    arms = ["base", "lora0", "lora1"]
    assert [a["name"] for a in run["arms"]] == arms
    score = {(s["task"], s["arm"]): s["value"] for s in run["scores"]}
    docs = STORIES[:6]
    for arm in arms:
        # Recomputed without the engine: acc is the share of stories whose right word scores highest among the three
        # choices; exact_match, the share whose generated text is the answer.
        acc = sum(max(range(3), key=lambda i: choice_score(arm, prompt, "\n" + [word, "table", "sky"][i])) == 0
                  for prompt, word in docs) / len(docs)
        em = sum(answer(arm, prompt).strip() == word for prompt, word in docs) / len(docs)
        assert score[("tiny_ll", arm)] == pytest.approx(acc) and score[("tiny_gen", arm)] == pytest.approx(em)
    assert {(c["task"], c["arm"]) for c in run["comparisons"]} == {(t, a) for t in ("tiny_gen", "tiny_ll") for a in arms[1:]}
    assert "tiny_ll" in capsys.readouterr().out  # the headline table printed at the end

    # Rerun into another folder: the per-arm cache (keyed by the engine's cache_tag) answers everything.
    assert _run(tiny_model, tiny_adapters[:2], "again") == 0
    again = results.load_run("again")
    assert {(s["task"], s["arm"]): s["value"] for s in again["scores"]} == score
    assert all(t["computed_requests"] == 0 for per_arm in again["timing"]["arms"].values() for t in per_arm.values())
    assert main(["report", "run", "--format", "md"]) == 0 and "lora1" in (results.Path("run") / "report.md").read_text()


def test_the_engines_preflight_is_asked_before_anything_loads(dummy_engine, tiny_model, tiny_adapters, capsys):
    assert _run(tiny_model, tiny_adapters[:1], "run", "--load-in-4bit") == 2
    assert "the dummy engine has no weights to quantize" in capsys.readouterr().err
    assert not os.path.exists("run")


def test_docqa_samples_carry_the_page_as_cluster(dummy_engine, tiny_model, tiny_adapters):
    """Through lm-eval as run: each docqa sample row names the page its question was asked about (`cluster`), the
    prompt holds the page's text and nothing of the cluster key, and every arm's rows agree on it."""
    from pathlib import Path

    for page, text in (("a.md", "Alpha limits are five."), ("b.md", "Beta needs a key.")):
        Path("docs/g").mkdir(parents=True, exist_ok=True)
        Path("docs/g", page).write_text(text)
    Path("qa.csv").write_text("question,answer,document\nLimit?,five,g/a.md\nKey?,a key,g/b.md\nAlpha?,five,g/a.md\n")
    argv = ["run", "--engine", "dummy", "--base", os.path.relpath(tiny_model), "--adapter",
            os.path.relpath(tiny_adapters[0]), "--tasks", "docqa", "--data", "docqa=qa.csv", "--data",
            "docqa_documents=docs", "--out", "run", "--cache-dir", "cache", "--no-registry"]
    assert main(argv) == 0
    for arm in ("base", "lora0"):
        rows = sorted(results.read_samples(Path("run"), arm, "docqa"), key=lambda r: r["doc_id"])
        assert [r["cluster"] for r in rows] == ["g/a.md", "g/b.md", "g/a.md"]
        assert "Alpha limits are five." in rows[0]["prompt"] and "g/a.md" not in rows[0]["prompt"]
