"""Adapter folders whose config or weights lie: wrong types and values, ranks that do not match the weights, NaN
or all-zero weights, target_modules that do not fit the base. Refused before (or right after) the base loads."""

from __future__ import annotations

import json
import shutil
import struct

import numpy as np
import pytest

from harness.core.errors import HarnessError
from harness.models.adapters import config_problem, inspect_adapter, rank_problem, safetensors_header

KEY_A = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
KEY_B = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"
OK = {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "lora_dropout": 0.05, "target_modules": ["q_proj", "v_proj"]}


def _safetensors(tensors: dict) -> bytes:
    header, blobs, offset = {}, [], 0
    for name, array in tensors.items():
        dtype = {"float32": "F32", "float16": "F16", "uint16": "BF16"}[str(array.dtype)]
        raw = array.tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header).encode()
    return struct.pack("<Q", len(head)) + head + b"".join(blobs)


def _folder(tmp_path, config=None, tensors=None, name="ad"):
    d = tmp_path / name
    d.mkdir()
    (d / "adapter_config.json").write_text(json.dumps(config or OK))
    if tensors is None:
        rng = np.random.default_rng(0)
        tensors = {KEY_A: rng.normal(size=(4, 64)).astype(np.float32), KEY_B: rng.normal(size=(64, 4)).astype(np.float32)}
    (d / "adapter_model.safetensors").write_bytes(_safetensors(tensors))
    return d


@pytest.mark.parametrize("change, message", [
    ({"r": "8"}, "'r' is \"8\"; the LoRA rank must be a whole number >= 1"),
    ({"r": 0}, "'r' is 0"),
    ({"r": -2}, "'r' is -2"),
    ({"r": 2.5}, "'r' is 2.5"),
    ({"r": True}, "'r' is true"),
    ({"lora_alpha": "16"}, "'lora_alpha' is \"16\""),
    ({"lora_alpha": float("nan")}, "'lora_alpha' is NaN"),
    ({"lora_alpha": float("inf")}, "'lora_alpha' is Infinity"),
    ({"lora_alpha": 0}, "'lora_alpha' is 0"),
    ({"lora_dropout": 1.0}, "'lora_dropout' is 1.0; it must be a number in \\[0, 1\\)"),
    ({"lora_dropout": -0.1}, "'lora_dropout' is -0.1"),
    ({"lora_dropout": float("nan")}, "'lora_dropout' is NaN"),
    ({"peft_type": "LORAA"}, "did you mean LORA"),
    ({"peft_type": "lora"}, "did you mean LORA"),
    ({"peft_type": None}, "peft_type null is not a peft adapter type"),
    ({"target_modules": 5}, "'target_modules' is 5"),
    ({"target_modules": []}, "'target_modules' is \\[\\]"),
    ({"target_modules": ["q_proj", 3]}, "'target_modules' is"),
    ({"target_modules": "(q_proj"}, "not a valid regular expression"),
    ({"modules_to_save": "lm_head"}, "'modules_to_save' is \"lm_head\""),
    ({"rank_pattern": {"q_proj": 0}}, "'rank_pattern' gives \"q_proj\" the rank 0"),
    ({"rank_pattern": {"(": 4}}, "not a valid regular expression"),
    ({"alpha_pattern": {"q_proj": "x"}}, "'alpha_pattern' is"),
    ({"use_dora": "yes"}, "'use_dora' is \"yes\""),
])
def test_config_problems(change, message):
    problem = config_problem({**OK, **change})
    assert problem is not None
    assert __import__("re").search(message, problem), problem


@pytest.mark.parametrize("config", [OK, {**OK, "target_modules": "all-linear"}, {**OK, "target_modules": r".*\.(q|v)_proj"},
                                    {**OK, "target_modules": None}, {**OK, "lora_dropout": None},
                                    {k: v for k, v in OK.items() if k not in ("r", "lora_alpha")}])
def test_good_configs_pass(config):
    assert config_problem(config) is None


def test_rank_against_the_weights():
    shapes = {KEY_A: [4, 64], KEY_B: [64, 4]}
    assert rank_problem(OK, shapes) is None
    assert "says r=8 for model.layers.0.self_attn.q_proj, but its lora_A has rank 4" in rank_problem({**OK, "r": 8}, shapes)
    # rank_pattern gives one module its own rank, as peft does
    assert rank_problem({**OK, "r": 8, "rank_pattern": {"q_proj": 4}}, shapes) is None
    assert "lora_B has rank 2" in rank_problem(OK, {KEY_A: [4, 64], KEY_B: [64, 2]})
    assert "holds no LoRA weights" in rank_problem(OK, {"model.embed_tokens.weight": [10, 4]})
    # another adapter type is peft's to check, unless its config sits beside LoRA weights
    for kind in ("PREFIX_TUNING", "IA3"):
        assert config_problem({**OK, "peft_type": kind}) is None
        assert f"says peft_type {kind}, but the weights are LoRA matrices" in rank_problem({**OK, "peft_type": kind}, shapes)
    assert rank_problem({"peft_type": "PREFIX_TUNING"}, {"prompt_embeddings": [4, 64]}) is None
    assert rank_problem({"peft_type": "ADALORA", "r": 8}, shapes) is None


