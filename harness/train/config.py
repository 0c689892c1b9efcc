"""TrainConfig: `harness train` settings from a YAML file and the command line, validated whole before any model loads.

Defaults follow the common QLoRA recipe (Dettmers et al. 2023): r 64, alpha 16, dropout 0.05, lr 2e-4 with a
cosine schedule and 3% warmup, paged 8-bit AdamW when the base is 4-bit on CUDA.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from harness.core.errors import ConfigError
from harness.models.refs import resolve_base
from harness.train.outdir import out_folder_problem


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
    save_total_limit: int | None = None  # checkpoints kept in OUT/checkpoints/; None = every one (a sweep needs them)
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
        """What makes two runs the same run (resume) rather than different ones; not `force`, and not
        `save_total_limit` (how many checkpoints stay on disk changes no weight, and a run started before the setting
        existed must still resume)."""
        d = self.to_json()
        d.pop("force", None)
        d.pop("save_total_limit", None)
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
                close = difflib.get_close_matches(str(k), list(FIELDS), n=1)
                problems.append(f"{source}: unknown setting '{k}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
            elif v is not None:
                merged[k] = v
    cfg = TrainConfig()
    for k, v in merged.items():
        try:
            setattr(cfg, k, _coerce(k, v))
        except (TypeError, ValueError, OverflowError):
            if k == "format":
                choices = [f.value for f in Format]
                close = difflib.get_close_matches(str(v), choices, n=1)
                problems.append(f"--format {_short(v)}: not a data format" + (f" (did you mean {close[0]}?)" if close else "")
                                + f"; choose from {', '.join(choices)}")
            else:
                problems.append(f"{where if k in yaml_values and k not in cli_values else 'command line'}: "
                                f"'{k}': {_short(v)} is not {_KIND.get(_kind(k), 'a valid value')}")
    problems += validate(cfg)
    if "max_steps" in merged and isinstance(cfg.max_steps, int) and cfg.max_steps != -1 and cfg.max_steps < 1:
        problems.append(f"max_steps {cfg.max_steps}: must be >= 1 (or leave it out to train for --epochs)")
    if problems:
        raise ConfigError(problems, what="training config")
    return cfg


_KIND = {"int": "a whole number", "float": "a number", "bool": "true or false", "str": "a string",
         "targets": "a list of module names, a comma-separated string, or all-linear"}


def _kind(name: str) -> str:
    if name in ("eval_fraction",):
        return "float"
    if name in ("early_stopping_patience", "save_total_limit"):
        return "int"
    if name == "target_modules":
        return "targets"
    default = FIELDS[name].default
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "float"
    return "str"


def _short(value) -> str:
    """A value for an error message, cut short (a YAML value can be large)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _coerce(name: str, value):
    if name == "format":
        return Format(value)
    kind = _kind(name)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.strip().lower() in ("1", "true", "yes", "on")
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ValueError(value)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise TypeError(value)
        if isinstance(value, float):
            if not value.is_integer():  # 4.7 is not a rank; int() would quietly make it 4
                raise ValueError(value)
            return int(value)
        return int(value)
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise TypeError(value)
        return float(value)
    if kind == "targets":
        if isinstance(value, str):
            if value.strip() == "all-linear":
                return "all-linear"
            names = [m.strip() for m in value.split(",") if m.strip()]
        elif isinstance(value, (list, tuple)) and all(isinstance(m, str) for m in value):
            names = [m.strip() for m in value if m.strip()]
        else:
            raise TypeError(value)
        if not names:
            raise ValueError(value)
        return names
    # str settings: a path or a name; a number (`data: 2024`) is a name, a list or a mapping is not
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TypeError(value)
    return str(value)


def validate(cfg: TrainConfig) -> list[str]:
    nul = _nul_problems(cfg)
    if nul:  # the path checks below would raise on a NUL rather than report it
        return nul
    return (_path_problems(cfg) + _finite_problems(cfg) + _eval_problems(cfg) + _range_problems(cfg)
            + _choice_problems(cfg) + _early_stopping_problems(cfg))


def _nul_problems(cfg: TrainConfig) -> list[str]:
    p = []
    for name in ("base", "data", "out", "eval_data"):
        if "\0" in (getattr(cfg, name) or ""):  # no file name holds one; the OS would refuse the path
            p.append(f"{name} {getattr(cfg, name)!r}: contains a NUL character; give the path as it is")
    return p


