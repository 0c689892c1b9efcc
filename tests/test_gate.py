"""`harness gate`: every rule kind passing and failing, noise awareness, bad rules, JUnit XML, a gate on a real run."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import ENGINE_TASKS

from harness.cli.app import main
from harness.core import results
from harness.gate import judge as gate

DATA = Path(__file__).resolve().parent / "data"
GOLDEN = DATA / "golden_run"


def write_rules(tmp_path, *rules) -> Path:
    path = tmp_path / "gates.yaml"
    path.write_text(yaml.safe_dump({"rules": list(rules)}))
    return path


def run_gate(tmp_path, *rules, baseline=None, extra=()) -> int:
    argv = ["gate", str(GOLDEN), "--rules", str(write_rules(tmp_path, *rules)), *extra]
    if baseline:
        argv += ["--baseline", str(baseline)]
    return main(argv)


# (rule, expected exit code) on the golden run: lora_r8 / lora_r16 f1_macro 0.699 / 0.620, unparseable 0 / 0,
# docqa rougeL gains +0.233 (CI low 0.09) / +0.20 (CI low -0.03), general_qa f1 -0.10 (p 0.61) / +0.03.
CASES = [
    ({"kind": "floor", "task": "yelp", "metric": "f1_macro", "value": 0.6}, 0),
    ({"kind": "floor", "task": "yelp", "metric": "f1_macro", "value": 0.65}, 1),
    ({"kind": "floor", "task": "yelp", "metric": "f1_macro", "arm": "lora_r8", "value": 0.65}, 0),
    ({"kind": "floor", "task": "yelp", "metric": "f1_macro", "arm": "base", "value": 0.5}, 1),
    ({"kind": "ceiling", "task": "yelp", "metric": "unparseable_rate", "value": 0.05}, 0),
    ({"kind": "ceiling", "task": "yelp", "metric": "unparseable_rate", "arm": "base", "value": 0.05}, 1),
    ({"kind": "improves", "task": "docqa", "metric": "rougeL", "margin": 0.15}, 0),
    ({"kind": "improves", "task": "docqa", "metric": "rougeL", "margin": 0.22}, 1),
    ({"kind": "improves", "task": "docqa", "metric": "rougeL", "require_ci": True}, 1),
    ({"kind": "improves", "task": "docqa", "metric": "rougeL", "arm": "lora_r8", "require_ci": True}, 0),
    ({"kind": "improves", "task": "perplexity", "metric": "token_perplexity", "margin": 3.0}, 0),  # lower is better
    ({"kind": "improves", "task": "perplexity", "metric": "token_perplexity", "margin": 4.0}, 1),
    ({"kind": "forgetting", "task": "general_*", "metric": "f1", "budget": 0.05}, 1),
    ({"kind": "forgetting", "task": "general_*", "metric": "f1", "budget": 0.15}, 0),
    ({"kind": "forgetting", "task": "general_*", "metric": "f1", "budget": 0.05, "significant_only": True}, 0),
]


@pytest.mark.parametrize("rule, code", CASES)
def test_rule_kinds(rule, code, tmp_path):
    assert run_gate(tmp_path, rule) == code


def _worse_baseline(tmp_path, factor: float) -> Path:
    """A copy of the golden run whose perplexity scores are `factor` times the candidate's."""
    d = tmp_path / "baseline"
    run = copy.deepcopy(results.load_run(GOLDEN))
    run["run_id"] = "baseline"
    for s in run["scores"]:
        if s["metric"] == "token_perplexity":
            s["value"] *= factor
    (d / "samples").mkdir(parents=True)
    for arm in ("base", "lora_r8", "lora_r16"):
        (d / "samples" / arm).symlink_to(GOLDEN / "samples" / arm)
    results.write_json(d / "run.json", run)
    return d


