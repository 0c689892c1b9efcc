"""Bad input to `harness run`: one-line error, non-zero exit, no traceback, no run.json (real subprocesses)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ENGINE_TASKS, build_adapter, build_tiny_llama


def harness(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *argv], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def foreign_adapter(tmp_path_factory) -> Path:
    """A LoRA trained on a wider model (hidden 96): its shapes cannot fit the 64-wide tiny Llama."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    root = tmp_path_factory.mktemp("foreign")
    base = build_tiny_llama(root / "base")
    cfg = json.loads((base / "config.json").read_text())
    torch.manual_seed(0)
    wide = LlamaConfig(**{**cfg, "hidden_size": 96, "intermediate_size": 192, "head_dim": 24})
    LlamaForCausalLM(wide).save_pretrained(root / "wide")
    for f in ("tokenizer.json", "tokenizer_config.json"):
        (root / "wide" / f).write_bytes((base / f).read_bytes())
    return build_adapter(root / "wide", root / "wide_lora")


@pytest.fixture(scope="module")
def pickle_adapter(tiny_adapters, tmp_path_factory) -> Path:
    import torch
    from safetensors.torch import load_file

    root = tmp_path_factory.mktemp("pickle") / "pickled"
    root.mkdir()
    (root / "adapter_config.json").write_bytes((tiny_adapters[0] / "adapter_config.json").read_bytes())
    torch.save(load_file(tiny_adapters[0] / "adapter_model.safetensors"), root / "adapter_model.bin")
    return root


def _case(name, tiny_model, tiny_adapters, tmp_path, foreign_adapter, pickle_adapter):
    out = tmp_path / "run"
    common = ["--tasks", "tiny_gen", "--include-path", str(ENGINE_TASKS), "--limit", "2", "--cache-dir", str(tmp_path / "c")]
    if name == "missing base":
        return ["run", "--base", str(tmp_path / "no-model"), "--out", str(out), *common], "no such directory", out
    if name == "missing adapter":
        return (["run", "--base", str(tiny_model), "--adapter", str(tmp_path / "no-adapter"), "--out", str(out), *common],
                "no such directory", out)
    if name == "adapter without config":
        bare = tmp_path / "bare"
        bare.mkdir()
        (bare / "adapter_model.safetensors").write_bytes((tiny_adapters[0] / "adapter_model.safetensors").read_bytes())
        return (["run", "--base", str(tiny_model), "--adapter", str(bare), "--out", str(out), *common],
                "adapter_config.json is missing", out)
    if name == "shape mismatch":
        return (["run", "--base", str(tiny_model), "--adapter", str(foreign_adapter), "--out", str(out), *common],
                "shape mismatch at model.layers.0.self_attn.q_proj", out)
    if name == "pickle without flag":
        return (["run", "--base", str(tiny_model), "--adapter", str(pickle_adapter), "--out", str(out), *common],
                "--allow-pickle", out)
    if name == "unknown task":
        argv = ["run", "--base", str(tiny_model), "--out", str(out), *common]
        argv[argv.index("tiny_gen")] = "tiny_gn"
        return argv, "unknown task 'tiny_gn' (close matches: tiny_gen", out
    if name == "limit 0":
        argv = ["run", "--base", str(tiny_model), "--out", str(out), *common]
        argv[argv.index("--limit") + 1] = "0"
        return argv, "--limit 0", out
    if name == "unwritable out":
        blocker = tmp_path / "blocker"
        blocker.write_text("")
        out = blocker / "run"
        return ["run", "--base", str(tiny_model), "--out", str(out), *common], "is a file", out
    if name == "existing run without force":
        out.mkdir()
        (out / "run.json").write_text('{"schema": "harness.run/1"}')
        return ["run", "--base", str(tiny_model), "--out", str(out), *common], "pass --force", None
    raise AssertionError(name)


CASES = ["missing base", "missing adapter", "adapter without config", "shape mismatch", "pickle without flag",
         "unknown task", "limit 0", "unwritable out", "existing run without force"]


# "unknown task" makes lm-eval index its ~14,000 task files (~10 s): in the full suite, not the fast path.
@pytest.mark.parametrize("name", [pytest.param(c, marks=pytest.mark.slow) if c == "unknown task" else c for c in CASES])
def test_bad_input(name, tiny_model, tiny_adapters, tmp_path, foreign_adapter, pickle_adapter):
    argv, fragment, out = _case(name, tiny_model, tiny_adapters, tmp_path, foreign_adapter, pickle_adapter)
    r = harness(*argv)
    assert r.returncode == 2, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, r.stderr
    assert fragment in errors[0], errors[0]
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    assert r.stderr.rstrip().splitlines()[-1] == errors[0], "the error is the last thing printed"
    if out is not None:
        assert not (out / "run.json").exists()
    else:
        assert (tmp_path / "run" / "run.json").read_text() == '{"schema": "harness.run/1"}', "left untouched"


@pytest.mark.slow  # over 10 s on the 2-core CPU: runs in CI, not in -m 'not slow'
def test_pickle_adapter_runs_with_flag(tiny_model, pickle_adapter, tmp_path):
    r = harness("run", "--base", str(tiny_model), "--adapter", str(pickle_adapter), "--allow-pickle", "--tasks",
                "tiny_ll", "--include-path", str(ENGINE_TASKS), "--limit", "2", "--out", str(tmp_path / "run"),
                "--cache-dir", str(tmp_path / "c"))
    assert r.returncode == 0, r.stderr
    assert [a["name"] for a in json.loads((tmp_path / "run" / "run.json").read_text())["arms"]] == ["base", "pickled"]


def test_several_problems_in_one_error(tmp_path):
    r = harness("run", "--base", str(tmp_path / "nope"), "--tasks", "tiny_gen", "--limit", "0", "--out",
                str(tmp_path / "run"), "--include-path", str(ENGINE_TASKS))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith("error: 2 problems") and "--base" in line and "--limit 0" in line
