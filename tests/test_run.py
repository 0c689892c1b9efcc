"""`harness run` end to end on a tiny random Llama: the run directory, one base load, the per-arm cache."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import ENGINE_TASKS
from engine_tasks.utils import _STORIES as STORIES

from harness.cli.app import main
from harness.core import results

TASKS = "tiny_gen,tiny_ll"


def _rel(p) -> str:
    """Paths as a user types them: relative to the folder the command runs from (NAME=PATH keeps its name)."""
    name, sep, path = str(p).rpartition("=") if "=" in str(p) else ("", "", str(p))
    return f"{name}{sep}{os.path.relpath(path)}"


def run_cli(base, adapters, out, cache, *extra) -> int:
    argv = ["run", "--base", _rel(base), "--tasks", TASKS, "--include-path", _rel(ENGINE_TASKS), "--out", _rel(out),
            "--cache-dir", _rel(cache), "--limit", "6", *extra]
    for a in adapters:
        argv += ["--adapter", _rel(a)]
    return main(argv)


@pytest.fixture(scope="module")
def two_arm_run(tiny_model, tiny_adapters, tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    assert run_cli(tiny_model, tiny_adapters[:1], root / "run", root / "cache") == 0
    return root


def test_run_directory_follows_schema(two_arm_run, tiny_adapters):
    run_dir = two_arm_run / "run"
    run = results.load_run(run_dir)  # raises if the schema does not validate
    assert results.validate_run(run) == []
    assert [a["name"] for a in run["arms"]] == ["base", "lora0"]
    assert run["arms"][1]["adapter"]["peft"]["r"] == 4
    assert run["arms"][1]["adapter"]["path"] == str(tiny_adapters[0].resolve())
    assert set(run["tasks"]) == {"tiny_gen", "tiny_ll"} and all(t["n_docs"] == 6 for t in run["tasks"].values())
    assert {(s["task"], s["metric"], s["arm"]) for s in run["scores"]} == {
        (t, m, a) for t, m in [("tiny_gen", "exact_match"), ("tiny_ll", "acc")] for a in ("base", "lora0")}
    assert run["base"]["fingerprint"].startswith("sha256:") and run["base"]["quantization"] == "none"
    for arm in ("base", "lora0"):
        for task in ("tiny_gen", "tiny_ll"):
            rows = results.read_samples(run_dir, arm, task)
            assert [r["doc_id"] for r in rows] == list(range(6))
            assert all({"doc_hash", "prompt", "target", "response", "filtered", "metrics"} <= set(r) for r in rows)
            assert run["timing"]["arms"][arm][task]["tokens"] > 0


def test_scores_agree_with_samples(two_arm_run):
    """A task's score is the mean of its per-document metric (both metrics here are means)."""
    run_dir = two_arm_run / "run"
    run = results.load_run(run_dir)
    for s in run["scores"]:
        rows = results.read_samples(run_dir, s["arm"], s["task"])
        per_doc = [r["metrics"][s["metric"]] for r in rows]
        assert s["value"] == pytest.approx(sum(per_doc) / len(per_doc))
        assert s["n"] == len(per_doc)


