"""Adapter folders are checked before any model loads."""

import json

import pytest
from safetensors import safe_open

from harness.core.errors import HarnessError
from harness.models.adapters import check_arm_names, fingerprint_adapter, inspect_adapter, safetensors_shapes


def test_inspect_real_adapter(tiny_adapters):
    spec = inspect_adapter(str(tiny_adapters[0]), allow_pickle=False)
    assert spec.name == "lora0" and spec.weights.name == "adapter_model.safetensors"
    assert spec.peft["r"] == 4 and spec.peft["peft_type"] == "LORA"
    assert sorted(spec.peft["target_modules"]) == ["q_proj", "v_proj"]


def test_named_adapter(tiny_adapters):
    assert inspect_adapter(f"mine={tiny_adapters[0]}", allow_pickle=False).name == "mine"


def test_header_shapes_match_safetensors(tiny_adapters):
    path = tiny_adapters[0] / "adapter_model.safetensors"
    with safe_open(str(path), framework="pt") as f:
        expected = {k: list(f.get_slice(k).get_shape()) for k in f.keys()}
    assert safetensors_shapes(path) == expected and expected


def test_fingerprint_changes_with_weights(tiny_adapters):
    fps = {fingerprint_adapter(inspect_adapter(str(p), False)) for p in tiny_adapters}
    assert len(fps) == 3 and all(fp.startswith("sha256:") for fp in fps)


def test_missing_config(tmp_path):
    (tmp_path / "adapter_model.safetensors").write_bytes(b"")
    with pytest.raises(HarnessError, match="adapter_config.json is missing"):
        inspect_adapter(str(tmp_path), False)


def test_pickle_refused_then_allowed(tmp_path):
    (tmp_path / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4}))
    (tmp_path / "adapter_model.bin").write_bytes(b"not read here")
    with pytest.raises(HarnessError, match="--allow-pickle"):
        inspect_adapter(str(tmp_path), False)
    assert inspect_adapter(str(tmp_path), True).is_pickle


def test_bad_json(tmp_path):
    (tmp_path / "adapter_config.json").write_text("{oops")
    with pytest.raises(HarnessError, match="not valid JSON"):
        inspect_adapter(str(tmp_path), False)


def test_duplicate_and_reserved_names(tiny_adapters, tmp_path):
    a = inspect_adapter(str(tiny_adapters[0]), False)
    b = inspect_adapter(f"lora0={tiny_adapters[1]}", False)
    c = inspect_adapter(f"base={tiny_adapters[2]}", False)
    problems = check_arm_names([a, b, c])
    assert len(problems) == 2
    assert "both be called 'lora0'" in problems[0] and "reserved" in problems[1]
