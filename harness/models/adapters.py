"""Adapter directories: what is in them, checked before any model loads (no torch here).

The shape check against the loaded base lives in models/loading.py; this module reads adapter_config.json and the
weight file's header only.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path

from harness.core.arms import BASE_ARM
from harness.core.errors import HarnessError
from harness.core.fingerprint import fingerprint_files
from harness.core.paths import user_path
from harness.models import checkpoints

SAFE_WEIGHTS = "adapter_model.safetensors"
PICKLE_WEIGHTS = "adapter_model.bin"
RESERVED_ARM_NAMES = {BASE_ARM}

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
    training: dict | None = None  # what `harness train` left in the folder (training_record), recorded in run.json
    checkpoint: dict | None = None  # a checkpoint of a sweep: {step, loss, eval_loss} (harness.models.checkpoints)

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
    # The arm is named after the folder as typed (`out/` -> out, even when out is a symlink to out-2026-12-01);
    # everything read from it goes through the resolved folder, so the weights file and the folder always agree.
    if not raw_path.strip():
        raise HarnessError(f"{flag} {arg!r}: an empty path (an unset variable?); give the folder that holds "
                           "adapter_config.json")
    typed = user_path(raw_path)
    path = typed.resolve()
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
    if not isinstance(config, dict):
        raise HarnessError(f"{cfg_file}: expected a JSON object of peft settings, got a {type(config).__name__}; "
                           "re-save the adapter with peft")
    if "peft_type" not in config:
        raise HarnessError(f"{cfg_file}: field 'peft_type' is missing; re-save the adapter with peft")
    problem = config_problem(config)
    if problem:
        raise HarnessError(f"{cfg_file}: {problem}")
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
        # a garbage file fails here, in milliseconds, before the base model loads
        header, start = safetensors_header(weights)
        problem = rank_problem(config, {k: v["shape"] for k, v in header.items()})
        if problem:
            raise HarnessError(f"{flag} {arg}: {problem}")
        warning = check_weight_values(weights, header, start)
        if warning:
            print(f"warning: adapter {name or typed.name}: {warning}", file=sys.stderr)
    name = name or typed.name
    peft = {k: config[k] for k in _RECORDED_PEFT_FIELDS if k in config}
    if isinstance(peft.get("target_modules"), (set, tuple)):
        peft["target_modules"] = sorted(peft["target_modules"])
    step = checkpoints.step_of(typed)
    return AdapterSpec(name=name, path=path, config=config, weights=weights, peft=peft,
                       checkpoint=None if step is None else checkpoints.training_at(path, step))


def check_arm_names(specs: list[AdapterSpec]) -> list[str]:
    """Problems with the set of adapters of one run: two arms with one name, a reserved name, and adapter types that
    peft cannot hold in one model (LoRA with IA3, say)."""
    problems, seen = [], {}
    kinds = {s.config.get("peft_type") for s in specs}
    if len(kinds) > 1:
        listed = ", ".join(f"{s.name} ({s.config.get('peft_type')})" for s in specs)
        problems.append(f"--adapter: the adapters are of different peft types ({listed}); peft cannot attach them to "
                        "one model: evaluate each type in its own run (the same base and documents keep them comparable)")
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
    return {k: v["shape"] for k, v in safetensors_header(path)[0].items()}


# bytes per element of the safetensors dtypes
_DTYPE_SIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I64": 8, "I32": 4, "I16": 2,
               "I8": 1, "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1}


def safetensors_header(path: Path) -> tuple[dict[str, dict], int]:
    """The tensor entries of a .safetensors header ({name: {dtype, shape, data_offsets}}, metadata left out) and where
    the data starts; HarnessError when the header is garbage or a tensor's bytes lie outside the file (truncated)."""
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
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    data = size - 8 - n
    for k, v in tensors.items():
        shape, offsets, dtype = v["shape"], v.get("data_offsets"), v.get("dtype")
        if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape) or dtype not in _DTYPE_SIZE \
                or not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise HarnessError(f"{path}: corrupt safetensors header (tensor {k}: dtype {dtype!r}, shape {shape!r}, "
                               f"offsets {offsets!r}); re-save the adapter")
        if not 0 <= offsets[0] <= offsets[1] <= data:
            raise HarnessError(f"{path}: tensor {k} lies beyond the end of the file ({data} bytes of data): the file "
                               "is truncated; copy or save the adapter again")
        if offsets[1] - offsets[0] != math.prod(shape) * _DTYPE_SIZE[dtype]:
            raise HarnessError(f"{path}: tensor {k} has {offsets[1] - offsets[0]} bytes but its shape {shape} in "
                               f"{dtype} needs {math.prod(shape) * _DTYPE_SIZE[dtype]}; re-save the adapter")
    return tensors, 8 + n


