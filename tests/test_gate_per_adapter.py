"""`harness gate` judges every adapter on its own: a run with one good and one degraded adapter passes the good one
and fails the other, in the console, gate.json, the Markdown step summary, JUnit XML (one test case per rule and
adapter, valid against the common JUnit schema) and GitHub's ::error annotations; `--adapter` gates a chosen few;
the report's first screen marks each adapter from the recorded per-adapter verdict."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET

import pytest
from test_gate import DATA, GOLDEN, lines, patched, set_comparison, write_rules

from harness.cli.app import main
from harness.gate import output
from reports import data, decide, verdict

# lora_r8 and lora_r16 pass every rule on the golden run but forgetting, where lora_r8 is patched to a change well
# within the budget and lora_r16 to a drop beyond it
RULES = [{"kind": "not_degenerate", "task": "yelp"},
         {"kind": "floor", "task": "yelp", "metric": "f1_macro", "value": 0.5},
         {"kind": "ceiling", "task": "yelp", "metric": "unparseable_rate", "value": 0.05},
         {"kind": "improves", "task": "yelp", "metric": "accuracy"},
         {"kind": "forgetting", "task": "general_qa", "metric": "f1", "budget": 0.05}]
DROP = ("change -0.2000 [95% CI -0.3000, -0.1000] (n=30): upper bound -0.1000 < -0.05: drop beyond the budget")


@pytest.fixture
def two(tmp_path):
    """The golden run with one good adapter (lora_r8) and one that forgot (lora_r16)."""
    def edit(run):
        set_comparison("general_qa", "f1", "lora_r8", delta=-0.01, ci95=[-0.031, 0.011])(run)
        set_comparison("general_qa", "f1", "lora_r16", delta=-0.2, ci95=[-0.3, -0.1])(run)
    return patched(tmp_path / "two", edit)


def gate(tmp_path, run, *extra, rules=RULES) -> int:
    return main(["gate", str(run), "--rules", str(write_rules(tmp_path, *rules)), *extra])


def test_the_degraded_adapter_fails_alone_everywhere_the_verdict_goes(two, tmp_path, capsys, monkeypatch):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    xml, js = tmp_path / "gate.xml", tmp_path / "gate.json"
    assert gate(tmp_path, two, "--junit", str(xml), "--json", str(js)) == 1
    out = capsys.readouterr().out.splitlines()
    assert "PASS lora_r8: 5 of 5 rules" in out
    assert f"FAIL lora_r16: forgetting general_qa/f1: {DROP}" in out
    assert not any(line.startswith("FAIL lora_r8") for line in out)
    assert "verdict: FAIL (1 of 2 adapters passed; 4 of 5 rules passed)" in out
    # the per-rule lines stay: every check, each adapter's own
    assert len(lines("\n".join(out))) == 10
    assert [line for line in out if line.startswith("::")] == [
        f"::error title=lora_r16%3A forgetting general_qa/f1::{DROP.replace('%', '%25')}"]

    verdict_json = json.loads(js.read_text())
    assert verdict_json["passed"] is False and [r["passed"] for r in verdict_json["rules"]] == [True] * 4 + [False]
    assert verdict_json["adapters"] == [
        {"name": "lora_r8", "passed": True, "rules_passed": 5, "rules_judged": 5, "failures": []},
        {"name": "lora_r16", "passed": False, "rules_passed": 4, "rules_judged": 5, "failures": [
            {"rule": 5, "rule_name": "forgetting general_qa/f1", "task": "general_qa", "metric": "f1",
             "arm": "lora_r16", "detail": DROP}]}]

    text = summary.read_text()
    assert "- ✅ **lora_r8**: PASS, 5 of 5 rules\n" in text
    assert "- ❌ **lora_r16**: FAIL, 4 of 5 rules; failed: forgetting general_qa/f1\n" in text
    assert text.index("**lora_r16**") < text.index("| rule | arm |")

    cases = junit_cases(xml)
    assert len(cases) == 10 and {c["classname"] for c in cases} == {f"gate.{r['kind']}" for r in RULES}
    failed = [c for c in cases if c["failure"] is not None]
    assert [c["name"] for c in failed] == ["forgetting general_qa/f1[lora_r16]"]
    assert failed[0]["failure"].get("message") == DROP and failed[0]["failure"].get("type") == "GateFailure"
    assert failed[0]["failure"].text == f"lora_r16 general_qa/f1: FAILED: {DROP}"
    assert "forgetting general_qa/f1[lora_r8]" in {c["name"] for c in cases}


def junit_cases(path) -> list[dict]:
    """The file validated against the common JUnit schema, then read as a CI reporter reads it: the suite's counts
    must agree with its cases."""
    import xmlschema

    xmlschema.XMLSchema(str(DATA / "junit.xsd")).validate(str(path))
    (suite,) = ET.parse(path).getroot().findall("testsuite")
    cases = [{"name": c.get("name"), "classname": c.get("classname"), "failure": c.find("failure")}
             for c in suite.findall("testcase")]
    assert int(suite.get("tests")) == len(cases)
    assert int(suite.get("failures")) == sum(c["failure"] is not None for c in cases)
    assert suite.get("errors") == "0" and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", suite.get("timestamp"))
    assert suite.get("hostname") and len({c["name"] for c in cases}) == len(cases)
    return cases


def test_adapter_gates_only_the_named(two, tmp_path, capsys):
    xml, js = tmp_path / "gate.xml", tmp_path / "gate.json"
    assert gate(tmp_path, two, "--adapter", "lora_r8", "--junit", str(xml), "--json", str(js)) == 0
    out = capsys.readouterr().out
    assert "PASS lora_r8: 5 of 5 rules" in out and "lora_r16" not in out
    assert "verdict: PASS (1 of 1 adapters passed; 5 of 5 rules passed)" in out
    assert [a["name"] for a in json.loads(js.read_text())["adapters"]] == ["lora_r8"]
    assert [c["name"] for c in junit_cases(xml)] == [f"{n}[lora_r8]" for n in (
        "not_degenerate yelp", "floor yelp/f1_macro", "ceiling yelp/unparseable_rate", "improves yelp/accuracy",
        "forgetting general_qa/f1")]
    assert gate(tmp_path, two, "--adapter", "lora_r16", "--adapter", "lora_r16") == 1
    assert "FAIL lora_r16: forgetting general_qa/f1" in capsys.readouterr().out


def test_an_unknown_adapter_is_one_line_and_writes_nothing(two, tmp_path, capsys):
    xml, js = tmp_path / "gate.xml", tmp_path / "gate.json"
    assert gate(tmp_path, two, "--adapter", "lora_r6", "--junit", str(xml), "--json", str(js), "--record") == 2
    captured = capsys.readouterr()
    (line,) = captured.err.strip().splitlines()
    assert line.startswith("error: --adapter 'lora_r6': not an adapter arm of run") and "(close matches: lora_r16, lora_r8)" in line
    assert captured.out == "" and not xml.exists() and not js.exists() and not (two / output.GATE_FILE).exists()


def test_a_rule_naming_an_arm_judges_only_that_arm(two, tmp_path, capsys):
    only16 = [*RULES[:4], {**RULES[4], "arm": "lora_r16"}]
    js = tmp_path / "gate.json"
    assert gate(tmp_path, two, "--json", str(js), rules=only16) == 1
    adapters = {a["name"]: a for a in json.loads(js.read_text())["adapters"]}
    assert (adapters["lora_r8"]["rules_judged"], adapters["lora_r8"]["passed"]) == (4, True)
    assert (adapters["lora_r16"]["rules_judged"], adapters["lora_r16"]["passed"]) == (5, False)
    capsys.readouterr()
    # gated alone, lora_r8 is not judged on the rule at all: no line, no case, no count
    assert gate(tmp_path, two, "--adapter", "lora_r8", "--json", str(js), rules=only16) == 0
    out = capsys.readouterr().out
    assert "rule 5" not in out and "PASS lora_r8: 4 of 4 rules" in out
    assert [r["index"] for r in json.loads(js.read_text())["rules"]] == [1, 2, 3, 4]
    # an adapter no rule selects has no verdict: said once, and gating it alone is a usage error
    assert gate(tmp_path, two, "--json", str(js), rules=[{**RULES[1], "arm": "lora_r8"}]) == 0
    assert "not judged: lora_r16 (no rule selects it)" in capsys.readouterr().out
    assert json.loads(js.read_text())["adapters_not_judged"] == ["lora_r16"]
    assert gate(tmp_path, two, "--adapter", "lora_r16", rules=[{**RULES[1], "arm": "lora_r8"}]) == 2
    assert "--adapter lora_r16: no rule of gates.yaml selects it" in capsys.readouterr().err


def test_a_check_on_the_base_judges_every_adapter(two, tmp_path, capsys):
    """The base's yelp f1_macro is 0.37: a floor of 0.5 on it fails each adapter, as it would each one gated alone."""
    base_floor = [RULES[1], {**RULES[1], "arm": "base"}]
    js = tmp_path / "gate.json"
    assert gate(tmp_path, two, "--json", str(js), rules=base_floor) == 1
    out = capsys.readouterr().out
    for arm in ("lora_r8", "lora_r16"):
        assert re.search(rf"^FAIL {arm}: floor yelp/f1_macro \[base\]: 0\.3748 .* < the floor 0\.5$", out, re.M), out
    full = {a["name"]: a for a in json.loads(js.read_text())["adapters"]}
    assert full["lora_r8"]["failures"][0]["arm"] == "base" and full["lora_r8"]["rules_judged"] == 2
    assert gate(tmp_path, two, "--adapter", "lora_r8", "--json", str(js), rules=base_floor) == 1
    assert json.loads(js.read_text())["adapters"] == [full["lora_r8"]]


