"""`harness train`: one flag per harness.train.config.FIELDS entry, merged over --config YAML, handed to the trainer."""

from __future__ import annotations

from pathlib import Path

from harness.cli.args import base_arg, registry_flags, str_path
from harness.core.errors import HarnessError
from harness.core.paths import user_path

_TRAIN_HELP = {
    "base": "model folder, hub id or alias", "data": "training data file (or folder for --format text)",
    "format": "instruction (Alpaca JSONL) | yelp (text + label 0-4, the yelp task's prompt) | text (plain text)",
    "out": "folder for the adapter, logs and summary", "eval_data": "evaluation data, same format",
    "eval_fraction": "hold out this fraction of --data for evaluation instead",
    "target_modules": "comma-separated module names, or all-linear (default: the attention projections)",
    "epochs": "training epochs (default 1)", "max_steps": "stop after N optimiser steps (overrides epochs)",
    "batch_size": "per-device batch size (default 4)", "load_in_4bit": "QLoRA: 4-bit NF4 base via bitsandbytes",
    "precision": "auto | bf16 | fp16 | fp32 (auto: bf16/fp16 on CUDA, fp32 on CPU)",
    "early_stopping_patience": "stop after N evaluations without improvement",
    "overfit_patience": "evaluations of rising eval loss (with falling train loss) that mean overfitting",
    "save_steps": "save a checkpoint (OUT/checkpoints/checkpoint-STEP) every N steps",
    "save_total_limit": "keep only the newest N checkpoints in OUT/checkpoints/ (default: keep every one, so a "
                        "checkpoint sweep sees them all)",
    "force": "replace a different run's adapter in --out",
}


_TRAIN_PATHS = ("data", "eval_data", "out")


def add_parser(sub) -> None:
    from harness.train.config import FIELDS

    p = sub.add_parser(
        "train", help="train a LoRA / QLoRA adapter (peft + transformers Trainer)",
        description="Train an adapter. Every setting can also come from --config YAML (same names, underscores); "
                    "the command line overrides it. Rerunning the same command after an interrupt resumes from the "
                    "last checkpoint.",
        epilog="example: harness train --base qwen2.5-3b --load-in-4bit --data reviews.csv --format yelp --out out/",
    )
    p.add_argument("--config", type=user_path, help="YAML file of settings")
    registry_flags(p, "register the adapter")
    for name, f in FIELDS.items():
        flag = "--" + name.replace("_", "-")
        default = f.default if not callable(getattr(f, "default_factory", None)) else None
        if isinstance(default, bool):
            p.add_argument(flag, action="store_const", const=True, default=None, help=_TRAIN_HELP.get(name))
            continue
        text = _TRAIN_HELP.get(name) or name.replace("_", " ")
        shown = (f" (default {default.value if hasattr(default, 'value') else default})"
                 if default not in (None, "") and "default" not in text else "")
        p.add_argument(flag, type=_field_type(name, default), default=None, help=text + shown)
    p.set_defaults(func=command)


def _field_type(name: str, default):
    """The flag's parser: the default's numeric type, else text; paths and --base made absolute as typed."""
    typ = type(default) if isinstance(default, (int, float)) and default is not None else str
    # These default to None, so their type cannot be read off the default.
    if name in ("eval_fraction",):
        typ = float
    if name in ("early_stopping_patience", "save_total_limit"):
        typ = int
    if name in _TRAIN_PATHS:
        typ = str_path
    if name == "base":
        typ = base_arg
    return typ


def _load_yaml(path: Path) -> dict:
    from harness.core import yamlio

    values = yamlio.load(path, "--config")
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise HarnessError(f"{path}: expected a mapping of setting: value (one per line, e.g. `r: 16`)")
    return values


def command(a) -> int:
    from harness.train.config import FIELDS, from_sources

    yaml_values = _load_yaml(a.config) if a.config else {}
    for key in _TRAIN_PATHS:  # relative paths in the YAML are relative to the current folder, as on the command line
        if isinstance(yaml_values.get(key), str) and yaml_values[key].strip():
            yaml_values[key] = str_path(yaml_values[key])
    if isinstance(yaml_values.get("base"), str):
        yaml_values["base"] = base_arg(yaml_values["base"])
    cli_values = {k: getattr(a, k) for k in FIELDS if getattr(a, k, None) is not None}
    cfg = from_sources(yaml_values, cli_values, str(a.config) if a.config else None)
    from harness.train.trainer import run

    run(cfg, registry=False if a.no_registry else a.registry)
    return 0