# --- adapter_config.json and the weights, checked without the base model ----------------------------------------

# peft's adapter types (peft.utils.PeftType, up to peft 0.21): a name outside this list is a typo or a broken config
_PEFT_TYPES = {
    "PROMPT_TUNING", "MULTITASK_PROMPT_TUNING", "P_TUNING", "PREFIX_TUNING", "LORA", "ADALORA", "ADAMSS", "BOFT",
    "ADAPTION_PROMPT", "IA3", "BEFT", "LILY", "LOHA", "LOKR", "OFT", "POLY", "LN_TUNING", "VERA", "FROD", "PVERA",
    "FOURIERFT", "GLORA", "XLORA", "HRA", "VBLORA", "UNILORA", "CPT", "MISS", "RANDLORA", "ROAD", "TRAINABLE_TOKENS",
    "HIRA", "SHIRA", "C3A", "WAVEFT", "OSF", "DELORA", "GRALORA", "CARTRIDGE", "TINYLORA", "PSOFT", "PEANUT", "SHADOW",
    "SUPERTUNING", "DEFT", "BONE",
}
# types whose weights are lora_A / lora_B matrices; any other type holding them has a config that lies about them
_LORA_FAMILY = {"LORA", "ADALORA", "XLORA"}
_LORA_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.(?P<part>lora_A|lora_B|lora_embedding_A|lora_embedding_B)"
                       r"(?:\.[^.]+)?(?:\.weight)?$")


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _show(v) -> str:
    text = json.dumps(v)
    return text if len(text) <= 60 else text[:57] + "..."


def config_problem(config: dict) -> str | None:
    """What in adapter_config.json peft would choke on, or turn into a silently wrong adapter (None: fine)."""
    fix = "fix the value or re-save the adapter with peft"
    kind = config.get("peft_type")
    if not isinstance(kind, str) or kind not in _PEFT_TYPES:
        close = difflib.get_close_matches(str(kind).upper(), sorted(_PEFT_TYPES), n=1, cutoff=0.6)
        return (f"peft_type {_show(kind)} is not a peft adapter type" + (f" (did you mean {close[0]}?)" if close else "")
                + "; a LoRA adapter has \"peft_type\": \"LORA\"")
    targets = config.get("target_modules")
    if targets is not None and not isinstance(targets, str) and not (
            isinstance(targets, list) and targets and all(isinstance(t, str) and t for t in targets)):
        return (f"'target_modules' is {_show(targets)}; it must be a list of module names (e.g. [\"q_proj\", "
                f"\"v_proj\"]) or a regular expression; {fix}")
    if isinstance(targets, str):
        try:
            re.compile(targets)
        except re.error as e:
            return f"'target_modules' {_show(targets)} is not a valid regular expression ({e}); {fix}"
    if kind != "LORA":
        return None  # the other types' fields are peft's to check
    r = config.get("r", 8)  # peft's default when the field is left out
    if not isinstance(r, int) or isinstance(r, bool) or r < 1:
        return f"'r' is {_show(r)}; the LoRA rank must be a whole number >= 1; {fix}"
    alpha = config.get("lora_alpha", 8)
    if not _is_number(alpha) or not math.isfinite(alpha) or alpha <= 0:
        return f"'lora_alpha' is {_show(alpha)}; it must be a number > 0 (the update is scaled by lora_alpha / r); {fix}"
    dropout = config.get("lora_dropout", 0.0)
    if dropout is not None and (not _is_number(dropout) or not 0 <= dropout < 1):
        return f"'lora_dropout' is {_show(dropout)}; it must be a number in [0, 1); {fix}"
    saved = config.get("modules_to_save")
    if saved is not None and not (isinstance(saved, list) and all(isinstance(m, str) for m in saved)):
        return f"'modules_to_save' is {_show(saved)}; it must be a list of module names or null; {fix}"
    for f in ("rank_pattern", "alpha_pattern"):
        pattern = config.get(f)
        if pattern is not None and not (isinstance(pattern, dict) and all(_is_number(v) for v in pattern.values())):
            return f"'{f}' is {_show(pattern)}; it must map module names to numbers; {fix}"
        for key, v in (pattern or {}).items():
            try:
                re.compile(key)
            except re.error as e:
                return f"'{f}' key {_show(key)} is not a valid regular expression ({e}); {fix}"
            if f == "rank_pattern" and (not isinstance(v, int) or v < 1):
                return f"'rank_pattern' gives {_show(key)} the rank {_show(v)}; a rank must be a whole number >= 1; {fix}"
    for f in ("use_dora", "use_rslora"):
        if f in config and not isinstance(config[f], bool) and config[f] is not None:
            return f"'{f}' is {_show(config[f])}; it must be true or false; {fix}"
    return None


