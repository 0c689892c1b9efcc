"""Model cards for the Hugging Face Hub (`harness report` -> cards/<arm>/README.md): YAML front matter with base_model
(a Hub id, or left out), library_name peft, pipeline_tag, tags and a model-index holding run.json's scores (no
counts), then the gate and the warnings, the deltas with their intervals, the forgetting rows, n and how it was
measured; written for every adapter arm, under --out only, in a safe folder. tests/test_cards_hub.py: Hub
conventions and no local path."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from harness.cli.app import main
from harness.cli.report import FORMATS
from reports import card_meta, cards, data, numbers

GOLDEN_RUN = Path(__file__).resolve().parent / "data" / "golden_run"
RUN = json.loads((GOLDEN_RUN / "run.json").read_text())
ADAPTERS = [a["name"] for a in RUN["arms"] if a["adapter"]]


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    """The default `harness report` (every format) of the golden run into another folder."""
    out = tmp_path_factory.mktemp("report")
    before = _snapshot(GOLDEN_RUN)
    assert main(["report", str(GOLDEN_RUN), "--out", str(out)]) == 0
    assert _snapshot(GOLDEN_RUN) == before, "the run folder was written to"
    return out


def _split(card: str) -> tuple[dict, str]:
    assert card.startswith("---\n")
    head, sep, body = card[4:].partition("\n---\n")
    assert sep, "no closing --- after the front matter"
    return yaml.safe_load(head), body


def test_card_is_a_default_format():
    assert "card" in FORMATS


def test_report_writes_a_card_per_adapter_and_nothing_else_there(rendered):
    assert sorted(p.relative_to(rendered / "cards").as_posix() for p in (rendered / "cards").rglob("*")
                  if p.is_file()) == sorted(f"{a}/README.md" for a in ADAPTERS)
    assert (rendered / "report.md").exists() and not (GOLDEN_RUN / "cards").exists()


@pytest.mark.parametrize("arm", ADAPTERS)
def test_front_matter_is_hub_metadata_with_the_runs_scores(rendered, arm):
    meta, _ = _split((rendered / "cards" / arm / "README.md").read_text(encoding="utf-8"))
    assert "base_model" not in meta  # a local folder, no Hub id recorded: left out, never its name or path
    assert meta["library_name"] == "peft" and meta["pipeline_tag"] == "text-generation"
    assert "peft" in meta["tags"] and "lora" in meta["tags"]
    [entry] = meta["model-index"]
    assert entry["name"] == arm
    got = {}
    for result in entry["results"]:
        assert result["task"]["type"] and result["task"]["name"]
        assert result["dataset"]["type"] and result["dataset"]["name"]
        for m in result["metrics"]:
            assert set(m) >= {"type", "value"}
            key = (result["dataset"]["name"].split(" (")[0], m["type"])
            assert key not in got, f"{key} twice"
            got[key] = m["value"]
    want = {(s["task"], s["metric"]): s["value"] for s in RUN["scores"] if s["arm"] == arm
            and s["metric"] != "n_parsed"}  # a count is no evaluation result
    pretty = {"Yelp Review Full": "yelp", "NQ-open": "general_qa"}
    assert {(pretty.get(t, t), m): v for (t, m), v in got.items()} == want


@pytest.mark.parametrize("arm", ADAPTERS)
def test_body_names_every_delta_with_its_interval_and_the_forgetting_rows(rendered, arm):
    _, body = _split((rendered / "cards" / arm / "README.md").read_text(encoding="utf-8"))
    assert "## Headline" in body and "## How it was measured" in body
    rows = {line.split(" | ")[0].lstrip("| ") + "/" + line.split(" | ")[1]: line
            for line in body.splitlines() if line.startswith("| ") and " | " in line}
    for c in (c for c in RUN["comparisons"] if c["arm"] == arm):
        line = rows[f"{c['task']}/{c['metric']}"]
        assert numbers.delta(c["delta"], c["ci95"]) in line, line
        assert f"{c['n']} (MDE " in line
        if c["ci95"] is None:
            assert "n too small" in line
    forgetting = body.split("## Forgetting")[1].split("## How")[0]
    for c in (c for c in RUN["comparisons"] if c["arm"] == arm and c["task"] == "general_qa"):
        assert f"| general_qa | {c['metric']} |" in forgetting
    assert "rules out a drop larger than" in forgetting
    assert RUN["run_id"] in body and "Holm" in body


def test_base_model_is_the_hub_id_when_it_was_one():
    arm = data.Arm("a", GOLDEN_RUN, "a", adapter={"peft": {}})
    hub = {"base": {"name": "qwen-0.5b", "source": "Qwen/Qwen2.5-0.5B"}}
    assert card_meta.base_model_id(hub, arm) == ("Qwen/Qwen2.5-0.5B", "")
    assert card_meta.base_model_id({"base": {"name": "my-base", "source": "/models/my-base"}}, arm) == (None, "")


@pytest.mark.parametrize("name,folder", [("lora_r8", "lora_r8"), ("../../etc/x", "etc_x"), ("a b/c:d*?", "a_b_c_d"),
                                         ("..", "adapter"), (".hidden", "hidden"), ("ü<script>", "script")])
def test_folder_names_are_safe(name, folder):
    assert cards.folder_name(name) == folder


def test_an_odd_arm_name_gets_a_safe_folder_and_a_card_that_parses(tmp_path):
    report = data.load([GOLDEN_RUN])
    odd = "../odd name|<b>: 'x'\n---"
    old = report.arms[1].name
    report.arms[1].name = odd
    for frame in (report.scores, report.comparisons):
        frame.loc[frame.arm == old, "arm"] = odd
    twin = "odd_name_b_x"  # lora_r16 renamed to what the odd name becomes: the second card gets another folder
    report.scores.loc[report.scores.arm == report.arms[2].name, "arm"] = twin
    report.comparisons.loc[report.comparisons.arm == report.arms[2].name, "arm"] = twin
    report.arms[2].name = twin
    written = cards.write_all(report, tmp_path)
    assert written == ["cards/odd_name_b_x/README.md", "cards/odd_name_b_x-2/README.md"]
    assert sorted(os.listdir(tmp_path / "cards")) == ["odd_name_b_x", "odd_name_b_x-2"]
    meta, body = _split((tmp_path / written[0]).read_text(encoding="utf-8"))
    assert meta["model-index"][0]["name"] == odd
    assert "<b>" not in body and "&lt;b&gt;" in body


def test_card_gives_the_gates_checks_on_its_adapter():
    report = data.load([GOLDEN_RUN])
    report.gates = [{"run_id": RUN["run_id"], "run_dir": GOLDEN_RUN, "rules": [
        {"name": "forgetting", "passed": False, "checks": [
            {"arm": "lora_r8", "passed": False, "detail": "inconclusive: n = 30 cannot show a drop smaller than 0.05"},
            {"arm": "lora_r16", "passed": True, "detail": "rules out a drop larger than 0.05"}]},
        {"name": "improves", "passed": True, "checks": [{"arm": "lora_r8", "passed": True, "detail": "+0.35"}]}]}]
    r8, r16 = (cards.render(report, a) for a in report.arms[1:])
    assert ("**Gate** (`harness gate`): FAIL, 1 of 2 checks on this adapter passed; failed:\n"
            "- forgetting: inconclusive: n = 30 cannot show a drop smaller than 0.05\n") in r8
    assert "**Gate** (`harness gate`): PASS, 1 of 1 checks on this adapter passed." in r16
    for card in (r8, r16):  # near the top: before the headline
        assert card.index("**Gate**") < card.index("## Headline")


def test_local_data_is_never_called_the_public_dataset():
    """--data yelp=FILE is read by yelp and yelp_mc alike: neither may claim Yelp Review Full on the Hub."""
    report = data.load([GOLDEN_RUN])
    run = report.runs[0]
    assert card_meta.dataset(report, run, "yelp")["type"] == "Yelp/yelp_review_full"  # no --data: the public set
    run["config"]["data"] = {"yelp": "/data/my_reviews.csv"}
    report.tasks["yelp_mc"] = dict(report.tasks["yelp"])
    for task in ("yelp", "yelp_mc"):
        assert card_meta.dataset(report, run, task) == {"name": f"{task} (40 documents, local data)", "type": task}


def test_a_local_base_path_in_the_peft_config_is_never_published():
    """peft records base_model_name_or_path as the folder it was trained from; a card names the folder, not the
    machine's path to it."""
    assert cards._setting("/home/someone/models/base") == "base"
    assert cards._setting("C:\\Users\\someone\\base") == "base"
    assert cards._setting("Qwen/Qwen2.5-3B") == "Qwen/Qwen2.5-3B"
