"""The report's first screen: a PASS / FAIL / NOT JUDGED mark per adapter with at most three short lines, read
against an independent rule; a gate's result wins where one was recorded; a classifier no better than the majority
class is never just a 'gain'; warnings grouped (one truncation line naming the arms); every term defined under Terms,
which the legend links to; the deltas plot right under the headline; and in headless Chromium at 1366 px the page
never scrolls sideways, no table does, and the headline starts on the first screen."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_paper_table import _sweep
from test_reports import RULES, _need

from harness.cli.app import main
from harness.core import results
from reports import data, decide, document, markdown, tables, text
from reports.write import write_report

GOLDEN_RUN = Path(__file__).resolve().parent / "data" / "golden_run"


def _expected_mark(run: dict, arm: str) -> str:
    """The mark from run.json alone: FAIL on a starred comparison that went the bad way; PASS on a starred gain on
    the primary task (yelp accuracy) with every task tested (or, too small, shown either way by the exact test);
    NOT JUDGED otherwise."""
    mine = [c for c in run["comparisons"] if c["arm"] == arm]
    if any(c["significant"] and c.get("family", True) and (c["delta"] > 0) != (c["higher_is_better"] is not False)
           for c in mine):
        return "FAIL"
    for task in {c["task"] for c in mine}:
        rows = [c for c in mine if c["task"] == task]
        if not any(c.get("p_value") is not None for c in rows) and not any(
                c.get("p_exact") is not None and c["p_exact"] < 0.05 for c in rows):
            return "NOT JUDGED"
    primary = next(c for c in mine if (c["task"], c["metric"]) == ("yelp", "accuracy"))
    return "PASS" if primary["significant"] and primary["delta"] > 0 else "NOT JUDGED"


def _marks(md: str) -> dict[str, str]:
    return {arm: mark for mark, arm in re.findall(r"^\*\*(PASS|FAIL|NOT JUDGED)\*\* · \*\*(.+?)\*\*", md, re.M)}


def test_marks_follow_the_run_without_a_gate(tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(GOLDEN_RUN, run_dir)
    run = results.load_run(run_dir)
    report = data.load([run_dir])
    md = markdown.render(report, [])
    assert _marks(md) == {a: _expected_mark(run, a) for a in report.adapters} == {"lora_r8": "NOT JUDGED",
                                                                                 "lora_r16": "NOT JUDGED"}
    # a significant gain on the primary task, nothing broken, every task judged: PASS
    for c in run["comparisons"]:
        if (c["task"], c["metric"], c["arm"]) == ("yelp", "accuracy", "lora_r8"):
            c.update(p_adjusted=0.01, significant=True)
    results.write_json(run_dir / "run.json", run)
    assert _marks(markdown.render(data.load([run_dir]), [])) == {a: _expected_mark(run, a) for a in report.adapters}
    assert _expected_mark(run, "lora_r8") == "PASS"
    # a significant loss on the probe: FAIL
    for c in run["comparisons"]:
        if (c["task"], c["arm"]) == ("general_qa", "lora_r8"):
            c.update(delta=-0.3, ci95=[-0.5, -0.1], p_value=0.001, p_adjusted=0.01, significant=True)
    # the probe too small to judge for lora_r16: NOT JUDGED
        if (c["task"], c["arm"]) == ("general_qa", "lora_r16"):
            c.update(test="n too small", ci95=None, p_value=None, p_adjusted=None, significant=False, n=4, min_n=10,
                     p_exact=None)
    results.write_json(run_dir / "run.json", run)
    md = markdown.render(data.load([run_dir]), [])
    assert _marks(md) == {"lora_r8": "FAIL", "lora_r16": "NOT JUDGED"}
    verdict = md.split("## Verdict\n")[1].split("\n## ")[0]
    for arm in ("lora_r8", "lora_r16"):
        block = verdict.split(f"· **{arm}**")[1].split("\n\n**")[0]
        items = [ln for ln in block.splitlines() if ln.startswith("- ")]
        assert 2 <= len(items) <= 3, items
    r8 = verdict.split("· **lora_r8**")[1].split("· **lora_r16**")[0]
    assert "broke: significant drop in general_qa" in r8
    assert "no forgetting probe could be judged" not in r8  # its probe was judged: it dropped
    r16 = verdict.split("· **lora_r16**")[1]
    assert "not judged: general_qa" in r16 and "nothing significant" not in r16


def test_a_recorded_gate_sets_the_mark(tmp_path):
    run_dir = tmp_path / "gated"
    shutil.copytree(GOLDEN_RUN, run_dir)
    (tmp_path / "rules.yaml").write_text(RULES)
    assert main(["gate", str(run_dir), "--rules", str(tmp_path / "rules.yaml"), "--record"]) in (0, 1)
    verdict = json.loads((run_dir / "gate.json").read_text())
    report = data.load([run_dir])
    for arm in report.adapters:
        mine = [c for r in verdict["rules"] for c in r["checks"] if c.get("arm") == arm]
        expected = "PASS" if all(c["passed"] for c in mine) else "FAIL"
        mark, source = decide.mark(report, arm)
        assert mark == expected and source.startswith("gate: ")


def test_no_better_than_the_majority_class_is_not_a_plain_gain(tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(GOLDEN_RUN, run_dir)
    run = results.load_run(run_dir)
    for d in run["diagnostics"]:
        if (d["task"], d["arm"]) == ("yelp", "lora_r8"):
            d.update(accuracy=0.18, chance_accuracy=0.28)
    results.write_json(run_dir / "run.json", run)
    line = decide.gained(data.load([run_dir]), "lora_r8")
    assert "yet its accuracy 0.1800 is no better than the 0.2800 of always answering the most common label" in line
    assert "no better than" not in decide.gained(data.load([GOLDEN_RUN]), "lora_r8")


def test_truncation_is_one_line_naming_the_arms(tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(GOLDEN_RUN, run_dir)
    run = results.load_run(run_dir)
    run["timing"].setdefault("arms", {})
    for arm in ("base", "lora_r8", "lora_r16"):
        run["timing"]["arms"].setdefault(arm, {})["docqa"] = {"seconds": 1.0, "requests": 12, "truncated": 3,
                                                             "max_length": 512}
    results.write_json(run_dir / "run.json", run)
    report = data.load([run_dir])
    lines = text.truncation_warnings(report)
    assert lines == ["docqa: 3 of 12 requests (25.0%) of base, lora_r8, lora_r16 did not fit the model's context of "
                     "512 tokens with room for the answer to generate and were cut from the left; their scores are "
                     "for prompts the model did not see whole."]
    boxes = [b for b in document.build(report) if b.kind in ("warning", "warnings")]
    assert len(boxes) == 1 and boxes[0].kind == "warnings" and lines[0] in boxes[0].items


def test_terms_are_defined_and_the_legend_links_there():
    report = data.load([GOLDEN_RUN])
    md = markdown.render(report, ["plots/deltas.png", "plots/scores.png"])
    verdict = md.split("## Verdict\n")[1].split("\n## ")[0]
    assert "▲ better, ▼ worse, in each metric's good direction" in verdict and "[Terms](#terms)" in verdict
    terms = md.split("## Terms\n")[1].split("\n## ")[0]
    for term in ("MDE", "Holm", "churn", "CS", "▲ / ▼", "PASS / FAIL / NOT JUDGED", "n too small", "non-inferiority"):
        assert re.search(rf"^\| {re.escape(term)}( / \w+)? \|", terms, re.M), term
    # the deltas plot right under the headline table, before the verdict in full
    headline = md.split("## Headline\n")[1].split("\n## ")[0]
    assert headline.index("![plots/deltas.png]") < headline.index("### The verdict in full")
    assert "plots/deltas.png" not in md.split("## Plots\n")[1]


def _measure(page: Path, tmp_path: Path, width: int, height: int) -> dict:
    """Layout facts of the page at one window size, read in headless Chromium by a script added to a copy."""
    chromium = _need("chromium")
    js = ("<script>window.addEventListener('load',function(){var d=document.documentElement,wide=[];"
          "document.querySelectorAll('.scroll').forEach(function(x){if(x.scrollWidth>x.clientWidth+1)"
          "wide.push(x.querySelector('table').getAttribute('data-table'))});var h=document.getElementById('headline');"
          "var m=document.createElement('pre');m.id='measure';m.textContent=JSON.stringify({scroll:d.scrollWidth,"
          "client:d.clientWidth,wide:wide,headline:h.getBoundingClientRect().top,marks:"
          "document.querySelectorAll('.verdict .mark').length});document.body.appendChild(m)});</script>")
    copy = page.with_name(".measure.html")
    copy.write_text(page.read_text().replace("</body>", js + "</body>"))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             f"--user-data-dir={tmp_path / f'chrome-{width}'}", f"--window-size={width},{height}", "--dump-dom"]
    dom = subprocess.run([chromium, *flags, copy.as_uri()], capture_output=True, text=True, timeout=120).stdout
    copy.unlink()
    found = re.search(r'<pre id="measure">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    return json.loads(found.group(1).replace("&quot;", '"'))


@pytest.mark.slow  # Chromium renders each page: 10-16 s
@pytest.mark.parametrize("which", ["golden", "sweep"])
def test_the_page_never_scrolls_sideways_at_1366_px(tmp_path, which):
    run_dir = GOLDEN_RUN if which == "golden" else _sweep(tmp_path)
    out, _, report = write_report([run_dir], tmp_path / "report", {"html", "png"})
    facts = _measure(out / "report.html", tmp_path, 1366, 768)
    assert facts["scroll"] == facts["client"], facts
    assert facts["wide"] == [], facts  # no table scrolls inside the page either
    assert facts["marks"] == len(report.adapters)
    assert facts["headline"] < 768, facts  # the headline starts on the first screen
    assert tables.headline(report) is not None
