"""End to end on the real TinyStories-656K: schema, and per-document equivalence with stock lm-eval runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ENGINE_TASKS

from harness.cli.app import main
from harness.core import results

pytestmark = pytest.mark.slow
BATCH = 4


@pytest.fixture(scope="module")
def harness_run(tinystories, tinystories_adapter, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ts") / "run"
    rc = main(["run", "--base", str(tinystories), "--adapter", str(tinystories_adapter), "--tasks", "tiny_gen,tiny_ll",
               "--include-path", str(ENGINE_TASKS), "--out", str(out), "--batch-size", str(BATCH), "--no-cache",
               "--device", "cpu"])
    assert rc == 0
    return out


def stock_lm_eval(model_args: str, out: Path) -> dict[str, dict[int, dict]]:
    """Run the stock `lm_eval` CLI and return its logged samples by task and doc_id."""
    cmd = [sys.executable, "-m", "lm_eval", "run", "--model", "hf", "--model_args", model_args, "--tasks",
           "tiny_gen,tiny_ll", "--include_path", str(ENGINE_TASKS), "--batch_size", str(BATCH), "--device", "cpu",
           "--output_path", str(out), "--log_samples"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    found = {}
    for task in ("tiny_gen", "tiny_ll"):
        files = sorted(out.rglob(f"samples_{task}_*.jsonl"))
        assert len(files) == 1, files
        found[task] = {row["doc_id"]: row for row in map(json.loads, files[0].read_text().splitlines())}
    return found


def test_run_json_validates(harness_run):
    run = results.load_run(harness_run)
    assert results.validate_run(run) == []
    assert run["base"]["name"] == "tinystories-656k" and run["base"]["dtype"] == "float32"
    assert {s["arm"] for s in run["scores"]} == {"base", "ts_lora"}


@pytest.mark.parametrize("arm", ["base", "ts_lora"])
def test_equivalent_to_stock_lm_eval(arm, harness_run, tinystories, tinystories_adapter, tmp_path):
    args = f"pretrained={tinystories}" + (f",peft={tinystories_adapter}" if arm != "base" else "")
    stock = stock_lm_eval(args, tmp_path / "stock")
    ours = {t: {r["doc_id"]: r for r in results.read_samples(harness_run, arm, t)} for t in ("tiny_gen", "tiny_ll")}
    assert ours["tiny_gen"].keys() == stock["tiny_gen"].keys() and len(ours["tiny_gen"]) == 12
    for doc_id, row in stock["tiny_gen"].items():
        assert ours["tiny_gen"][doc_id]["response"] == row["resps"][0][0], f"doc {doc_id}"
        assert ours["tiny_gen"][doc_id]["doc_hash"] == row["doc_hash"]
    for doc_id, row in stock["tiny_ll"].items():
        theirs = [float(r[0][0]) for r in row["resps"]]  # the stock log writes numbers as strings
        mine = [r[0] for r in ours["tiny_ll"][doc_id]["response"]]
        assert mine == pytest.approx(theirs, abs=1e-5), f"doc {doc_id}"
