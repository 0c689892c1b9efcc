"""Adapter directories: what is in them, checked before any model loads (no torch here).

The shape check against the loaded base lives in models.py; this module reads adapter_config.json and the
weight file's header only.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError
from harness.fingerprint import fingerprint_files

SAFE_WEIGHTS = "adapter_model.safetensors"
PICKLE_WEIGHTS = "adapter_model.bin"
RESERVED_ARM_NAMES = {"base"}

# adapter_config.json fields worth recording with every result; the rest stays in the adapter directory.
_RECORDED_PEFT_FIELDS = (
    "peft_type", "task_type", "r", "lora_alpha", "lora_dropout", "target_modules", "bias", "use_rslora",
    "use_dora", "modules_to_save", "base_model_name_or_path", "revision",
)


@dataclass
class AdapterSpec:
    name: str
    path: Path
    config: dict
    weights: Path
    fingerprint: str = ""
    peft: dict = field(default_factory=dict)

    @property
    def is_pickle(self) -> bool:
        return self.weights.name.endswith(".bin")


def parse_adapter_arg(arg: str) -> tuple[str | None, str]:
    """`NAME=PATH` names the arm explicitly; a bare PATH is named after its last folder."""
    if "=" in arg and not Path(arg).exists():
        name, _, path = arg.partition("=")
        return name.strip(), path.strip()
    return None, arg


def inspect_adapter(arg: str, allow_pickle: bool, flag: str = "--adapter") -> AdapterSpec:
    """Read one --adapter argument; raise HarnessError with the fix when the directory is not a usable adapter.
    `flag` names where the path came from in the messages (`--adapter`, `registry add`)."""
    name, raw_path = parse_adapter_arg(arg)
    path = Path(raw_path).expanduser()
    if not path.exists():
        raise HarnessError(f"{flag} {arg}: no such directory {path}; give the folder that holds adapter_config.json")
    if not path.is_dir():
        raise HarnessError(f"{flag} {arg}: {path} is a file; give the folder that holds adapter_config.json")
    cfg_file = path / "adapter_config.json"
    if not cfg_file.is_file():
        raise HarnessError(
            f"{flag} {arg}: {cfg_file} is missing; this is not a peft adapter folder "
            "(save one with model.save_pretrained(dir) on a PeftModel)"
        )
    try:
        config = json.loads(cfg_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise HarnessError(f"{cfg_file}: not valid JSON ({e}); re-save the adapter with peft") from None
    if not isinstance(config, dict) or "peft_type" not in config:
        raise HarnessError(f"{cfg_file}: field 'peft_type' is missing; re-save the adapter with peft")
    if (path / SAFE_WEIGHTS).is_file():
        weights = path / SAFE_WEIGHTS
    elif (path / PICKLE_WEIGHTS).is_file():
        weights = path / PICKLE_WEIGHTS
        if not allow_pickle:
            raise HarnessError(
                f"{flag} {arg}: {weights} is a pickle file, and loading a pickle runs code from it; convert it "
                "to adapter_model.safetensors, or pass --allow-pickle if you trust its source"
            )
    else:
        raise HarnessError(f"{flag} {arg}: {path} holds no {SAFE_WEIGHTS} (or {PICKLE_WEIGHTS}); the adapter has no weights")
    if weights.name == SAFE_WEIGHTS:
        safetensors_shapes(weights)  # a garbage file fails here, in milliseconds, before the base model loads
    name = name or path.resolve().name
    peft = {k: config[k] for k in _RECORDED_PEFT_FIELDS if k in config}
    if isinstance(peft.get("target_modules"), (set, tuple)):
        peft["target_modules"] = sorted(peft["target_modules"])
    return AdapterSpec(name=name, path=path.resolve(), config=config, weights=weights, peft=peft)


def check_arm_names(specs: list[AdapterSpec]) -> list[str]:
    problems, seen = [], {}
    for s in specs:
        if s.name in RESERVED_ARM_NAMES:
            problems.append(f"--adapter {s.path}: the arm name '{s.name}' is reserved; name it with --adapter NAME={s.path}")
        elif s.name in seen:
            problems.append(
                f"--adapter: two adapters would both be called '{s.name}' ({seen[s.name]} and {s.path}); "
                f"name them with --adapter NAME=PATH"
            )
        seen.setdefault(s.name, s.path)
    return problems


def fingerprint_adapter(spec: AdapterSpec) -> str:
    return fingerprint_files([spec.weights], spec.path)


def safetensors_shapes(path: Path) -> dict[str, list[int]]:
    """Tensor shapes from a .safetensors header (8-byte length + JSON), without reading the tensors."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise HarnessError(f"{path}: truncated safetensors file ({size} bytes); re-save the adapter")
        (n,) = struct.unpack("<Q", head)
        # The length comes from the file: a garbage file claims terabytes, so check it before reading.
        if n > size - 8 or n > 100 * 2**20:
            raise HarnessError(f"{path}: not a safetensors file (its header claims {n} bytes, the file has {size}); "
                               "re-save the adapter with peft")
        try:
            header = json.loads(f.read(n))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise HarnessError(f"{path}: corrupt safetensors header; re-save the adapter") from None
    if not isinstance(header, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("shape"), list) for k, v in header.items() if k != "__metadata__"):
        raise HarnessError(f"{path}: corrupt safetensors header (no tensor shapes); re-save the adapter")
    return {k: v["shape"] for k, v in header.items() if k != "__metadata__"}
