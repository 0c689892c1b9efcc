"""The report's Verdict: the first section of report.md and report.html, one sentence per adapter (the primary task's
delta with its CI, what it broke read as non-inferiority, n and MDE, the gate's result), the diagnostics' warnings,
and the run's settings line; and `harness gate` recording its verdict in RUN/gate.json, where the report reads it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from test_degenerate import _rewrite_yelp, constant_run  # noqa: F401  (the fixture of a constant-predictor run)
from test_reports import RULES  # the gate rules the report tests judge the golden run with

from harness.cli.app import main
from harness.core import diagnostics, results
from harness.gate import output as gate_output
from reports import data, html, markdown, numbers, text
from reports import verdict as words

GOLDEN_RUN = Path(__file__).resolve().parent / "data" / "golden_run"


def _copy(tmp_path: Path, name: str = "run") -> Path:
    run_dir = tmp_path / name
    shutil.copytree(GOLDEN_RUN, run_dir)
    return run_dir


def _rules(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    return path


def _verdict(md: str) -> str:
    """The Verdict section of a report.md (from its heading to the next one) and the verdict in full under the
    headline (its sentences, settings)."""
    full = md.split("### The verdict in full\n", 1)[1].split("\n## ", 1)[0] if "### The verdict in full" in md else ""
    return md.split("## Verdict\n", 1)[1].split("\n## ", 1)[0] + full


def test_verdict_is_the_first_section_in_markdown_and_html(tmp_path):
    report = data.load([GOLDEN_RUN])
    md = markdown.render(report, [])
    assert re.findall(r"^## .*", md, flags=re.M)[0] == "## Verdict"
    page = html.render(report, tmp_path, [])
    assert re.findall(r"<h2>(.*?)</h2>", page)[0] == "Verdict"
    # the same sentences in both media
    for arm in report.adapters:
        sentence = words.sentence(report, arm)
        assert markdown.esc(sentence, 4000) in md and html.e(sentence) in page


def test_one_sentence_per_adapter_with_primary_delta_n_mde_and_forgetting():
    report = data.load([GOLDEN_RUN])
    assert words.primary(report) == ("yelp", "accuracy")
    verdict = _verdict(markdown.render(report, []))
    assert "Primary task: yelp, metric accuracy" in verdict
    run = results.load_run(GOLDEN_RUN)
    comps = {(c["task"], c["metric"], c["arm"]): c for c in run["comparisons"]}
    for arm in report.adapters:
        lines = [line for line in verdict.splitlines() if line.startswith(f"{arm}: ")]
        assert len(lines) == 1, f"one sentence for {arm}"
        line = lines[0]
        c = comps[("yelp", "accuracy", arm)]
        assert f"yelp accuracy (primary task) Δ {numbers.delta(c['delta'], c['ci95'])}" in line
        assert f"how sure: n {c['n']}, MDE {numbers.mde(c['mde'])}" in line
        forgetting = comps[("general_qa", "exact_match", arm)]
        # perplexity's 6 documents are too few for an interval, but all 6 got better: the exact sign-flip test
        # (p = 2/64) judges the task, and nothing is left unjudged (tests/test_small_n.py covers what is)
        ppl = comps[("perplexity", "token_perplexity", arm)]
        assert ppl["test"] == "n too small" and ppl["n_down"] == 6 and ppl["p_exact"] == 2 / 64
        assert "broke: nothing significant; forgetting read as non-inferiority" in line and "not judged" not in line
        assert f"general_qa exact_match: rules out a drop larger than {numbers.value(-forgetting['ci95'][0])}" in line
        assert "gate not run (no gate.json" in line
    assert "## Gate" not in markdown.render(report, [])


def test_inconclusive_where_the_probe_cannot_tell(tmp_path):
    run_dir = _copy(tmp_path)
    run = results.load_run(run_dir)
    for c in run["comparisons"]:
        if c["task"] == "general_qa":
            c.update(test="n too small", ci95=None, p_value=None, p_adjusted=None, significant=False, n=4, min_n=10)
    results.write_json(run_dir / "run.json", run)
    verdict = _verdict(markdown.render(data.load([run_dir]), []))
    not_judged = verdict.split("not judged: ")[1]
    assert "general_qa exact_match Δ -0.1000 (n too small: 4 documents &lt; 10)" in not_judged
    assert "nothing" not in verdict.split("broke: ")[1]


def test_gate_records_its_verdict_in_the_run_and_the_report_shows_it(tmp_path, capsys):
    run_dir = _copy(tmp_path)
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    assert main(["gate", str(run_dir), "--rules", str(_rules(tmp_path))]) in (0, 1)
    assert not (run_dir / gate_output.GATE_FILE).exists()  # an input run is not written to unless asked
    code = main(["gate", str(run_dir), "--rules", str(_rules(tmp_path)), "--record"])
    assert code in (0, 1)
    record = run_dir / gate_output.GATE_FILE
    assert gate_output.GATE_FILE == data.GATE_FILE
    verdict = json.loads(record.read_text())
    assert verdict["run_id"] == results.load_run(run_dir)["run_id"] and verdict["passed"] == (code == 0)
    assert all(p.read_bytes() == b for p, b in before.items())  # run.json and samples untouched
    md = markdown.render(data.load([run_dir]), [])
    section = _verdict(md)
    failed = [f"{r['index']}. {r['name']}" for r in verdict["rules"] if not r["passed"]]
    for arm in ("lora_r8", "lora_r16"):
        line = next(x for x in section.splitlines() if x.startswith(f"{arm}: "))
        assert "gate FAIL (failing rules: " in line or "gate PASS" in line or "the run's gate FAILs" in line
        assert "gate not run" not in line
    if failed:
        assert any(name in section for name in failed)
    assert "## Gate" in md


def test_gate_no_record_and_json_elsewhere_leave_the_run_alone(tmp_path):
    run_dir = _copy(tmp_path)
    assert main(["gate", str(run_dir), "--rules", str(_rules(tmp_path))]) in (0, 1)
    assert not (run_dir / gate_output.GATE_FILE).exists()
    elsewhere = tmp_path / "out" / "verdict.json"
    assert main(["gate", str(run_dir), "--rules", str(_rules(tmp_path)), "--json", str(elsewhere)]) in (0, 1)
    assert elsewhere.is_file() and not (run_dir / gate_output.GATE_FILE).exists()


def test_gate_warns_once_when_it_cannot_record(tmp_path, capsys):
    run_dir = _copy(tmp_path)
    rules = _rules(tmp_path)
    expected = main(["gate", str(run_dir), "--rules", str(rules)])
    capsys.readouterr()
    (run_dir / gate_output.GATE_FILE).mkdir()  # a place the verdict cannot be written to
    assert main(["gate", str(run_dir), "--rules", str(rules), "--record"]) == expected
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "not recorded" in warnings[0]


def test_settings_line_from_run_json(tmp_path):
    run_dir = _copy(tmp_path)
    run = results.load_run(run_dir)
    run["config"].update(engine="hf", num_fewshot=5, max_gen_toks=256, limit=60, seed=1234)
    run["environment"].update(torch="2.4.0", transformers="4.44.0", peft="0.12.0", lm_eval="0.4.3", harness="0.3.0",
                              engine={"engine": "hf", "batch_size": 1})
    results.write_json(run_dir / "run.json", run)
    verdict = _verdict(markdown.render(data.load([run_dir]), []))
    assert ("Settings: engine hf, dtype float32, quantization none, shots 5, max_gen_toks 256, limit 60, seed 1234, "
            "versions torch 2.4.0 / transformers 4.44.0 / peft 0.12.0 / lm_eval 0.4.3 / harness 0.3.0, date "
            "2026-01-01T00:00:00+00:00.") in verdict


def test_settings_line_says_n_a_for_what_the_run_lacks():
    golden = _verdict(markdown.render(data.load([GOLDEN_RUN]), []))
    assert ("Settings: engine n/a, dtype float32, quantization none, shots n/a, max_gen_toks n/a, limit n/a, "
            "seed n/a, versions n/a, date 2026-01-01T00:00:00+00:00.") in golden
    assert words.settings_line({}) == ("engine n/a, dtype n/a, quantization n/a, shots n/a, max_gen_toks n/a, limit "
                                      "n/a, seed n/a, versions n/a, date n/a")
    odd = {"config": "garbage", "environment": None, "base": [], "tasks": {"yelp": {"num_fewshot": 0}}}
    assert "shots yelp 0" in words.settings_line(odd)
    defaults = words.settings_line({"config": {"max_gen_toks": None, "limit": None, "seed": 1}})
    assert "max_gen_toks task default, limit none (all documents), seed 1" in defaults


def test_constant_predictor_is_a_warning_in_the_verdict(constant_run):  # noqa: F811
    report = data.load([constant_run])
    verdict = _verdict(markdown.render(report, []))
    line = next(x for x in verdict.splitlines() if x.startswith("lora_r8: "))
    assert "warning: yelp constant predictor" in line
    assert "> - lora_r8 on yelp is a constant predictor" in verdict


def test_below_chance_and_majority_answers_are_warnings_in_the_verdict(tmp_path):
    run_dir = _copy(tmp_path)
    _rewrite_yelp(run_dir, "lora_r16", lambda gold: (gold + 1) % 5)  # always wrong: accuracy 0 < chance 0.20
    _rewrite_yelp(run_dir, "lora_r8", lambda gold: gold if gold == 0 else 2)  # "3 stars" for 80%, two classes
    run = results.load_run(run_dir)
    diagnostics.fill(run, lambda arm, task: results.read_samples(run_dir, arm, task))
    results.write_json(run_dir / "run.json", run)
    md = markdown.render(data.load([run_dir]), [])
    verdict = _verdict(md)
    assert "warning: yelp below chance" in verdict and "warning: yelp majority answer" in verdict
    assert "> - lora_r16 on yelp: accuracy 0.0000 is below the chance level 0.2000" in verdict
    assert "> - lora_r8 on yelp: it answered 3 stars for 80.0% of 40 documents" in verdict
    assert "| below chance |" in md and "| majority answer |" in md  # the predictions table no longer says "ok"


@pytest.mark.parametrize("acc, n, flagged", [(0.083, 60, True), (0.15, 40, False), (0.2, 40, False)])
def test_below_chance_needs_more_than_noise(acc, n, flagged):
    assert text.below_chance({"n": n, "accuracy": acc, "chance_accuracy": 0.2}) is flagged
