"""The report's sections that define and compare: adapter vs adapter, per-class precision and recall, the metrics
glossary, and the n a *_drop metric used. Each number is checked against an independent computation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.core.arms import BASE_ARM
from reports import classes, data, document, glossary, markdown, pairwise, tables

GOLDEN_RUN = Path(__file__).resolve().parent / "data" / "golden_run"


@pytest.fixture(scope="module")
def report():
    return data.load([GOLDEN_RUN])


def _rows(arm: str, task: str) -> list[dict]:
    path = GOLDEN_RUN / "samples" / arm / f"{task}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("task,metric", [("yelp", "accuracy"), ("yelp", "f1_macro"), ("docqa", "rougeL"),
                                          ("general_qa", "exact_match")])
def test_a_pair_with_the_base_reproduces_the_runs_own_comparison(report, task, metric):
    """The pairwise path is the run's path: base vs an adapter through it gives run.json's delta, CI and p."""
    mine = pairwise.compare_pair(report, task, metric, BASE_ARM, "lora_r8")
    recorded = tables.comparison_index(report)[(task, metric, "lora_r8")]
    assert mine["delta"] == pytest.approx(recorded["delta"], abs=1e-12)
    assert mine["ci95"] == pytest.approx(recorded["ci95"], abs=1e-12)
    assert mine["p_value"] == pytest.approx(recorded["p_value"], abs=1e-12)
    assert mine["n"] == recorded["n"]


def test_pairwise_p_values_are_holm_adjusted_over_the_pairs(report):
    records = pairwise.pairwise(report)
    assert {(r["vs"], r["arm"]) for r in records} == {("lora_r8", "lora_r16")}
    tested = [r for r in records if r["p_value"] is not None]
    # Holm by hand: sorted p times (m - rank), running maximum, capped at 1.
    order = sorted(range(len(tested)), key=lambda i: tested[i]["p_value"])
    expected, running = [0.0] * len(tested), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(tested) - rank) * tested[i]["p_value"]))
        expected[i] = running
    assert [r["p_adjusted"] for r in tested] == pytest.approx(expected)
    assert all(r["significant"] == (r["p_adjusted"] < 0.05) for r in tested)


def test_one_adapter_has_no_pairwise_table(tmp_path):
    run = json.loads((GOLDEN_RUN / "run.json").read_text())
    run["arms"] = run["arms"][:2]
    keep = {a["name"] for a in run["arms"]}
    for key in ("scores", "comparisons", "diagnostics"):
        run[key] = [r for r in run.get(key) or [] if r["arm"] in keep]
    (tmp_path / "samples").symlink_to(GOLDEN_RUN / "samples")
    (tmp_path / "run.json").write_text(json.dumps(run))
    assert pairwise.table(data.load([tmp_path])) is None


def test_per_class_precision_and_recall_by_hand(report):
    t = classes.table(report, "yelp")
    arms = [BASE_ARM, *report.adapters]
    assert t.header[:2] == ["stars", "support"] and len(t.rows) == 5
    for j, arm in enumerate(arms):
        pairs = [r["metrics"]["accuracy"] for r in _rows(arm, "yelp")]
        f1s = []
        for k in range(5):
            tp = sum(g == k and p == k for g, p in pairs)
            predicted = sum(p == k for _, p in pairs)  # an unparseable answer (-1) predicts no class
            support = sum(g == k for g, _ in pairs)
            prec = tp / predicted if predicted else 0.0
            rec = tp / support if support else 0.0
            f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
            f1s.append(f1)
            row = t.rows[k]
            assert row[0] == str(k + 1) and int(row[1]) == sum(g == k for g, _ in pairs)
            got = [float(x) for x in row[2 + 3 * j: 5 + 3 * j]]
            assert got == pytest.approx([prec, rec, f1], abs=5e-5), (arm, k)
        # the caption's promise: the F1 column's mean is the arm's f1_macro
        assert sum(f1s) / 5 == pytest.approx(tables.value_of(report.scores, "yelp", "f1_macro", arm), abs=1e-9)


def test_every_metric_shown_is_defined_in_its_tasks_words(report):
    t = glossary.table(report)
    shown = {(r["task"], r["metric"]) for r in report.scores.to_dict("records") if "[" not in r["metric"]}
    assert {(r[0], r[1]) for r in t.rows} == shown
    run = json.loads((GOLDEN_RUN / "run.json").read_text())
    for task, metric, better, unit, words in t.rows:
        assert words == run["tasks"][task]["definitions"][metric]  # the task's own words, nothing written by hand
        assert unit == run["tasks"][task].get("unit", "document")
        assert better == ("lower ↓" if metric in ("token_perplexity", "bits_per_byte", "unparseable_rate")
                          else "higher ↑")
    assert "micro" in dict(((r[0], r[1]), r[4]) for r in t.rows)[("yelp", "f1_micro")]


def test_a_metric_its_task_does_not_define_says_where_to_add_the_words(report, tmp_path):
    assert glossary.definition(report, "yelp", "no_such_metric") == glossary.UNDEFINED
    run = json.loads((GOLDEN_RUN / "run.json").read_text())  # a run made before definitions were recorded
    for info in run["tasks"].values():
        info.pop("definitions")
    (tmp_path / "samples").symlink_to(GOLDEN_RUN / "samples")
    (tmp_path / "run.json").write_text(json.dumps(run))
    old = data.load([tmp_path])
    assert glossary.definition(old, "yelp", "accuracy") == glossary.UNRECORDED
    assert glossary.definition(old, "docqa", "bleu4").startswith("nltk")  # its conventions still say it


def test_a_drop_metric_shows_the_parsed_answers_each_arm_used(report):
    counts = {a: sum(r["metrics"]["n_parsed"] for r in _rows(a, "yelp")) for a in [BASE_ARM, *report.adapters]}
    assert counts[BASE_ARM] < 40  # the fixture's base leaves some answers unparseable
    expected = "; parsed: " + ", ".join(f"{a} {int(n)}" for a, n in counts.items()) + ")"
    head = document.headline_table(report)
    row = next(r for r in head.rows if r[1].startswith("f1_macro_drop"))
    assert row[2].startswith("40 (MDE ") and row[2].endswith(expected)
    other = next(r for r in head.rows if r[1].startswith("f1_macro "))
    assert "parsed" not in other[2]
    md = markdown.render(report, [])
    assert md.count(expected) == 2  # the headline and the yelp table


def test_sections_appear_in_the_report(report):
    md = markdown.render(report, [])
    for heading in ("## Verdict", "## Adapter vs adapter", "### yelp: per class", "## Metrics", "## Statistics"):
        assert heading in md
    assert md.index("## Verdict") < md.index("## Headline") < md.index("## Adapter vs adapter")


def test_an_adapter_giving_one_answer_to_every_question_is_a_warning_in_the_verdict(tmp_path):
    """The collapsed adapter answers "2" to everything: its forgetting probe may read "inconclusive" and nothing
    significant, so the Verdict must say it answers one thing."""
    import shutil

    from harness.core import results

    run_dir = tmp_path / "run"
    shutil.copytree(GOLDEN_RUN, run_dir)
    rows = results.read_samples(run_dir, "lora_r8", "general_qa")
    results.write_jsonl(results.samples_path(run_dir, "lora_r8", "general_qa"), [dict(r, response="2") for r in rows])
    md = markdown.render(data.load([run_dir]), [])
    verdict = md.split("## Verdict", 1)[1].split("## Headline", 1)[0]
    assert "lora_r8 on general_qa: it gave the same answer “2” to 30 of its 30 non-empty answers (100.0%)" in verdict
    # in lora_r8's lines on the first screen, and not in lora_r16's
    assert "warning: general_qa one answer" in verdict.split("· **lora_r16**")[0].split("· **lora_r8**")[1]
    assert "one answer" not in verdict.split("· **lora_r16**")[1].split("\n\n**")[0].split("> **Warnings")[0]
    full = md.split("### The verdict in full", 1)[1].split("\n## ", 1)[0]
    assert "warning: general_qa one answer" in full.split("lora_r16:")[0]  # in lora_r8's sentence
    assert "one answer" not in full.split("lora_r16:")[1].split("\n\n")[0]  # and not in lora_r16's
    golden = markdown.render(data.load([GOLDEN_RUN]), [])
    assert "same answer" not in golden
