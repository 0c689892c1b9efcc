"""The run directory: run.json (schema `harness.run/1`) and samples/<arm>/<task>.jsonl.

Everything is written to a temporary name in the same folder and renamed, so a reader never sees half a file, and
run.json is written last: a directory without run.json is an unfinished run.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

SCHEMA = "harness.run/1"
RUN_FILE = "run.json"
SAMPLES_DIR = "samples"


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "item") and callable(x.item) and getattr(x, "ndim", 0) == 0:
        x = x.item()  # numpy / torch scalars
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return str(x)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file 0600 whatever the umask; the result must be readable as any file the user writes.
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(_jsonable(obj), indent=2, ensure_ascii=False) + "\n")


def write_jsonl(path: Path, rows: list[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(_jsonable(r), ensure_ascii=False) + "\n" for r in rows))


def samples_path(run_dir: Path, arm: str, task: str) -> Path:
    return run_dir / SAMPLES_DIR / arm / f"{task}.jsonl"


def read_samples(run_dir: Path, arm: str, task: str) -> list[dict]:
    with open(samples_path(run_dir, arm, task), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_run(run_dir: Path) -> dict:
    from harness.errors import HarnessError

    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise HarnessError(f"{run_dir}: no {RUN_FILE}; the run is missing or did not finish (rerun `harness run` to resume it)")
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise HarnessError(f"{path}: not valid JSON ({e})") from None
    problems = validate_run(run)
    if problems:
        raise HarnessError(f"{path}: does not follow {SCHEMA}: {problems[0]}" + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""))
    return run


# --- schema -------------------------------------------------------------------------------------------------------

_TOP = {
    "schema": str, "run_id": str, "created": str, "config": dict, "environment": dict, "base": dict, "arms": list,
    "tasks": dict, "scores": list, "comparisons": list, "timing": dict, "resources": dict,
}
_NUM = (int, float)
_SCORE = {"task": str, "metric": str, "arm": str, "value": _NUM, "stderr": (*_NUM, type(None)),
          "ci95": (list, type(None)), "n": (int, type(None)), "higher_is_better": (bool, type(None))}
_COMPARISON = {"task": str, "metric": str, "arm": str, "vs": str, "delta": _NUM, "ci95": (list, type(None)),
               "p_value": (*_NUM, type(None)), "test": str}
_BASE = {"name": str, "source": str, "fingerprint": str, "dtype": str, "quantization": str}


def _check_fields(obj: Any, spec: dict, where: str) -> list[str]:
    if not isinstance(obj, dict):
        return [f"{where}: expected an object"]
    out = []
    for k, typ in spec.items():
        if k not in obj:
            out.append(f"{where}.{k}: missing")
        elif not isinstance(obj[k], typ) or (typ is _NUM and isinstance(obj[k], bool)):
            out.append(f"{where}.{k}: expected {typ}, got {type(obj[k]).__name__}")
    return out


def validate_run(run: Any) -> list[str]:
    """Every way `run` departs from the schema (empty list: valid)."""
    if not isinstance(run, dict):
        return ["run.json: expected an object"]
    if run.get("schema") != SCHEMA:
        return [f"schema: expected '{SCHEMA}', got {run.get('schema')!r}"]
    problems = _check_fields(run, _TOP, "run")
    if problems:
        return problems
    problems += _check_fields(run["base"], _BASE, "base")
    arm_names = []
    for i, arm in enumerate(run["arms"]):
        problems += _check_fields(arm, {"name": str}, f"arms[{i}]")
        if isinstance(arm, dict):
            arm_names.append(arm.get("name"))
            ad = arm.get("adapter", "missing")
            if ad == "missing":
                problems.append(f"arms[{i}].adapter: missing (null for the base arm)")
            elif ad is not None:
                problems += _check_fields(ad, {"path": str, "fingerprint": str, "peft": dict}, f"arms[{i}].adapter")
    if "base" not in arm_names:
        problems.append("arms: no arm named 'base'")
    if len(set(arm_names)) != len(arm_names):
        problems.append("arms: duplicate arm names")
    for name, t in run["tasks"].items():
        problems += _check_fields(t, {"version": (str, *_NUM, type(None)), "n_docs": int, "config_hash": str}, f"tasks.{name}")
    for i, s in enumerate(run["scores"]):
        problems += _check_fields(s, _SCORE, f"scores[{i}]")
        if isinstance(s, dict):
            if s.get("arm") not in arm_names:
                problems.append(f"scores[{i}].arm: '{s.get('arm')}' is not an arm")
            if s.get("task") not in run["tasks"]:
                problems.append(f"scores[{i}].task: '{s.get('task')}' is not in tasks")
            ci = s.get("ci95")
            if isinstance(ci, list) and (len(ci) != 2 or not all(isinstance(v, _NUM) for v in ci)):
                problems.append(f"scores[{i}].ci95: expected [lo, hi]")
    for i, c in enumerate(run["comparisons"]):
        problems += _check_fields(c, _COMPARISON, f"comparisons[{i}]")
    problems += _check_fields(run["timing"], {"load_s": _NUM, "arms": dict}, "timing")
    problems += _check_fields(run["resources"], {"peak_rss_bytes": int, "peak_gpu_bytes": (int, type(None))}, "resources")
    return problems
