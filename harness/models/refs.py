"""Which base model a run or a training means, and how to load it (a local folder, an alias or a hub id; a dtype),
and what was loaded (LoadedBase).

Torch-free: checked before anything heavy loads.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from harness.models.aliases import ALIASES

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class DType(str, Enum):
    AUTO = "auto"
    BFLOAT16 = "bfloat16"
    FLOAT16 = "float16"
    FLOAT32 = "float32"


@dataclass
class BaseRef:
    """Where the base model comes from: a local folder or a hub id (possibly via an alias)."""

    name: str
    source: str
    local: bool


def resolve_base(name: str) -> tuple[BaseRef | None, str | None]:
    """Return (ref, None) or (None, problem). Local folders win over aliases and hub ids."""
    p = Path(name).expanduser()
    if p.exists():
        if not p.is_dir():
            return None, f"--base {name}: is a file; give the model folder (the one with config.json)"
        if not (p / "config.json").is_file():
            return None, f"--base {name}: {p / 'config.json'} is missing; give a transformers model folder"
        return BaseRef(name=p.resolve().name, source=str(p.resolve()), local=True), None
    if name in ALIASES:
        return BaseRef(name=name, source=ALIASES[name].hub_id, local=False), None
    if not name.startswith((".", "/", "~")) and _HUB_ID.match(name):
        return BaseRef(name=name, source=name, local=False), None
    if "/" in name or os.sep in name:
        return None, f"--base {name}: no such directory; give a model folder, a hub id (org/name) or an alias (`harness models`)"
    close = difflib.get_close_matches(name, list(ALIASES), n=3)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return None, f"--base {name}: not a directory, a known alias or a hub id (org/name); {hint}`harness models` lists the aliases"


@dataclass
class LoadedBase:
    """What an engine loaded: run.json records it, and the per-arm cache key is made of it."""

    model: Any  # the torch module; None when the engine holds the weights itself (vLLM)
    tokenizer: Any
    ref: BaseRef
    fingerprint: str
    dtype: str
    quantization: str
    device: str
    load_s: float
