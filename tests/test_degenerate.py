"""A degenerate adapter never passes: an adapter that answers "3 stars" to every review, against a base whose answers
were all unparseable, "improves" macro F1 significantly; the diagnostics, the shipped gate rules and the report must
all call it what it is."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.cli.app import main
from harness.core import comparisons, diagnostics, results
from reports import data, markdown
from tasks.yelp import utils as yelp

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "data" / "golden_run"
YELP_AGG = {"accuracy": "accuracy", "f1_micro": "f1_micro", "f1_macro": "f1_macro", "f1_weighted": "f1_weighted",
            "unparseable_rate": "mean", "f1_macro_drop": "f1_macro_drop", "n_parsed": "count"}


def _rewrite_yelp(run_dir: Path, arm: str, answer) -> None:
    rows = results.read_samples(run_dir, arm, "yelp")
    for r in rows:
        gold = int(r["target"]) - 1
        pred = answer(gold)
        r["response"] = "Rating: unclear" if pred == -1 else f"{pred + 1} stars"
        r["filtered"] = {"star": None if pred == -1 else pred + 1, "rule": "no_rating" if pred == -1 else "n_stars"}
        pair = [gold, pred]
        r["metrics"] = {"accuracy": pair, "f1_micro": pair, "f1_macro": pair, "f1_weighted": pair,
                        "unparseable_rate": float(pred == -1), "f1_macro_drop": pair, "n_parsed": float(pred != -1)}
    results.write_jsonl(results.samples_path(run_dir, arm, "yelp"), rows)


@pytest.fixture
def constant_run(tmp_path) -> Path:
    """The golden run, with the base unparseable on every review and lora_r8 answering 3 stars to all of them."""
    d = tmp_path / "run"
    shutil.copytree(GOLDEN, d)
    _rewrite_yelp(d, "base", lambda gold: -1)
    _rewrite_yelp(d, "lora_r8", lambda gold: 2)
    run = results.load_run(d)
    for s in run["scores"]:
        if s["task"] == "yelp" and s["arm"] in ("base", "lora_r8") and s["metric"] in YELP_AGG:
            values = [r["metrics"][s["metric"]] for r in results.read_samples(d, s["arm"], "yelp")]
            agg = YELP_AGG[s["metric"]]
            s["value"] = float(sum(values) / len(values)) if agg == "mean" else float(sum(values)) if agg == "count" \
                else getattr(yelp, agg)(values)
            s["ci95"] = None
    results.write_json(d / "run.json", comparisons.fill(run, d, resamples=300))
    return d


def test_the_constant_adapter_looks_like_a_significant_improvement(constant_run):
    run = results.load_run(constant_run)
    comps = {c["metric"]: c for c in run["comparisons"] if (c["task"], c["arm"]) == ("yelp", "lora_r8")}
    # the trap: +0.20 with its 95% CI clear of zero (it keeps no star only because the golden run holds 26
    # comparisons and Holm asks more of each)
    assert comps["accuracy"]["delta"] == pytest.approx(0.2) and comps["accuracy"]["p_value"] < 0.05
    assert comps["accuracy"]["ci95"][0] > 0
    assert comps["f1_macro"]["delta"] > 0
    d = next(x for x in run["diagnostics"] if (x["task"], x["arm"]) == ("yelp", "lora_r8"))
    assert d["verdict"] == diagnostics.CONSTANT and d["classes_predicted"] == 1 and d["majority_share"] == 1.0
    assert d["majority_answer"] == "3 stars" and d["accuracy"] == pytest.approx(d["chance_accuracy"])
    base = next(x for x in run["diagnostics"] if (x["task"], x["arm"]) == ("yelp", "base"))
    assert base["verdict"] == "no parseable answer" and base["unparseable_share"] == 1.0


@pytest.mark.parametrize("rules", [REPO / "examples" / "gates.yaml", REPO / "harness" / "demo" / "gates.yaml"])
def test_shipped_gate_rules_fail_a_constant_predictor(constant_run, rules, tmp_path, capsys):
    # Only the judged adapter: the other arm of the fixture is not the subject here.
    run = results.load_run(constant_run)
    report_json = tmp_path / "gate.json"
    code = main(["gate", str(constant_run), "--rules", str(rules), "--json", str(report_json)])
    assert code == 1
    out = capsys.readouterr().out
    assert "not_degenerate" in out and "constant predictor" in out
    verdict = __import__("json").loads(report_json.read_text())
    failed = [r for r in verdict["rules"] if not r["passed"]]
    assert any(r["rule"]["kind"] == "not_degenerate" for r in failed)
    assert run["comparisons"]  # the improves rule alone would not have caught it


def test_report_names_the_constant_predictor(constant_run):
    md = markdown.render(data.load([constant_run]), [])
    assert "> - lora_r8 on yelp is a constant predictor: it answered 3 stars for 100.0% of 40" in md
    assert "chance level" in md


def test_diagnose_verdicts_against_hand_counts():
    golds = [0, 1, 2, 3, 4] * 4
    assert diagnostics.diagnose(golds, [2] * 20)["verdict"] == diagnostics.CONSTANT
    assert diagnostics.diagnose(golds, [2] * 19 + [-1])["verdict"] == diagnostics.NEAR_CONSTANT
    assert diagnostics.diagnose(golds, [-1] * 20)["verdict"] == "no parseable answer"
    mostly = diagnostics.diagnose(golds, [-1] * 12 + [0, 1, 2, 3, 4, 0, 1, 2])
    assert mostly["verdict"] == diagnostics.MOSTLY_UNPARSEABLE and mostly["unparseable_share"] == 0.6
    fine = diagnostics.diagnose(golds, golds)
    assert fine["verdict"] == "ok" and fine["accuracy"] == 1.0 and fine["chance_accuracy"] == 0.2
    assert fine["classes_predicted"] == 5 and fine["majority_share"] == 0.2
