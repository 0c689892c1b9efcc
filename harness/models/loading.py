"""Load the base model once, attach every adapter to it with peft, and switch between arms without reloading.

An arm is the base model (all adapters disabled) or one adapter. The base arm runs under `disable_adapter()`, the
others under `set_adapter(name)`: the same weights in memory serve every arm.
"""

from __future__ import annotations

import re
import sys
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

import torch

from harness.core.arms import BASE_ARM
from harness.core.errors import HarnessError, first_line
from harness.core.fingerprint import fingerprint_dir_cached, fingerprint_text
from harness.models.adapters import AdapterSpec, rank_problem, safetensors_shapes
from harness.models.quant import nf4_config
from harness.models.refs import BaseRef, DType, LoadedBase


def pick_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise HarnessError(f"--device {device}: CUDA is not available on this machine; use --device cpu (or auto)")
    return device


def _torch_dtype(dtype: DType, device: str, four_bit: bool):
    if dtype is DType.AUTO:
        # The checkpoint's own dtype, as lm-eval's `dtype=auto` does, so base scores match a stock run.
        return "auto" if not four_bit else (torch.bfloat16 if device.startswith("cuda") else torch.float32)
    return getattr(torch, dtype.value)


def load_base(ref: BaseRef, *, device: str, dtype: DType, load_in_4bit: bool, trust_remote_code: bool,
              cache_dir: Path) -> LoadedBase:
    """The base model in memory, in eval mode, on `device` ("auto" picks CUDA when there is one)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = pick_device(device)
    dtype = _torch_dtype(dtype, device, load_in_4bit)
    kwargs: dict = {"trust_remote_code": trust_remote_code}
    if load_in_4bit:
        kwargs["quantization_config"] = nf4_config(dtype)
        kwargs["device_map"] = {"": device}
    t0 = time.perf_counter()
    try:
        tokenizer = AutoTokenizer.from_pretrained(ref.source, trust_remote_code=trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(ref.source, dtype=dtype, **kwargs)
    except OSError as e:
        first = first_line(e)
        raise HarnessError(
            f"--base {ref.name}: could not load {ref.source} ({first}); for a hub model check the id and the network "
            "(HF_HUB_OFFLINE=1 allows only models already in the local cache)"
        ) from None
    except ValueError as e:
        if "trust_remote_code" in str(e):
            raise HarnessError(f"--base {ref.name}: this model ships its own code; pass --trust-remote-code if you trust it") from None
        raise
    if not load_in_4bit:
        model.to(device)
    model.eval()
    load_s = time.perf_counter() - t0
    return LoadedBase(
        model=model, tokenizer=tokenizer, ref=ref, fingerprint=base_fingerprint(ref, model, cache_dir),
        dtype=str(next(model.parameters()).dtype).removeprefix("torch.") if not load_in_4bit else str(dtype).removeprefix("torch."),
        quantization="nf4" if load_in_4bit else "none", device=device, load_s=load_s,
    )


def base_fingerprint(ref: BaseRef, model, cache_dir: Path) -> str:
    """sha256 over a local base's weight files (memoised under cache_dir), or the hub id + commit it loaded."""
    if ref.local:
        return fingerprint_dir_cached(Path(ref.source), cache_dir / "fingerprints.json")
    commit = getattr(getattr(model, "config", None), "_commit_hash", None)  # model is None under --engine vllm
    return fingerprint_text("hub", ref.source, commit or "unknown-revision")


def _adapter_shapes(spec: AdapterSpec) -> dict[str, list[int]]:
    if spec.weights.suffix == ".safetensors":
        return safetensors_shapes(spec.weights)
    # Reached only with --allow-pickle; weights_only still refuses arbitrary objects where torch can.
    state = torch.load(spec.weights, map_location="cpu", weights_only=True)
    return {k: list(v.shape) for k, v in state.items()}


_LORA_KEY = re.compile(r"^(?P<module>.+)\.(?P<part>lora_A|lora_B|lora_embedding_A|lora_embedding_B)(\.[^.]+)?(\.weight)?$")


def _targeted(targets, name: str) -> bool:
    """Whether peft's target_modules select module `name` (peft's own rule: a regular expression matches the whole
    name; a list entry matches the name or its last dotted parts)."""
    if targets is None or targets == "all-linear":
        return True
    if isinstance(targets, str):
        return re.fullmatch(targets, name) is not None
    return name in targets or any(name.endswith(f".{t}") for t in targets)


