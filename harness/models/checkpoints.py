"""Checkpoint sweeps: one --adapter that stands for many adapters, in training-step order (no torch here).

`--adapter 'out/checkpoint-*'` (a quoted glob) or `--adapter out/checkpoints` (a folder that is not itself an
adapter but holds adapter folders) becomes one arm per checkpoint, named after its folder (`NAME=` prefixes the
names: `a=out/checkpoint-*` gives a-checkpoint-100, ...). Order is numeric by step (100, 200, 300, 1000), not by
text; the step comes from the folder name or, failing that, its trainer_state.json.
"""

from __future__ import annotations

import glob
import json
import re
from pathlib import Path

from harness.core.errors import HarnessError

ADAPTER_CONFIG = "adapter_config.json"
TRAINER_STATE = "trainer_state.json"  # what transformers' Trainer writes beside each checkpoint
_STEP = re.compile(r"(?:checkpoint|ckpt|step)[-_]?(\d+)$", re.I)
_GLOB = re.compile(r"[*?\[]")


def _state(folder: Path) -> dict:
    try:
        state = json.loads((folder / TRAINER_STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def step_of(folder: Path) -> int | None:
    """The training step a checkpoint folder was saved at, or None for a folder that names none."""
    m = _STEP.search(folder.name)
    if m:
        return int(m.group(1))
    step = _state(folder).get("global_step")
    return step if isinstance(step, int) and not isinstance(step, bool) else None


def training_at(folder: Path, step: int | None) -> dict:
    """{step, loss, eval_loss} at a checkpoint, from its trainer_state.json log history (the last values logged at
    or before its step); {step} alone when the folder has no log."""
    out: dict = {"step": step}
    for entry in _state(folder).get("log_history") or []:
        if not isinstance(entry, dict) or (step is not None and (entry.get("step") or 0) > step):
            continue
        for key in ("loss", "eval_loss"):
            if isinstance(entry.get(key), (int, float)):
                out[key] = float(entry[key])
    return out


def _order(folders: list[Path]) -> list[Path]:
    def key(p: Path):
        step = step_of(p)
        return (step is None, step or 0, [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)])

    return sorted(folders, key=key)


def expand(name: str | None, raw: str, flag: str = "--adapter") -> list[tuple[str | None, str]] | None:
    """The (name, path) pairs one --adapter value stands for when it is a sweep (a glob, or a folder of adapter
    folders), in step order; None when it is one adapter (or a registry name), left to the usual checks."""
    if not raw.strip():
        return None  # an empty value (an unset variable?) is refused by the adapter checks, never read as "."
    if _GLOB.search(raw):
        folders = [Path(p) for p in glob.glob(raw) if (Path(p) / ADAPTER_CONFIG).is_file()]
        if not folders:
            raise HarnessError(f"{flag} {raw}: the pattern matches no adapter folder (a folder holding "
                               f"{ADAPTER_CONFIG}); check the path, and quote the pattern so that the shell leaves it "
                               "to the harness")
    else:
        path = Path(raw)
        if not path.is_dir() or (path / ADAPTER_CONFIG).exists():
            return None
        folders = [p for p in path.iterdir() if p.is_dir() and (p / ADAPTER_CONFIG).is_file()]
        if not folders:
            return None  # not a sweep either: the usual "adapter_config.json is missing" message says what to give
    return [(f"{name}-{p.name}" if name else None, str(p)) for p in _order(folders)]