def _pattern_rank(config: dict, module: str) -> int:
    """The rank peft gives `module`: a rank_pattern entry whose key matches the end of its name, else r."""
    for key, rank in (config.get("rank_pattern") or {}).items():
        if re.match(rf"(.*\.)?({key})$", module):
            return rank
    return config.get("r", 8)


def rank_problem(config: dict, shapes: dict[str, list[int]]) -> str | None:
    """The weights' ranks against the config's r (and each other): peft builds layers of rank r and would fail, or
    load the wrong thing, when they differ. Also: a LORA adapter must hold LoRA weights."""
    kind = config.get("peft_type")
    if kind != "LORA":
        lora = [k for k, shape in shapes.items() if _LORA_KEY.match(k)]
        if lora and kind not in _LORA_FAMILY:
            return (f"adapter_config.json says peft_type {kind}, but the weights are LoRA matrices ({lora[0]}, ...); "
                    "the config does not belong to these weights: set \"peft_type\": \"LORA\" if it is a LoRA "
                    "adapter, or re-save the adapter with peft")
        return None
    found = 0
    for key, shape in shapes.items():
        m = _LORA_KEY.match(key)
        if not m or len(shape) != 2:
            continue
        found += 1
        rank = shape[0] if m["part"].endswith("A") else shape[1]
        want = _pattern_rank(config, m["module"])
        if rank != want:
            return (f"adapter_config.json says r={want} for {m['module']}, but its {m['part']} has rank {rank} "
                    f"(shape {shape}); the config does not belong to these weights: re-save the adapter with peft")
    if not found:
        return (f"{SAFE_WEIGHTS} holds no LoRA weights (no lora_A / lora_B tensors); is it the adapter's weight file? "
                "Re-save the adapter with model.save_pretrained(dir) on a PeftModel")
    return None


def check_weight_values(path: Path, header: dict[str, dict], start: int) -> str | None:
    """Refuse NaN or infinite LoRA weights, and an adapter whose lora_A and lora_B are all zero; return a warning when
    only lora_B is all zero (what peft initialises: an untrained adapter, identical to the base). Reads the tensors
    with numpy, no torch."""
    import numpy as np

    views = {"F64": np.float64, "F32": np.float32, "F16": np.uint16, "BF16": np.uint16}
    # float16 and bfloat16 are read as raw 16-bit words: exponent bits all ones = NaN or inf; no other bits = zero
    exponent = {"F16": 0x7C00, "BF16": 0x7F80}
    zero = {"A": True, "B": True}
    lora = 0
    mm = np.memmap(path, dtype=np.uint8, mode="r") if path.stat().st_size > start else None
    try:
        for key, v in header.items():
            m = _LORA_KEY.match(key)
            if not m or v["dtype"] not in views or mm is None:
                continue
            lora += 1
            lo, hi = v["data_offsets"]
            values = mm[start + lo:start + hi].view(views[v["dtype"]])
            if v["dtype"] in exponent:
                bad = bool(np.any((values & exponent[v["dtype"]]) == exponent[v["dtype"]]))
                is_zero = not np.any(values & 0x7FFF)
            else:
                bad = not bool(np.all(np.isfinite(values)))
                is_zero = not np.any(values)
            if bad:
                raise HarnessError(f"{path}: tensor {key} holds NaN or infinite values; the training diverged (lower "
                                   "the learning rate, or use fp32 / bf16 instead of fp16) or the file is damaged; "
                                   "this adapter cannot be evaluated")
            zero[m["part"][-1]] = zero[m["part"][-1]] and is_zero
    finally:
        del mm
    if not lora:
        return None
    if zero["A"] and zero["B"]:
        raise HarnessError(f"{path}: every lora_A and lora_B weight is zero, which no training or peft "
                           "initialisation produces; the file was not saved properly: re-save the adapter")
    if zero["B"]:
        return ("every lora_B weight is zero: the adapter is untrained (as peft initialises it) and its arm will "
                "score exactly as the base")
    return None


def training_record(folder: Path) -> dict | None:
    """What `harness train` wrote beside the weights, for run.json: its summary (train_summary.json) and its log
    (training_log.csv, numbers as numbers, empty cells left out). Reports read it from the run, never from the adapter
    folder, which may have moved or changed since. None when the folder holds neither (an adapter trained elsewhere)."""
    import csv

    record: dict = {}
    try:
        summary = json.loads((folder / "train_summary.json").read_text())
        if isinstance(summary, dict):
            record["summary"] = summary
    except (OSError, ValueError):
        pass
    try:
        with open(folder / "training_log.csv", newline="") as f:
            record["log"] = [{k: float(v) if k != "step" else int(float(v)) for k, v in row.items() if k and v}
                             for row in csv.DictReader(f)]
    except (OSError, ValueError):
        pass
    return record or None