def _path_problems(cfg: TrainConfig) -> list[str]:
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
        problem = out_folder_problem(cfg.out, cfg.base, cfg.force)
        if problem:
            p.append(problem)
    return p


def _finite_problems(cfg: TrainConfig) -> list[str]:
    p = []
    for name in ("learning_rate", "lora_dropout", "warmup_ratio", "epochs", "weight_decay", "max_grad_norm",
                 "eval_fraction"):
        v = getattr(cfg, name)
        if isinstance(v, float) and not math.isfinite(v):
            p.append(f"{name} {v}: must be a finite number")
    return p


def _eval_problems(cfg: TrainConfig) -> list[str]:
    p = []
    if cfg.eval_data and cfg.eval_fraction:
        p.append("eval_data and eval_fraction: give one or the other")
    if cfg.eval_data and not Path(cfg.eval_data).expanduser().exists():
        p.append(f"--eval-data {cfg.eval_data}: no such file")
    if cfg.eval_fraction is not None and math.isfinite(cfg.eval_fraction) and not 0 < cfg.eval_fraction < 1:
        p.append(f"eval_fraction {cfg.eval_fraction}: must be between 0 and 1 (exclusive), e.g. 0.1")
    return p


def _range_problems(cfg: TrainConfig) -> list[str]:
    # A non-finite value was reported by _finite_problems; comparing it again would add a second, confusing line.
    p = []
    for name in ("r", "lora_alpha", "batch_size", "gradient_accumulation", "max_seq_length", "eval_steps",
                 "save_steps", "logging_steps", "overfit_patience"):
        if getattr(cfg, name) < 1:
            p.append(f"{name} {getattr(cfg, name)}: must be >= 1")
    if cfg.save_total_limit is not None and cfg.save_total_limit < 1:
        p.append(f"save_total_limit {cfg.save_total_limit}: must be >= 1 (or leave it out to keep every checkpoint)")
    if math.isfinite(cfg.lora_dropout) and not 0 <= cfg.lora_dropout < 1:
        p.append(f"lora_dropout {cfg.lora_dropout}: must be in [0, 1)")
    if math.isfinite(cfg.learning_rate) and cfg.learning_rate <= 0:
        p.append(f"learning_rate {cfg.learning_rate}: must be > 0")
    if math.isfinite(cfg.warmup_ratio) and not 0 <= cfg.warmup_ratio < 1:
        p.append(f"warmup_ratio {cfg.warmup_ratio}: must be in [0, 1)")
    if math.isfinite(cfg.weight_decay) and cfg.weight_decay < 0:
        p.append(f"weight_decay {cfg.weight_decay}: must be >= 0")
    if math.isfinite(cfg.max_grad_norm) and cfg.max_grad_norm < 0:
        p.append(f"max_grad_norm {cfg.max_grad_norm}: must be >= 0 (0: no clipping)")
    if math.isfinite(cfg.epochs) and cfg.epochs < 0:
        p.append(f"epochs {cfg.epochs}: must be > 0")
    elif cfg.epochs == 0 and cfg.max_steps <= 0:
        p.append("epochs 0: must be > 0 (or give --max-steps N)")
    if not 0 <= cfg.seed < 2**32:
        p.append(f"seed {cfg.seed}: must be between 0 and 4294967295")
    return p


def _choice_problems(cfg: TrainConfig) -> list[str]:
    p = []
    if cfg.lr_scheduler not in _SCHEDULERS:
        p.append(f"lr_scheduler '{cfg.lr_scheduler}': expected one of {', '.join(sorted(_SCHEDULERS))}")
    if cfg.precision not in ("auto", "bf16", "fp16", "fp32"):
        p.append(f"precision '{cfg.precision}': expected auto, bf16, fp16 or fp32")
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", cfg.device):
        p.append(f"device '{cfg.device}': expected auto, cpu, cuda, cuda:N or mps")
    return p


def _early_stopping_problems(cfg: TrainConfig) -> list[str]:
    p = []
    if cfg.early_stopping_patience is not None and cfg.early_stopping_patience < 1:
        p.append(f"early_stopping_patience {cfg.early_stopping_patience}: must be >= 1")
    if cfg.early_stopping_patience and not (cfg.eval_data or cfg.eval_fraction):
        p.append("early_stopping_patience: needs evaluation data (--eval-data or --eval-fraction)")
    return p
