"""Gate rules whose thresholds are not finite numbers, and baselines that cannot be compared: bad input (exit 2)
found at validation, never a failed gate (exit 1)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from harness.cli.app import main
from harness.core.errors import HarnessError
from harness.gate import judge as gate

GOLDEN = Path(__file__).resolve().parent / "data" / "golden_run"


@pytest.fixture(scope="module")
def run():
    return json.loads((GOLDEN / "run.json").read_text())


@pytest.mark.parametrize("rule, message", [
    ({"kind": "floor", "task": "yelp", "metric": "f1_macro", "value": float("nan")}, "'value' is nan; a threshold must be a finite"),
    ({"kind": "ceiling", "task": "yelp", "metric": "f1_macro", "value": float("inf")}, "'value' is inf"),
    ({"kind": "floor", "task": "yelp", "metric": "f1_macro", "value": -float("inf")}, "'value' is -inf"),
    ({"kind": "floor", "task": "yelp", "metric": "f1_macro", "value": 10 ** 400}, "must be a finite number"),
    ({"kind": "improves", "task": "yelp", "metric": "f1_macro", "margin": float("nan")}, "'margin' is nan"),
    ({"kind": "forgetting", "task": "general_qa", "metric": "f1", "budget": float("inf")}, "'budget' is inf"),
    ({"kind": "forgetting", "task": "general_qa", "metric": "f1", "budget": -0.1}, "'budget' is -0.1; it must be >= 0"),
    ({"kind": "no_regression", "task": "yelp", "metric": "f1_macro", "tolerance": float("nan")}, "'tolerance' is nan"),
    ({"kind": "no_regression", "task": "yelp", "metric": "f1_macro", "tolerance": -1}, "'tolerance' is -1"),
    ({"kind": "not_degenerate", "task": "yelp", "max_majority_share": float("nan")}, "'max_majority_share' is nan"),
    ({"kind": "not_degenerate", "task": "yelp", "max_majority_share": 0}, "a share in \\(0, 1\\]"),
    ({"kind": "not_degenerate", "task": "yelp", "min_classes": 1.5}, "'min_classes' is 1.5"),
    ({"kind": ["floor"], "task": "yelp"}, "is not one of"),
    ({"kind": "floor", "task": "yelp", "metric": "f1_macro", "value": 0.1, "name": ["x"]}, "'name' must be a string"),
    ({"kind": "no_regression", "task": "yelp", "metric": "f1_macro", "baseline_arm": 3}, "'baseline_arm' must be a name"),
])
def test_thresholds_and_fields_are_validated(run, rule, message):
    problems = gate.validate([rule], run, run, "rules.yaml")
    assert any(__import__("re").search(message, p) for p in problems), problems


def test_good_thresholds_pass(run):
    rules = [{"kind": "floor", "task": "yelp", "metric": "f1_macro", "value": 0},
             {"kind": "improves", "task": "yelp", "metric": "f1_macro", "margin": -0.05},
             {"kind": "not_degenerate", "task": "yelp", "min_classes": 2, "max_majority_share": 1},
             {"kind": "no_regression", "task": "docqa", "metric": "rougeL", "tolerance": 0}]
    assert gate.validate(rules, run, run, "rules.yaml") == []


def test_a_baseline_lacking_what_a_rule_compares_is_bad_input(run):
    rule = {"kind": "no_regression", "task": "docqa", "metric": "rougeL", "arm": "lora_r8"}
    no_task = copy.deepcopy(run)
    no_task["tasks"].pop("docqa")
    no_task["scores"] = [s for s in no_task["scores"] if s["task"] != "docqa"]
    problems = gate.validate([rule], run, no_task, "rules.yaml")
    assert problems == ["rules.yaml: rule 1 (no_regression): the baseline run has no score for docqa/rougeL (arm "
                        "'lora_r8'), so there is nothing to compare with; choose a baseline that ran this task and "
                        "metric (the baseline did not run docqa)"]
    no_metric = copy.deepcopy(run)
    no_metric["scores"] = [s for s in no_metric["scores"] if s["metric"] != "rougeL"]
    [problem] = gate.validate([rule], run, no_metric, "rules.yaml")
    assert "(the baseline's docqa metrics: bleu4, exact_match, f1, rouge1, rougeL_corpus)" in problem
    renamed = copy.deepcopy(run)
    for arm in renamed["arms"][1:]:
        arm["name"] = "x" + arm["name"]
    for s in renamed["scores"]:
        s["arm"] = s["arm"] if s["arm"] == "base" else "x" + s["arm"]
    [problem] = gate.validate([rule], run, renamed, "rules.yaml")
    assert "the baseline has no arm 'lora_r8'; name one with baseline_arm" in problem
    # evaluate() on its own (a caller that skipped validate) still refuses rather than failing the rule
    with pytest.raises(HarnessError, match="no score for docqa/rougeL"):
        gate.evaluate([rule], run, GOLDEN, no_metric, GOLDEN)


def test_cli_exit_codes(tmp_path, capsys):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {kind: floor, task: yelp, metric: f1_macro, value: .nan}\n")
    assert main(["gate", str(GOLDEN), "--rules", str(rules), "--junit", str(tmp_path / "g.xml")]) == 2
    assert "'value' is nan" in capsys.readouterr().err and not (tmp_path / "g.xml").exists()
    base = tmp_path / "baseline"
    base.mkdir()
    doc = json.loads((GOLDEN / "run.json").read_text())
    doc["scores"] = [s for s in doc["scores"] if s["metric"] != "rougeL"]
    (base / "run.json").write_text(json.dumps(doc))
    rules.write_text("rules:\n  - {kind: no_regression, task: docqa, metric: rougeL}\n")
    assert main(["gate", str(GOLDEN), "--rules", str(rules), "--baseline", str(base)]) == 2
    assert "no score for docqa/rougeL" in capsys.readouterr().err
    assert main(["gate", str(GOLDEN), "--rules", str(rules), "--baseline", str(GOLDEN)]) == 0
