"""Gate rules that cannot be judged: thresholds that are not finite numbers (or no budget at all), a removed field,
rules that match no row of the run, baselines that cannot be compared. Bad input (exit 2, one line, every problem)
found at validation, never a failed gate (exit 1)."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.cli.app import main
from harness.core import results
from harness.core.errors import HarnessError
from harness.gate import judge as gate

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "data" / "golden_run"
SHIPPED = [REPO / "examples" / "gates.yaml", REPO / "examples" / "gates-ci.yaml", REPO / "harness" / "demo" / "gates.yaml",
           REPO / "examples" / "gates-sequential.yaml"]


@pytest.fixture(scope="module")
def run():
    return json.loads((GOLDEN / "run.json").read_text())


def cli(tmp_path, rules, run_dir=GOLDEN, baseline=None) -> subprocess.CompletedProcess:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"rules": rules}))
    argv = [sys.executable, "-m", "harness", "gate", str(run_dir), "--rules", str(path)]
    return subprocess.run(argv + (["--baseline", str(baseline)] if baseline else []), capture_output=True, text=True,
                          timeout=120)


def one_line_error(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stdout == "", (r.returncode, r.stderr)
    (line,) = r.stderr.strip().splitlines()
    return line


@pytest.mark.parametrize("rule, message", [
    ({"kind": "floor", "task": "yelp", "metric": "f1_macro", "value": float("nan")}, "'value' is nan; a threshold must be a finite"),
    ({"kind": "ceiling", "task": "yelp", "metric": "f1_macro", "value": float("inf")}, "'value' is inf"),
    ({"kind": "floor", "task": "yelp", "metric": "f1_macro", "value": -float("inf")}, "'value' is -inf"),
    ({"kind": "floor", "task": "yelp", "metric": "f1_macro", "value": 10 ** 400}, "must be a finite number"),
    ({"kind": "improves", "task": "yelp", "metric": "f1_macro", "margin": float("nan")}, "'margin' is nan"),
    ({"kind": "improves", "task": "yelp", "metric": "f1_macro", "margin": -float("inf")}, "'margin' is -inf"),
    ({"kind": "forgetting", "task": "general_qa", "metric": "f1", "budget": float("inf")}, "'budget' is inf"),
    ({"kind": "forgetting", "task": "general_qa", "metric": "f1", "budget": float("nan")}, "'budget' is nan"),
    ({"kind": "forgetting", "task": "general_qa", "metric": "f1", "budget": -0.1}, "'budget' is -0.1; it must be > 0"),
    ({"kind": "forgetting", "task": "general_qa", "metric": "f1", "budget": 0}, "'budget' is 0; it must be > 0 .*to demand a gain, use improves"),
    ({"kind": "forgetting", "task": "general_qa", "metric": "f1"}, "'budget' is missing"),
    ({"kind": "no_regression", "task": "yelp", "metric": "f1_macro", "tolerance": float("nan")}, "'tolerance' is nan"),
    ({"kind": "no_regression", "task": "yelp", "metric": "f1_macro", "tolerance": -1}, "'tolerance' is -1"),
    ({"kind": "no_regression", "task": "yelp", "metric": "f1_macro", "tolerance": 0.0}, "'tolerance' is 0.0; it must be > 0"),
    ({"kind": "no_regression", "task": "yelp", "metric": "f1_macro"}, "'tolerance' is missing"),
    ({"kind": "not_degenerate", "task": "yelp", "max_majority_share": float("nan")}, "'max_majority_share' is nan"),
    ({"kind": "not_degenerate", "task": "yelp", "max_majority_share": 0}, "a share in \\(0, 1\\]"),
    ({"kind": "not_degenerate", "task": "yelp", "min_classes": 1.5}, "'min_classes' is 1.5"),
    ({"kind": ["floor"], "task": "yelp"}, "is not one of"),
    ({"kind": "floor", "task": "yelp", "metric": "f1_macro", "value": 0.1, "name": ["x"]}, "'name' must be a string"),
    ({"kind": "no_regression", "task": "yelp", "metric": "f1_macro", "tolerance": 0.1, "baseline_arm": 3}, "'baseline_arm' must be a name"),
    ({"kind": "improves", "task": "yelp", "metric": "f1_macro", "require_ci": "yes"}, "'require_ci' must be true or false"),
])
def test_thresholds_and_fields_are_validated(run, rule, message):
    problems = gate.validate([rule], run, run, "rules.yaml")
    assert any(re.search(message, p) for p in problems), problems


@pytest.mark.parametrize("field, value", [("budget", ".inf"), ("budget", "-.inf"), ("budget", ".nan"), ("margin", ".nan")])
def test_non_finite_thresholds_exit_2_through_the_cli(tmp_path, field, value):
    kind = "forgetting" if field == "budget" else "improves"
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"rules:\n  - {{kind: {kind}, task: general_qa, metric: f1, {field}: {value}}}\n")
    r = subprocess.run([sys.executable, "-m", "harness", "gate", str(GOLDEN), "--rules", str(rules)],
                       capture_output=True, text=True, timeout=120)
    line = one_line_error(r)
    shown = {".inf": "inf", "-.inf": "-inf", ".nan": "nan"}[value]
    assert f"'{field}' is {shown}; a threshold must be a finite number" in line


def test_significant_only_is_gone_and_says_what_replaced_it(tmp_path):
    rules = [{"kind": "forgetting", "task": "general_qa", "metric": "f1", "budget": 0.05, "significant_only": True},
             {"kind": "no_regression", "task": "yelp", "metric": "f1_macro", "tolerance": 0.01, "significant_only": False}]
    line = one_line_error(cli(tmp_path, rules, baseline=GOLDEN))
    assert line.startswith("error: 2 problems in the gate rules")
    said = ("'significant_only' was removed: forgetting and no_regression are non-inferiority checks now (they pass "
            "only when the 95% interval shows the drop is within the budget or tolerance")
    assert line.count(said) == 2 and line.count("delete the field") == 2 and "unknown field" not in line


def test_a_negative_margin_is_a_config_error_that_names_the_right_kind(tmp_path):
    """improves with margin -0.05 would pass a drop of 0.04 under the name "improves"; "not worse by more than 0.05"
    is what forgetting and no_regression claim."""
    rules = [{"kind": "improves", "task": "yelp", "metric": "f1_macro", "margin": -0.05}]
    line = one_line_error(cli(tmp_path, rules))
    assert "'margin' is -0.05; it must be >= 0" in line
    assert "use forgetting with budget: 0.05, or no_regression with tolerance: 0.05" in line


def test_good_thresholds_pass(run):
    rules = [{"kind": "floor", "task": "yelp", "metric": "f1_macro", "value": 0},
             {"kind": "improves", "task": "yelp", "metric": "f1_macro", "margin": 0},
             {"kind": "improves", "task": "yelp", "metric": "f1_macro", "require_ci": False},
             {"kind": "not_degenerate", "task": "yelp", "min_classes": 2, "max_majority_share": 1},
             {"kind": "forgetting", "task": "general_qa", "metric": "f1", "budget": 0.01},
             {"kind": "no_regression", "task": "docqa", "metric": "rougeL", "tolerance": 0.01}]
    assert gate.validate(rules, run, run, "rules.yaml") == []


# --- a rule must select something: each name matching something is not enough ------------------------------------

def _with_general_mc(run: dict) -> dict:
    """The golden run plus general_mc, scored as MMLU is: acc_macro over two subjects, and one per-group row per
    subject (descriptive), each with a comparison."""
    run = copy.deepcopy(run)
    run["tasks"]["general_mc"] = {"version": 1, "n_docs": 40, "config_hash": "h", "unit": "question",
                                  "aggregations": {"acc_macro": "macro_by_group"}}
    for arm in ("base", "lora_r8", "lora_r16"):
        rows = [("acc_macro", None), ("acc[abstract_algebra]", "abstract_algebra"), ("acc[anatomy]", "anatomy")]
        for metric, group in rows:
            s = {"task": "general_mc", "metric": metric, "arm": arm, "value": 0.5, "stderr": None, "ci95": None,
                 "n": 40 if group is None else 20, "higher_is_better": True}
            run["scores"].append(s | ({"group": group, "of": "acc_macro"} if group else {}))
            if arm != "base":
                run["comparisons"].append({"task": "general_mc", "metric": metric, "arm": arm, "vs": "base",
                                           "delta": -0.01, "ci95": [-0.04, 0.02], "p_value": 0.5, "test": "tango-score",
                                           "n": s["n"], "significant": False, "n_too_small": False, "min_n": 10,
                                           "unit": "question", "higher_is_better": True})
    return run


def test_a_rule_that_matches_no_row_is_bad_input(run, tmp_path):
    mc = _with_general_mc(run)
    rules = [{"kind": "forgetting", "task": "general_mc", "metric": "f1", "budget": 0.05},
             {"kind": "floor", "task": "general_*", "metric": "rougeL", "value": 0.1}]
    assert gate.validate(rules, mc, None, "r.yaml") == [
        "r.yaml: rule 1 (forgetting): matches no row of the run: task 'general_mc' matches general_mc, metric 'f1' "
        "matches docqa/f1, general_qa/f1, but no row has both",
        "r.yaml: rule 2 (floor): matches no row of the run: task 'general_*' matches general_mc, general_qa, metric "
        "'rougeL' matches docqa/rougeL, but no row has both"]
    d = tmp_path / "mc"
    d.mkdir()
    (d / "samples").symlink_to(GOLDEN / "samples")
    results.write_json(d / "run.json", mc)
    line = one_line_error(cli(tmp_path, rules[:1], run_dir=d))
    assert line.endswith("matches docqa/f1, general_qa/f1, but no row has both")


def test_the_rule_matches_but_not_on_the_arms_it_judges(run):
    only_base = copy.deepcopy(run)
    only_base["scores"] = [s for s in run["scores"] if s["task"] != "general_qa" or s["arm"] == "base"]
    [problem] = gate.validate([{"kind": "forgetting", "task": "general_qa", "metric": "f1", "budget": 0.1}],
                              only_base, None, "r.yaml")
    assert problem.endswith("task 'general_qa' matches general_qa, metric 'f1' matches docqa/f1, general_qa/f1, the "
                            "adapter arms are lora_r16, lora_r8, but no row of those has all three")


def test_per_group_rows_need_a_bracket_in_the_metric_pattern(run, tmp_path):
    mc = _with_general_mc(run)
    judged = {}
    for pattern in ("acc*", "*", "acc[*]", "acc[anatomy]", "acc_macro"):
        rule = {"kind": "forgetting", "task": "general_mc", "metric": pattern, "budget": 0.05}
        assert gate.validate([rule], mc, None, "r.yaml") == []
        [result] = gate.evaluate([rule], mc, GOLDEN)
        judged[pattern] = sorted({c.metric for c in result.checks})
        assert len(result.checks) == 2 * len(judged[pattern])  # both adapter arms
        assert result.passed  # lower bound -0.04 > -0.05
    assert judged == {"acc*": ["acc_macro"], "*": ["acc_macro"], "acc[*]": ["acc[abstract_algebra]", "acc[anatomy]"],
                      "acc[anatomy]": ["acc[anatomy]"], "acc_macro": ["acc_macro"]}
    [problem] = gate.validate([{"kind": "forgetting", "task": "general_mc", "metric": "*anatomy*", "budget": 0.05}],
                              mc, None, "r.yaml")
    assert problem == ("r.yaml: rule 1 (forgetting): matches no row of the run: task 'general_mc' matches general_mc, "
                       "metric '*anatomy*' matches nothing, but no row has both (per-group rows such as "
                       "general_mc/acc[anatomy] are selected only by a metric pattern that holds '[', e.g. 'acc[*]')")


def test_not_degenerate_needs_diagnostics_for_every_arm_it_judges(run, tmp_path):
    partial = copy.deepcopy(run)
    partial["diagnostics"] = [d for d in run["diagnostics"] if d["arm"] != "lora_r16"]
    rule = {"kind": "not_degenerate", "task": "yelp"}
    [problem] = gate.validate([rule], partial, None, "r.yaml")
    assert problem.startswith("r.yaml: rule 1 (not_degenerate): no prediction diagnostics for arm 'lora_r16' on "
                              "task 'yelp', so there is nothing to judge (diagnostics: yelp/base, yelp/lora_r8)")
    assert gate.validate([{**rule, "arm": "lora_r8"}], partial, None, "r.yaml") == []
    d = tmp_path / "partial"
    d.mkdir()
    (d / "samples").symlink_to(GOLDEN / "samples")
    results.write_json(d / "run.json", partial)
    assert "no prediction diagnostics for arm 'lora_r16'" in one_line_error(cli(tmp_path, [rule], run_dir=d))


def _as_ci_run(run: dict) -> dict:
    """The golden run with yelp scored as yelp_mc (accuracy as acc), the task examples/gates-ci.yaml judges (on a real
    run in tests/test_ci_example.py)."""
    ci = copy.deepcopy(run)
    for row in ci["scores"] + ci["comparisons"] + ci["diagnostics"]:
        if row["task"] == "yelp":
            row["task"] = "yelp_mc"
            if row.get("metric") == "accuracy":
                row["metric"] = "acc"
    ci["tasks"]["yelp_mc"] = ci["tasks"].pop("yelp")
    return ci


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(REPO)))
def test_shipped_rules_are_the_recommended_form(run, path):
    rules = gate.load_rules(path)
    judged = _as_ci_run(run) if path.name == "gates-ci.yaml" else run
    assert gate.validate(rules, judged, judged, str(path)) == []
    assert not any("significant_only" in r for r in rules)
    assert all(r.get("require_ci", True) for r in rules if r["kind"] == "improves")
    forgetting = [r for r in rules if r["kind"] == "forgetting"]
    assert forgetting and all(r["budget"] > 0 for r in forgetting)
    text = path.read_text()
    assert text.count("# claims: ") == len(rules)  # every rule says what it claims


def test_the_demo_rules_on_the_golden_run_say_inconclusive(capsys):
    """lora_r8 dropped 0.10, twice the 0.05 budget, but its interval reaches above it: inconclusive, "about N would"
    with its assumption, and the warning that more documents would more likely confirm that drop; lora_r16's +0.03
    gets the N and its assumption."""
    assert main(["gate", str(GOLDEN), "--rules", str(SHIPPED[2])]) == 1
    out = capsys.readouterr().out
    assert re.search(r"lora_r8 general_qa/f1: change -0\.1000 \[95% CI .*\] \(n=30\): lower bound -0\.\d+ <= -0\.05: "
                     r"inconclusive: n = 30 cannot show a drop smaller than 0\.05; about \d+ documents would, if the "
                     r"adapter changed nothing \(at the churn observed\); but the observed change \(-0\.1000\) is "
                     r"at or beyond the budget: more documents would more likely confirm the drop than clear it$", out,
                     re.M), out
    assert re.search(r"lora_r16 general_qa/f1: change \+0\.0333 .*: inconclusive: n = 30 cannot show a drop smaller than "
                     r"0\.05; about \d+ documents would, if the adapter changed nothing \(at the churn observed\)$", out,
                     re.M), out


# --- baselines that cannot be compared -----------------------------------------------------------------------------

def test_a_baseline_lacking_what_a_rule_compares_is_bad_input(run):
    rule = {"kind": "no_regression", "task": "docqa", "metric": "rougeL", "arm": "lora_r8", "tolerance": 0.1}
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
    rules.write_text("rules:\n  - {kind: no_regression, task: docqa, metric: rougeL, tolerance: 0.5}\n")
    assert main(["gate", str(GOLDEN), "--rules", str(rules), "--baseline", str(base)]) == 2
    assert "no score for docqa/rougeL" in capsys.readouterr().err
    # the run against itself: no document changed, and 12 documents show that within 0.5
    assert main(["gate", str(GOLDEN), "--rules", str(rules), "--baseline", str(GOLDEN)]) == 0