def test_annotations_escape_as_github_reads_them():
    from harness.gate.verdict import Check, RuleResult

    r = RuleResult(1, {"kind": "floor", "task": "t", "metric": "m", "name": "odd: a, b 5%"},
                   [Check("t", "m", "lora", 0.1, 0.5, False, "50% of\r\nthe: answers, wrong")])
    assert output.annotations([r]) == ["::error title=lora%3A odd%3A a%2C b 5%25::50%25 of%0D%0Athe: answers, wrong"]


def test_the_first_screen_marks_each_adapter_from_the_recorded_gate(two, tmp_path):
    elsewhere = tmp_path / "ci" / "gate.json"  # --json for the CI job and --record for the report, both written
    assert gate(tmp_path, two, "--record", "--json", str(elsewhere)) == 1
    assert elsewhere.read_text() == (two / output.GATE_FILE).read_text()
    report = data.load([two])
    assert decide.mark(report, "lora_r8") == ("PASS", "gate: its checks pass; the run's gate fails on other "
                                                      "adapters (5. forgetting general_qa/f1)")
    assert decide.mark(report, "lora_r16") == ("FAIL", "gate: 1 of 5 rules fail (5. forgetting general_qa/f1)")
    # a gate.json written before per-adapter verdicts is read from its checks, with the same marks
    recorded = json.loads((two / output.GATE_FILE).read_text())
    old = {k: v for k, v in recorded.items() if k not in ("adapters", "adapters_not_judged")}
    (two / output.GATE_FILE).write_text(json.dumps(old))
    report = data.load([two])
    assert [decide.mark(report, a)[0] for a in ("lora_r8", "lora_r16")] == ["PASS", "FAIL"]
    # a gate asked for lora_r8 alone says nothing of lora_r16
    assert gate(tmp_path, two, "--record", "--adapter", "lora_r8") == 0
    report = data.load([two])
    assert decide.mark(report, "lora_r8") == ("PASS", "gate: 5 of 5 rules pass")
    assert verdict.gate_words(report, "lora_r16").startswith("gate: no rule judged this adapter")
    assert decide.mark(report, "lora_r16")[1] == ""  # the legend's rule, as without a gate