@pytest.mark.parametrize("factor, tolerance, code", [(1.0, 0.0, 0), (0.9, 0.5, 1), (0.9, 2.0, 0), (1.2, 0.0, 0)])
def test_no_regression(tmp_path, factor, tolerance, code):
    rule = {"kind": "no_regression", "task": "perplexity", "metric": "token_perplexity", "tolerance": tolerance}
    assert run_gate(tmp_path, rule, baseline=_worse_baseline(tmp_path, factor)) == code


def _run_dir(root: Path, name: str, values: np.ndarray, base_fp: str = "sha256:b") -> Path:
    d = root / name
    rows = [{"doc_id": i, "doc_hash": f"h{i}", "filter": "none", "metrics": {"acc": float(v)}} for i, v in enumerate(values)]
    results.write_jsonl(results.samples_path(d, "lora", "t"), rows)
    run = {"schema": results.SCHEMA, "run_id": name, "created": "2026-01-01T00:00:00+00:00", "config": {},
           "environment": {}, "base": {"name": "b", "source": "b", "fingerprint": base_fp, "dtype": "float32",
                                       "quantization": "none"},
           "arms": [{"name": "base", "adapter": None}, {"name": "lora", "adapter": {"path": "/a", "fingerprint": "x", "peft": {}}}],
           "tasks": {"t": {"version": 1, "n_docs": len(values), "config_hash": "h", "aggregations": {"acc": "mean"}}},
           "scores": [{"task": "t", "metric": "acc", "arm": "lora", "value": float(values.mean()), "stderr": None,
                       "ci95": None, "n": len(values), "higher_is_better": True}],
           "comparisons": [], "timing": {"load_s": 0, "arms": {}}, "resources": {"peak_rss_bytes": 0, "peak_gpu_bytes": None}}
    results.write_json(d / "run.json", run)
    return d


def test_noise_aware_no_regression(tmp_path):
    """200 A/A pairs (the same documents, two independent draws at the same accuracy): the significance-aware rule
    fails in at most 8%; a plain rule with no tolerance fails about half the time; a real drop fails it."""
    rule = [{"kind": "no_regression", "task": "t", "metric": "acc", "significant_only": True}]
    plain = [{"kind": "no_regression", "task": "t", "metric": "acc"}]
    aware_fails = plain_fails = 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        cand = _run_dir(tmp_path / str(seed), "cand", (rng.random(200) < 0.7).astype(float))
        base = _run_dir(tmp_path / str(seed), "base", (rng.random(200) < 0.7).astype(float))
        c, b = results.load_run(cand), results.load_run(base)
        aware_fails += not gate.evaluate(rule, c, cand, b, base)[0].passed
        plain_fails += not gate.evaluate(plain, c, cand, b, base)[0].passed
    assert aware_fails / 200 <= 0.08, aware_fails
    assert plain_fails / 200 > 0.3, plain_fails
    rng = np.random.default_rng(999)
    truth = rng.random(200) < 0.75
    dropped = truth & (rng.random(200) > 0.25)  # the candidate loses a quarter of what the baseline got right
    cand, base = _run_dir(tmp_path / "drop", "cand", dropped.astype(float)), _run_dir(tmp_path / "drop", "base", truth.astype(float))
    assert not gate.evaluate(rule, results.load_run(cand), cand, results.load_run(base), base)[0].passed


