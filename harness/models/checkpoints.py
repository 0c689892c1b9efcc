"""Checkpoint sweeps: one --adapter that stands for many adapters, in training-step order (no torch here).

`--adapter 'out/checkpoints/checkpoint-*'` (a quoted glob; `harness train --out out` keeps its checkpoints in
out/checkpoints/) or `--adapter out/checkpoints` (a folder that is not itself an adapter but holds adapter folders)
becomes one arm per checkpoint, named after its folder (`NAME=` prefixes the names: `a=out/checkpoints/checkpoint-*`
gives a-checkpoint-100, ...). Order is numeric by step (100, 200, 300, 1000), not by text; the step comes from the
folder name or, failing that, its trainer_state.json. A pattern that matches nothing, or a training folder with no
final adapter, gets a one-line error naming the pattern that would match (`did you mean out/checkpoints/...?`).
"""

from __future__ import annotations

import glob
import json
import os
import re
from pathlib import Path

from harness.core.errors import HarnessError

ADAPTER_CONFIG = "adapter_config.json"
TRAINER_STATE = "trainer_state.json"  # what transformers' Trainer writes beside each checkpoint
_STEP = re.compile(r"(?:checkpoint|ckpt|step)[-_]?(\d+)$", re.I)
_GLOB = re.compile(r"[*?\[]")
CHECKPOINTS = "checkpoints"  # where `harness train` keeps them (harness.train.outdir.CHECKPOINTS)


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


def _adapters_in(pattern: str) -> list[Path]:
    return [Path(p) for p in glob.glob(os.path.expanduser(pattern)) if (Path(p) / ADAPTER_CONFIG).is_file()]


def _suggestions(raw: str) -> list[str]:
    """Patterns, written the way the user wrote theirs (relative stays relative), that do match adapter folders:
    the last part inside a checkpoints/ folder beside it (out/x/checkpoint-* -> out/x/checkpoints/checkpoint-*), or
    inside a training run's checkpoints/ one level down (out/checkpoint-* -> out/RUN/checkpoints/checkpoint-*)."""
    head, tail = os.path.split(raw.rstrip("/" + os.sep))
    if not tail or os.path.basename(head) == CHECKPOINTS:
        return []
    beside = os.path.join(head, CHECKPOINTS, tail)
    if _adapters_in(beside):
        return [beside]
    if _GLOB.search(head):
        return []
    runs = sorted({p.parent.parent.name for p in _adapters_in(os.path.join(glob.escape(head), "*", CHECKPOINTS, tail))})
    return [os.path.join(head, run, CHECKPOINTS, tail) for run in runs]


def _as_typed(path: str) -> str:
    """A path for a message, relative to the current folder when it lies inside it: the command line makes every
    --adapter path absolute where it enters (harness.cli.args), and the user typed `out/x/...`, not /home/.../out/x."""
    if not os.path.isabs(path):
        return path
    rel = os.path.relpath(path, os.getcwd())
    return path if rel == os.curdir or rel.split(os.sep)[0] == os.pardir else rel


def _no_match(flag: str, raw: str) -> HarnessError:
    hits = glob.glob(os.path.expanduser(raw))
    what = (f"the pattern matches {len(hits)} path{'s' if len(hits) != 1 else ''} but no adapter folder" if hits
            else "the pattern matches no adapter folder")
    found = [_as_typed(s) for s in _suggestions(raw)]
    raw = _as_typed(raw)
    if found:
        shown = found[0] if len(found) == 1 else "one of " + ", ".join(found[:3]) + (", ..." if len(found) > 3 else "")
        return HarnessError(f"{flag} {raw}: {what}; did you mean {shown}? (`harness train --out DIR` keeps its "
                            f"checkpoints in DIR/{CHECKPOINTS}/)")
    return HarnessError(f"{flag} {raw}: {what} (a folder holding {ADAPTER_CONFIG}); check the path, and quote the "
                        "pattern so that the shell leaves it to the harness")


def _run_without_adapter(flag: str, raw: str, path: Path) -> HarnessError | None:
    """A `harness train` folder with checkpoints but no final adapter (interrupted, or still training): the error
    that points at its checkpoints, instead of "adapter_config.json is missing"."""
    ckpts = path / CHECKPOINTS
    if not ckpts.is_dir():
        return None
    n = sum(1 for p in ckpts.iterdir() if p.is_dir() and (p / ADAPTER_CONFIG).is_file())
    if not n:
        return None
    raw = _as_typed(raw)
    where = os.path.join(raw.rstrip("/" + os.sep), CHECKPOINTS)
    return HarnessError(f"{flag} {raw}: holds no final adapter ({ADAPTER_CONFIG}; did its training finish?) but "
                        f"{n} checkpoint{'s' if n != 1 else ''} in {CHECKPOINTS}/; to evaluate them give "
                        f"--adapter '{os.path.join(where, 'checkpoint-*')}' (or --adapter {where})")


def expand(name: str | None, raw: str, flag: str = "--adapter") -> list[tuple[str | None, str]] | None:
    """The (name, path) pairs one --adapter value stands for when it is a sweep (a glob, or a folder of adapter
    folders), in step order; None when it is one adapter (or a registry name), left to the usual checks. A folder
    that is an adapter is one adapter even when it also holds checkpoints/ (the final adapter of `harness train`)."""
    if not raw.strip():
        return None  # an empty value (an unset variable?) is refused by the adapter checks, never read as "."
    if _GLOB.search(raw):
        folders = _adapters_in(raw)
        if not folders:
            raise _no_match(flag, raw)
    else:
        path = Path(os.path.expanduser(raw))
        if not path.is_dir() or (path / ADAPTER_CONFIG).exists():
            return None
        folders = [p for p in path.iterdir() if p.is_dir() and (p / ADAPTER_CONFIG).is_file()]
        if not folders:
            problem = _run_without_adapter(flag, raw, path)
            if problem:
                raise problem
            return None  # not a sweep either: the usual "adapter_config.json is missing" message says what to give
    return [(f"{name}-{p.name}" if name else None, str(p)) for p in _order(folders)]
