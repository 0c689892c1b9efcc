"""The adapter output folder's rules: what a training run writes and owns there, when --out may hold a run, and
whether a run there starts fresh or resumes. Shared by config (validation) and trainer (the run), importing neither."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from harness.core import results
from harness.core.errors import HarnessError
from harness.core.paths import out_problem
from harness.models.refs import resolve_base

CONFIG_FILE = "train_config.json"
SUMMARY_FILE = "train_summary.json"
LOG_FILE = "training_log.csv"
CHECKPOINTS = "checkpoints"
# Files and folders a training run writes; --force removes these and nothing else.
_OWNED = ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin", "README.md", "tokenizer.json",
          "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja", CONFIG_FILE, SUMMARY_FILE,
          LOG_FILE, CHECKPOINTS, "tensorboard")
# Everything a training run may leave in --out (its tokenizer files vary by tokenizer type); anything else there is
# the user's, and a folder of the user's files is refused unless --force.
_WRITES = {*_OWNED, "vocab.json", "merges.txt", "tokenizer.model", "added_tokens.json", "vocab.txt", "spiece.model"}


def follow_umask(out: Path) -> None:
    """safetensors writes adapter_model.safetensors 0600 whatever the umask; the adapter is a file the user shares
    like any other, so its files get the mode every file the harness writes has (0644 under umask 022)."""
    mode = 0o666 & ~results._umask()
    for f in out.iterdir():
        if f.is_file() and f.name in _WRITES:
            os.chmod(f, mode)


def out_folder_problem(out: str, base: str, force: bool) -> str | None:
    """Why --out must not hold this training run (checked with the settings, before anything is imported): the
    current folder, inside the base model folder (never written to, --force or not), or a folder of the user's files
    without --force."""
    ref, _ = resolve_base(base)
    return out_problem(Path(out).expanduser(), "--out", owned=_WRITES, force=force, what="a training run",
                       protected={"the base model folder": Path(ref.source)} if ref and ref.local else {})


def check_out(out: Path, force: bool, identity: dict) -> str | None:
    """'fresh', 'resume' (same run, interrupted), or a HarnessError when the folder holds something else.
    `identity` is what this run writes to CONFIG_FILE: a run there with the same identity is this run."""
    if not out.exists():
        return "fresh"
    if not out.is_dir():
        raise HarnessError(f"--out {out}: is a file; give a folder for the adapter")
    if force:
        for name in _OWNED:
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        return "fresh"
    saved = out / CONFIG_FILE
    if saved.is_file():
        try:
            previous = json.loads(saved.read_text())
        except ValueError:
            previous = None
        if previous == identity:
            if (out / SUMMARY_FILE).exists():
                raise HarnessError(f"--out {out}: this run already finished there ({out / SUMMARY_FILE}); "
                                   "pass --force to train it again")
            return "resume"
        raise HarnessError(f"--out {out}: holds a different training run's adapter (its {CONFIG_FILE} differs: "
                           "other settings or data); choose another --out or pass --force to replace it")
    if (out / "adapter_config.json").exists():
        raise HarnessError(f"--out {out}: holds an adapter that `harness train` did not make; choose another --out "
                           "or pass --force to replace it")
    return "fresh"


def latest_checkpoint(out: Path) -> str | None:
    ckpts = sorted((out / CHECKPOINTS).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return str(ckpts[-1]) if ckpts else None