def test_adapter_types_cannot_be_mixed(tmp_path):
    from harness.models.adapters import check_arm_names

    lora = inspect_adapter(str(_folder(tmp_path)), False)
    prompt = tmp_path / "prompt"
    prompt.mkdir()
    (prompt / "adapter_config.json").write_text(json.dumps({"peft_type": "PROMPT_TUNING", "num_virtual_tokens": 4}))
    (prompt / "adapter_model.safetensors").write_bytes(_safetensors({"prompt_embeddings": np.ones((4, 64), np.float32)}))
    spec = inspect_adapter(str(prompt), False)
    assert check_arm_names([spec]) == []
    [problem] = check_arm_names([lora, spec])
    assert "different peft types (ad (LORA), prompt (PROMPT_TUNING))" in problem


def test_inspect_refuses_a_bad_config_before_anything_loads(tmp_path):
    d = _folder(tmp_path, {**OK, "r": "4"})
    with pytest.raises(HarnessError, match=r"adapter_config.json: 'r' is \"4\""):
        inspect_adapter(str(d), False)
    d = _folder(tmp_path, {**OK, "r": 16}, name="rank")
    with pytest.raises(HarnessError, match="says r=16"):
        inspect_adapter(str(d), False)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_weights_are_refused(tmp_path, dtype, bad):
    a = np.ones((4, 64), dtype=np.float32)
    a[2, 7] = bad
    b = np.ones((64, 4), dtype=np.float32)
    if dtype == "float16":
        a, b = a.astype(np.float16), b.astype(np.float16)
    elif dtype == "bfloat16":  # the upper 16 bits of a float32
        a, b = ((x.view(np.uint32) >> 16).astype(np.uint16) for x in (a, b))
    d = _folder(tmp_path, tensors={KEY_A: a, KEY_B: b})
    with pytest.raises(HarnessError, match="lora_A.weight holds NaN or infinite values"):
        inspect_adapter(str(d), False)


def test_all_zero_weights(tmp_path, capsys):
    a, b = np.ones((4, 64), dtype=np.float32), np.zeros((64, 4), dtype=np.float32)
    b_zero = _folder(tmp_path, tensors={KEY_A: a, KEY_B: b}, name="untrained")
    assert inspect_adapter(str(b_zero), False).name == "untrained"  # what peft initialises: allowed, with a warning
    assert "every lora_B weight is zero" in capsys.readouterr().err
    both = _folder(tmp_path, tensors={KEY_A: a * 0, KEY_B: -b}, name="both")  # -0.0 is zero too
    with pytest.raises(HarnessError, match="every lora_A and lora_B weight is zero"):
        inspect_adapter(str(both), False)
    fine = _folder(tmp_path, name="fine")
    inspect_adapter(str(fine), False)
    assert "warning" not in capsys.readouterr().err


def test_a_truncated_tensor_is_refused(tmp_path):
    d = _folder(tmp_path)
    f = d / "adapter_model.safetensors"
    f.write_bytes(f.read_bytes()[:-10])
    with pytest.raises(HarnessError, match="lora_B.weight lies beyond the end of the file"):
        safetensors_header(f)
    header = json.dumps({KEY_A: {"dtype": "F32", "shape": [4, 64], "data_offsets": [0, 16]}}).encode()
    f.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 16)
    with pytest.raises(HarnessError, match="has 16 bytes but its shape"):
        safetensors_header(f)


def test_the_real_adapters_pass(tiny_adapters):
    for path in tiny_adapters:
        spec = inspect_adapter(str(path), False)
        assert spec.config["r"] == 4


def _copy_with(tiny_adapter, tmp_path, name, **change):
    d = tmp_path / name
    shutil.copytree(tiny_adapter, d)
    cfg = json.loads((d / "adapter_config.json").read_text())
    (d / "adapter_config.json").write_text(json.dumps({**cfg, **change}))
    return inspect_adapter(str(d), False)


def test_target_modules_against_the_base(tiny_model, tiny_adapters, tmp_path):
    from transformers import AutoModelForCausalLM

    from harness.models.loading import check_adapter_fits

    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    check_adapter_fits(inspect_adapter(str(tiny_adapters[0]), False), model)
    for change in ({"target_modules": ["v_proj", "q_proj"]}, {"target_modules": r".*\.(q|v)_proj"},
                   {"target_modules": "all-linear"}):
        check_adapter_fits(_copy_with(tiny_adapters[0], tmp_path, f"ok{len(list(tmp_path.iterdir()))}", **change), model)
    cases = [
        ({"target_modules": ["q_projj", "v_proj"]}, "name 'q_projj', which the base model has no module called"),
        ({"target_modules": ["self_attn"]}, "is a block of layers"),
        ({"target_modules": ["v_proj"]}, "do not select model.layers.0.self_attn.q_proj"),
        ({"target_modules": r".*\.attention\.wq"}, "matches no module of the base model"),
        ({"target_modules": r".*\.v_proj"}, "do not select model.layers.0.self_attn.q_proj"),
    ]
    for i, (change, message) in enumerate(cases):
        spec = _copy_with(tiny_adapters[0], tmp_path, f"bad{i}", **change)
        with pytest.raises(HarnessError, match=message):
            check_adapter_fits(spec, model)
