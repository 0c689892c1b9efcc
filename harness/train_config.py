"""TrainConfig: `harness train` settings from a YAML file and the command line, validated whole before any model loads.

Defaults follow the common QLoRA recipe (Dettmers et al. 2023): r 64, alpha 16, dropout 0.05, lr 2e-4 with a
cosine schedule and 3% warmup, paged 8-bit AdamW when the base is 4-bit on CUDA.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from harness.config import resolve_base
from harness.errors import ConfigError


class Format(str, Enum):
    INSTRUCTION = "instruction"  # Alpaca-style JSONL: instruction, input, output
    YELP = "yelp"  # CSV/JSONL text + label 0-4, rendered with the yelp task's own prompt
    TEXT = "text"  # plain text for continued pre-training


@dataclass
class TrainConfig:
    base: str = ""
    data: str = ""
    format: Format = Format.INSTRUCTION
    out: str = ""
    eval_data: str | None = None
    eval_fraction: float | None = None
    # LoRA
    r: int = 64
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: list[str] | str | None = None  # None = the attention projections the model has
    # optimisation
    learning_rate: float = 2e-4
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.03
    epochs: float = 1.0
    max_steps: int = -1
    batch_size: int = 4
    gradient_accumulation: int = 4
    weight_decay: float = 0.0
    max_grad_norm: float = 0.3
    max_seq_length: int = 512
    precision: str = "auto"  # auto | bf16 | fp16 | fp32
    seed: int = 42
    early_stopping_patience: int | None = None
    overfit_patience: int = 3
    eval_steps: int = 50
    save_steps: int = 50
    logging_steps: int = 10
    # model
    load_in_4bit: bool = False
    gradient_checkpointing: bool = False
    device: str = "auto"
    trust_remote_code: bool = False
    force: bool = False
    extra: dict = field(default_factory=dict, repr=False)

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["format"] = self.format.value
        d.pop("extra")
        return d

    def fingerprint_fields(self) -> dict:
        """What makes two runs the same run (resume) rather than different ones; not `force`."""
        d = self.to_json()
        d.pop("force", None)
        return d


FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig) if f.name != "extra"}
_SCHEDULERS = {"cosine", "linear", "constant", "constant_with_warmup", "cosine_with_restarts", "polynomial"}


def from_sources(yaml_values: dict, cli_values: dict, yaml_path: str | None = None) -> TrainConfig:
    """Merge YAML then CLI (CLI wins), then validate everything at once."""
    problems = []
    where = yaml_path or "config"
    merged: dict = {}
    for source, values in ((where, yaml_values), ("command line", cli_values)):
        for k, v in values.items():
            if k not in FIELDS:
                close = difflib.get_close_matches(k, list(FIELDS), n=1)
                problems.append(f"{source}: unknown setting '{k}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
            elif v is not None:
                merged[k] = v
    cfg = TrainConfig()
    for k, v in merged.items():
        try:
            setattr(cfg, k, _coerce(k, v))
        except (TypeError, ValueError):
            if k == "format":
                choices = [f.value for f in Format]
                close = difflib.get_close_matches(str(v), choices, n=1)
                problems.append(f"--format {v}: not a data format" + (f" (did you mean {close[0]}?)" if close else "")
                                + f"; choose from {', '.join(choices)}")
            else:
                problems.append(f"{where}: '{k}': {v!r} is not a valid {FIELDS[k].type}")
    problems += validate(cfg)
    if problems:
        raise ConfigError(problems, what="training config")
    return cfg


def _coerce(name: str, value):
    if name == "format":
        return Format(value)
    default = FIELDS[name].default
    if isinstance(default, bool):
        if isinstance(value, str):
            return value.lower() in ("1", "true", "yes")
        return bool(value)
    if isinstance(default, int) and not isinstance(value, bool):
        return int(value)
    if isinstance(default, float):
        return float(value)
    if name in ("eval_fraction",):
        return float(value)
    if name in ("early_stopping_patience",):
        return int(value)
    if name == "target_modules" and isinstance(value, str) and value != "all-linear":
        return [m.strip() for m in value.split(",") if m.strip()]
    return value


def validate(cfg: TrainConfig) -> list[str]:
    p = []
    if not cfg.base:
        p.append("base: missing; give --base (a model folder, hub id or alias)")
    else:
        _, err = resolve_base(cfg.base)
        if err:
            p.append(err)
    if not cfg.data:
        p.append("data: missing; give --data FILE")
    elif not Path(cfg.data).expanduser().exists():
        p.append(f"--data {cfg.data}: no such file or folder")
    if not cfg.out:
        p.append("out: missing; give --out DIR for the adapter")
    else:
        from harness.paths import dir_problem

        problem = dir_problem(Path(cfg.out).expanduser(), "--out")
        if problem:
            p.append(problem)
    if cfg.eval_data and cfg.eval_fraction:
        p.append("eval_data and eval_fraction: give one or the other")
    if cfg.eval_data and not Path(cfg.eval_data).expanduser().exists():
        p.append(f"--eval-data {cfg.eval_data}: no such file")
    if cfg.eval_fraction is not None and not 0 < cfg.eval_fraction < 1:
        p.append(f"eval_fraction {cfg.eval_fraction}: must be between 0 and 1")
    for name in ("r", "lora_alpha", "batch_size", "gradient_accumulation", "max_seq_length", "eval_steps",
                 "save_steps", "logging_steps", "overfit_patience"):
        if getattr(cfg, name) < 1:
            p.append(f"{name} {getattr(cfg, name)}: must be >= 1")
    if not 0 <= cfg.lora_dropout < 1:
        p.append(f"lora_dropout {cfg.lora_dropout}: must be in [0, 1)")
    if cfg.learning_rate <= 0:
        p.append(f"learning_rate {cfg.learning_rate}: must be > 0")
    if not 0 <= cfg.warmup_ratio < 1:
        p.append(f"warmup_ratio {cfg.warmup_ratio}: must be in [0, 1)")
    if cfg.epochs <= 0 and cfg.max_steps <= 0:
        p.append("epochs and max_steps: one of them must be > 0")
    if cfg.lr_scheduler not in _SCHEDULERS:
        p.append(f"lr_scheduler '{cfg.lr_scheduler}': expected one of {', '.join(sorted(_SCHEDULERS))}")
    if cfg.precision not in ("auto", "bf16", "fp16", "fp32"):
        p.append(f"precision '{cfg.precision}': expected auto, bf16, fp16 or fp32")
    if cfg.early_stopping_patience is not None and cfg.early_stopping_patience < 1:
        p.append(f"early_stopping_patience {cfg.early_stopping_patience}: must be >= 1")
    if cfg.early_stopping_patience and not (cfg.eval_data or cfg.eval_fraction):
        p.append("early_stopping_patience: needs evaluation data (--eval-data or --eval-fraction)")
    return p