def _check_targets(spec: AdapterSpec, model: torch.nn.Module, lora_modules: set[str]) -> None:
    """target_modules against the base: a name that matches none of its modules means another architecture (peft
    fails, or skips it); a module with LoRA weights that target_modules does not select would be dropped silently."""
    targets = spec.config.get("target_modules")
    if spec.config.get("peft_type") != "LORA" or targets is None:
        return
    layers = {n for n, m in model.named_modules() if n and not list(m.children())}
    names = [n for n, _ in model.named_modules() if n]
    leaves = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules()
                     if n in layers and (hasattr(m, "in_features") or hasattr(m, "num_embeddings"))})
    where = f"--adapter {spec.path}: adapter_config.json's target_modules"
    if isinstance(targets, list):
        missing = [t for t in targets if not any(n == t or n.endswith(f".{t}") for n in names)]
        if missing:
            raise HarnessError(f"{where} name {', '.join(repr(t) for t in missing)}, which the base model has no module "
                               f"called (its layers: {', '.join(leaves[:20])}); was the adapter trained on another "
                               "architecture, or is the name mistyped?")
        blocks = [t for t in targets if not any(n in layers and (n == t or n.endswith(f".{t}")) for n in names)]
        if blocks:
            raise HarnessError(f"{where} name {', '.join(repr(t) for t in blocks)}, which in the base model is a block "
                               f"of layers, not a layer LoRA can adapt (its layers: {', '.join(leaves[:20])})")
    elif targets != "all-linear" and not any(_targeted(targets, n) for n in names):
        raise HarnessError(f"{where} {targets!r} matches no module of the base model (its layers: "
                           f"{', '.join(leaves[:20])}); was the adapter trained on another architecture?")
    for mod in sorted(lora_modules):
        if not _targeted(targets, mod):
            raise HarnessError(f"{where} do not select {mod}, but the weights hold LoRA matrices for it: peft would "
                               "leave them out without a word; the config does not belong to these weights, re-save "
                               "the adapter with peft")


def check_adapter_fits(spec: AdapterSpec, model: torch.nn.Module) -> None:
    """Raise HarnessError naming the first module whose LoRA shapes do not fit the base (before peft's own error),
    or whose target_modules do not fit the base or the weights."""
    shapes = _adapter_shapes(spec)
    if spec.weights.suffix != ".safetensors":  # safetensors were checked with the config before the base loaded
        problem = rank_problem(spec.config, shapes)
        if problem:
            raise HarnessError(f"--adapter {spec.path}: {problem}")
    lora_modules = set()
    for key, shape in shapes.items():
        m = _LORA_KEY.match(key.removeprefix("base_model.model."))
        if not m:
            continue
        mod_path, part = m["module"], m["part"]
        try:
            module = model.get_submodule(mod_path)
        except AttributeError:
            raise HarnessError(
                f"--adapter {spec.path}: module '{mod_path}' ({key}) does not exist in the base model; "
                "the adapter was trained on a different architecture"
            ) from None
        lora_modules.add(mod_path)
        if part in ("lora_A", "lora_B") and hasattr(module, "in_features"):
            want = [shape[0], module.in_features] if part == "lora_A" else [module.out_features, shape[1]]
        elif part.startswith("lora_embedding") and hasattr(module, "num_embeddings"):
            want = [shape[0], module.num_embeddings] if part.endswith("A") else [module.embedding_dim, shape[1]]
        else:
            continue
        if list(shape) != want:
            raise HarnessError(
                f"--adapter {spec.path}: shape mismatch at {mod_path}: the adapter's {part} is {list(shape)} but the "
                f"base needs {want} (base {mod_path} is {module.out_features if hasattr(module, 'out_features') else module.embedding_dim}"
                f"x{module.in_features if hasattr(module, 'in_features') else module.num_embeddings}); "
                "was it trained on another base model?"
            )
    _check_targets(spec, model, lora_modules)


def warn_base_mismatch(spec: AdapterSpec, ref: BaseRef) -> None:
    claimed = spec.config.get("base_model_name_or_path")
    if not claimed:
        return
    names = {ref.name, ref.source, Path(ref.source).name}
    if claimed not in names and Path(str(claimed)).name not in names:
        print(
            f"warning: adapter '{spec.name}' says it was trained on '{claimed}', but the base is '{ref.source}' "
            "(fine if the folder moved; shapes are checked)",
            file=sys.stderr,
        )


def attach_adapters(base: LoadedBase, specs: list[AdapterSpec]) -> torch.nn.Module:
    """Check every adapter against the base, then attach them all to the one loaded model."""
    if not specs:
        return base.model
    for spec in specs:
        warn_base_mismatch(spec, base.ref)
        check_adapter_fits(spec, base.model)
    from peft import PeftModel

    model = PeftModel.from_pretrained(base.model, str(specs[0].path), adapter_name=peft_name(specs[0].name),
                                      is_trainable=False)
    for spec in specs[1:]:
        model.load_adapter(str(spec.path), adapter_name=peft_name(spec.name), is_trainable=False)
    model.eval()
    return model


def peft_name(arm: str) -> str:
    """The name an arm's adapter has inside peft. peft refuses a '.' in an adapter name (it becomes part of module
    paths), and folders like `v1.0` or `lr-1.5e-4` are common arm names: every character that is not a letter, digit,
    '-' or '_' becomes its code point, so two different arm names never meet in peft."""
    return "".join(c if c.isalnum() or c in "-_" else f"_x{ord(c):x}_" for c in arm)


def activate(model: torch.nn.Module, arm: str):
    """Context in which `model` behaves as `arm`: the bare base, or the base with one adapter."""
    if not hasattr(model, "peft_config"):
        return nullcontext()
    if arm == BASE_ARM:
        return model.disable_adapter()
    model.set_adapter(peft_name(arm))
    return _active(model, peft_name(arm))


@contextmanager
def _active(model, name):
    assert model.active_adapter == name
    yield