def test_bad_rules_list_every_problem(tmp_path):
    other = _run_dir(tmp_path, "other", np.ones(5), base_fp="sha256:other")
    rules = write_rules(tmp_path,
                        {"kind": "floor", "task": "yelpp", "metric": "f1_macro", "value": 0.4},
                        {"kind": "floor", "task": "yelp", "metric": "f1_makro", "value": "high"},
                        {"kind": "ceiling", "task": "yelp", "metric": "unparseable_rate", "arm": "lora_r9", "value": 0.1},
                        {"kind": "improve", "task": "docqa", "metric": "rougeL"},
                        {"kind": "forgetting", "task": "general_qa", "metric": "f1", "budget": 0.02, "significant_only": "yes"},
                        {"kind": "no_regression", "task": "docqa", "metric": "rougeL", "tolrance": 0.1})
    r = subprocess.run([sys.executable, "-m", "harness", "gate", str(GOLDEN), "--rules", str(rules), "--baseline", str(other)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    (line,) = r.stderr.strip().splitlines()
    for fragment in ("unknown task 'yelpp' (close matches: yelp", "'value' must be a number, got 'high'",
                     "unknown metric 'f1_makro' (close matches: f1_macro", "unknown arm 'lora_r9' (close matches: lora_r8",
                     "kind 'improve' is not one of", "'significant_only' must be true or false",
                     "unknown field 'tolrance' (close matches: tolerance", "--baseline: evaluated another base model"):
        assert fragment in line, fragment
    assert line.startswith("error: 8 problems in the gate rules")


def test_missing_baseline(tmp_path, capsys):
    assert run_gate(tmp_path, {"kind": "no_regression", "task": "docqa", "metric": "rougeL"}) == 2
    assert "needs a baseline" in capsys.readouterr().err
    assert run_gate(tmp_path, {"kind": "floor", "task": "yelp", "metric": "f1_macro", "value": 0},
                    baseline=tmp_path / "nowhere") == 2


def test_junit_json_and_step_summary(tmp_path, monkeypatch):
    import xmlschema

    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    rc = run_gate(tmp_path, CASES[0][0], CASES[1][0], CASES[6][0],
                  extra=("--junit", str(tmp_path / "gate.xml"), "--json", str(tmp_path / "gate.json")))
    assert rc == 1
    xmlschema.XMLSchema(str(DATA / "junit.xsd")).validate(str(tmp_path / "gate.xml"))
    import xml.etree.ElementTree as ET

    suite = ET.parse(tmp_path / "gate.xml").getroot().find("testsuite")
    cases = suite.findall("testcase")
    assert suite.get("tests") == "3" and suite.get("failures") == "1" and len(cases) == 3
    assert [c.find("failure") is not None for c in cases] == [False, True, False]
    verdict = json.loads((tmp_path / "gate.json").read_text())
    assert verdict["passed"] is False and [r["passed"] for r in verdict["rules"]] == [True, False, True]
    text = summary.read_text()
    assert text.startswith("earlier step\n") and "Adapter gate: ❌ FAIL" in text and "2 of 3 rules passed" in text


def test_gate_on_a_tiny_real_run(tiny_model, tiny_adapters, tmp_path):
    reg = tmp_path / "reg.sqlite"
    out = tmp_path / "run"
    assert main(["run", "--base", str(tiny_model), "--adapter", str(tiny_adapters[0]), "--tasks", "tiny_ll,tiny_gen",
                 "--include-path", str(ENGINE_TASKS), "--limit", "8", "--out", str(out), "--registry", str(reg)]) == 0
    run = results.load_run(out)
    acc = next(s["value"] for s in run["scores"] if s["arm"] == "lora0" and s["metric"] == "acc")
    rules = write_rules(tmp_path, {"kind": "floor", "task": "tiny_ll", "metric": "acc", "value": acc},
                        {"kind": "ceiling", "task": "tiny_*", "metric": "*", "arm": "lora0", "value": 1.0},
                        {"kind": "forgetting", "task": "tiny_ll", "metric": "acc", "budget": 1.0})
    assert main(["gate", str(out), "--rules", str(rules)]) == 0
    strict = write_rules(tmp_path, {"kind": "floor", "task": "tiny_ll", "metric": "acc", "value": acc + 0.01})
    assert main(["gate", str(out), "--rules", str(strict)]) == 1
    # against the accepted baseline from the registry: the same run, so no regression
    assert main(["registry", "--registry", str(reg), "accept", str(out)]) == 0
    same = write_rules(tmp_path, {"kind": "no_regression", "task": "tiny_ll", "metric": "acc", "significant_only": True})
    assert main(["gate", str(out), "--rules", str(same), "--baseline", "registry:accepted", "--registry", str(reg)]) == 0