def test_loglikelihood_samples_are_model_scores(two_arm_run, tiny_model, tiny_adapters):
    """The adapter arm's loglikelihoods equal a direct forward pass of base+adapter (and differ from the base's)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), tiny_adapters[0]).eval()

    def ll(ctx: str, cont: str) -> float:
        whole = tok(ctx + cont, add_special_tokens=False).input_ids
        n_ctx = len(tok(ctx, add_special_tokens=False).input_ids)
        ids = torch.tensor([whole])
        with torch.no_grad():
            logp = torch.log_softmax(model(ids).logits[0, :-1].float(), -1)
        return float(sum(logp[i - 1, whole[i]] for i in range(n_ctx, len(whole))))

    adapter_rows = results.read_samples(two_arm_run / "run", "lora0", "tiny_ll")
    base_rows = results.read_samples(two_arm_run / "run", "base", "tiny_ll")
    row = adapter_rows[0]
    answer = STORIES[row["doc_id"]][1]
    for i, cont in enumerate([answer, "table", "sky"]):  # tiny_ll.yaml: doc_to_choice, target_delimiter "\n"
        assert row["response"][i][0] == pytest.approx(ll(row["prompt"], "\n" + cont), abs=1e-4)
    assert row["response"] != base_rows[0]["response"]


def test_base_weights_read_once_for_four_arms(tiny_model, tiny_adapters, tmp_path, monkeypatch):
    from transformers import modeling_utils

    original = modeling_utils.PreTrainedModel.from_pretrained.__func__
    loads: list[str] = []

    def counting(cls, path, *args, **kwargs):
        loads.append(str(path))
        return original(cls, path, *args, **kwargs)

    monkeypatch.setattr(modeling_utils.PreTrainedModel, "from_pretrained", classmethod(counting))
    named = [f"a{i}={p}" for i, p in enumerate(tiny_adapters)]
    assert run_cli(tiny_model, named, tmp_path / "run", tmp_path / "cache", "--no-cache") == 0
    assert loads == [str(tiny_model.resolve())]
    run = results.load_run(tmp_path / "run")
    assert [a["name"] for a in run["arms"]] == ["base", "a0", "a1", "a2"]
    # Three different adapters really were active: their loglikelihoods differ pairwise.
    lls = {a: json.dumps(results.read_samples(tmp_path / "run", a, "tiny_ll")[0]["response"]) for a in ["base", "a0", "a1", "a2"]}
    assert len(set(lls.values())) == 4


def _cache_rows(db: Path) -> dict:
    from sqlitedict import SqliteDict

    with SqliteDict(str(db), flag="r") as d:
        return dict(d.items())


def test_arms_never_share_cached_answers(two_arm_run):
    cache = two_arm_run / "cache" / "responses"
    notes = [(json.loads(p.read_text()), p) for p in cache.glob("*.json")]
    # One cache file per arm (and per task definition); never one shared by base and adapter.
    assert sorted((n["task"], n["adapter"] is None) for n, _ in notes) == [
        ("tiny_gen", False), ("tiny_gen", True), ("tiny_ll", False), ("tiny_ll", True)]
    note = {(n["task"], n["adapter"] is None): p for n, p in notes}
    for task in ("tiny_gen", "tiny_ll"):
        base_db, adapter_db = (note[(task, is_base)].with_name(note[(task, is_base)].stem + "_rank0.db")
                               for is_base in (True, False))
        base_rows, adapter_rows = _cache_rows(base_db), _cache_rows(adapter_db)
        shared_keys = set(base_rows) & set(adapter_rows)
        assert len(shared_keys) == len(base_rows) > 0, "the same requests were asked of both arms"
        if task == "tiny_ll":
            assert all(base_rows[k] != adapter_rows[k] for k in shared_keys), "and answered by each arm's own model"


def test_rerun_with_new_adapter_computes_only_that_arm(two_arm_run, tiny_model, tiny_adapters):
    out = two_arm_run / "rerun"
    assert run_cli(tiny_model, tiny_adapters[:2], out, two_arm_run / "cache") == 0
    run, first = results.load_run(out), results.load_run(two_arm_run / "run")
    computed = {a: sum(t["computed_requests"] for t in tasks.values()) for a, tasks in run["timing"]["arms"].items()}
    assert computed["base"] == 0 and computed["lora0"] == 0 and computed["lora1"] == 6 + 6 * 3
    old = {(s["task"], s["metric"], s["arm"]): s["value"] for s in first["scores"]}
    for s in run["scores"]:
        if s["arm"] in ("base", "lora0"):
            assert s["value"] == old[(s["task"], s["metric"], s["arm"])]
    for arm in ("base", "lora0"):
        assert results.read_samples(out, arm, "tiny_gen") == results.read_samples(two_arm_run / "run", arm, "tiny_gen")


def test_no_cache_recomputes_and_agrees(two_arm_run, tiny_model, tiny_adapters):
    out = two_arm_run / "nocache"
    assert run_cli(tiny_model, tiny_adapters[:1], out, two_arm_run / "cache", "--no-cache") == 0
    run = results.load_run(out)
    assert all(t["computed_requests"] > 0 for tasks in run["timing"]["arms"].values() for t in tasks.values())
    for arm in ("base", "lora0"):
        for task in ("tiny_gen", "tiny_ll"):
            assert results.read_samples(out, arm, task) == results.read_samples(two_arm_run / "run", arm, task)


def test_force_replaces_complete_run(two_arm_run, tiny_model, capsys):
    out = two_arm_run / "forced"
    assert run_cli(tiny_model, [], out, two_arm_run / "cache") == 0
    first_id = results.load_run(out)["run_id"]
    assert run_cli(tiny_model, [], out, two_arm_run / "cache") == 2
    assert "--force" in capsys.readouterr().err
    assert results.load_run(out)["run_id"] == first_id
    assert run_cli(tiny_model, [], out, two_arm_run / "cache", "--force") == 0
    assert [a["name"] for a in results.load_run(out)["arms"]] == ["base"]


def test_load_in_4bit_on_cpu(tiny_model, tiny_adapters, tmp_path):
    """QLoRA-style evaluation: NF4 base via bitsandbytes (its CPU backend here), adapter on top."""
    assert run_cli(tiny_model, tiny_adapters[:1], tmp_path / "run", tmp_path / "cache", "--load-in-4bit") == 0
    run = results.load_run(tmp_path / "run")
    assert run["base"]["quantization"] == "nf4" and run["config"]["load_in_4bit"] is True
    fp32 = results.read_samples(tmp_path / "run", "lora0", "tiny_ll")[0]["response"]
    assert all(isinstance(x[0], float) for x in fp32)
    # The 4-bit arm's cache is its own: a key over quantisation, so it never answers for the fp32 arm.
    notes = [json.loads(p.read_text()) for p in (tmp_path / "cache" / "responses").glob("*.json")]
    assert {n["quantization"] for n in notes} == {"nf4"}