def test_the_golden_run_fails_each_adapter_on_its_own_check(tmp_path):
    """The golden run as it is: both adapters' forgetting probes are inconclusive at 30 questions."""
    run = tmp_path / "golden"
    shutil.copytree(GOLDEN, run)
    assert gate(tmp_path, run, "--record") == 1
    report = data.load([run])
    assert [decide.mark(report, a)[0] for a in ("lora_r8", "lora_r16")] == ["FAIL", "FAIL"]


def test_junit_never_lands_on_the_recorded_verdict_or_the_json(two, tmp_path, capsys):
    """XML written over gate.json would lose the verdict the report reads; over --json's file, one of the two."""
    recorded = two / "gate.json"
    for extra, said in ((["--junit", str(recorded)], "is the run's recorded verdict"),
                        (["--junit", str(tmp_path / "v.json"), "--json", str(tmp_path / "v.json")], "is the --json file")):
        assert gate(tmp_path, two, *extra) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and said in err[0], err
    assert not recorded.exists() and not (tmp_path / "v.json").exists()
    assert gate(tmp_path, two, "--junit", str(two / "gate.xml"), "--record") == 1  # beside it, under its own name
    assert json.loads(recorded.read_text())["adapters"] and ET.parse(two / "gate.xml").getroot().tag == "testsuites"
