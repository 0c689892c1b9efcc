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

from harness.core.arms import BASE_ARM
from harness.core.errors import HarnessError

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
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and not e.filename:
            # A full disk or a vanished folder: the error names the file it was writing (write() does not).
            raise OSError(e.errno, e.strerror or str(e), str(path)) from None
        raise


def write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(_jsonable(obj), indent=2, ensure_ascii=False) + "\n")


def write_jsonl(path: Path, rows: list[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(_jsonable(r), ensure_ascii=False) + "\n" for r in rows))


def samples_path(run_dir: Path, arm: str, task: str) -> Path:
    return run_dir / SAMPLES_DIR / arm / f"{task}.jsonl"


_RERUN = ("the run's samples are damaged (an interrupted copy, or an edit?); restore the file, or write the run again "
          "with the same `harness run` command and --force (answers come from the response cache)")


def read_samples_file(path: Path) -> list[dict]:
    """One samples/<arm>/<task>.jsonl, every line checked: HarnessError naming the file and line otherwise."""
    path = Path(path)
    if not path.is_file():
        kind = "a folder" if path.is_dir() else ("missing" if not path.exists() else "not a regular file")
        raise HarnessError(f"{path}: is {kind}, where the run's samples should be a .jsonl file; {_RERUN}")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise HarnessError(f"{path}: cannot be read ({e.strerror or e}); check its permissions") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise HarnessError(f"{path}: line {line}: not UTF-8 text; {_RERUN}") from None
    lines = text.split("\n")
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as e:
            last = n == len(lines)  # no newline after it: the writer stopped mid-line
            what = "cut off mid-line" if last else f"not valid JSON ({getattr(e, 'msg', e)})"
            raise HarnessError(f"{path}: line {n}: {what}; {_RERUN}") from None
        if not isinstance(row, dict):
            raise HarnessError(f"{path}: line {n}: expected one JSON object per line, got {type(row).__name__}; {_RERUN}")
        if not isinstance(row.get("doc_id"), (int, str)) or isinstance(row.get("doc_id"), bool):
            raise HarnessError(f"{path}: line {n}: the sample has no 'doc_id' (a number or a string); {_RERUN}")
        if not isinstance(row.get("metrics", {}), dict):
            raise HarnessError(f"{path}: line {n}: the sample's 'metrics' is not an object; {_RERUN}")
        rows.append(row)
    return rows


def read_samples(run_dir: Path, arm: str, task: str) -> list[dict]:
    """One samples file, every line checked (a file cut mid-line names the file and line: exit 2, not a bug)."""
    return read_samples_file(samples_path(run_dir, arm, task))


def load_run(run_dir: Path) -> dict:
    from harness.core.errors import HarnessError

    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise HarnessError(f"{run_dir}: no {RUN_FILE}; the run is missing or did not finish (rerun `harness run` to resume it)")
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise HarnessError(f"{path}: not valid JSON ({e})") from None
    problems = validate_run(run)
    if problems:
        raise HarnessError(f"{path}: does not follow {SCHEMA}: {problems[0]}" + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "")
                           + "; it was edited or written by another tool: restore it, or write the run again with the "
                             "same `harness run` command and --force")
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


_JSON_NAMES = {dict: "an object", list: "a list", str: "a string", int: "a whole number", float: "a number",
               bool: "true or false", type(None): "null"}


def _json_type(typ) -> str:
    """A Python type (or tuple of them) as the JSON reader of run.json would say it."""
    if isinstance(typ, tuple):
        names = list(dict.fromkeys("a number" if t in (int, float) and float in typ else _JSON_NAMES.get(t, t.__name__)
                                   for t in typ))
        return " or ".join(names)
    return _JSON_NAMES.get(typ, typ.__name__)


# Fields added after schema harness.run/1 was first written: checked when present, so older runs stay valid.
_COUNT = (int, type(None))
_TASK_OPTIONAL = {"num_fewshot": _COUNT, "dropped": (dict, type(None)), "stopped": dict}
_TIMING_OPTIONAL = {"requests": int, "truncated": _COUNT, "max_length": _COUNT}


def _check_optional(obj: Any, spec: dict, where: str) -> list[str]:
    if not isinstance(obj, dict):
        return [f"{where}: expected an object"]
    out = []
    for k, typ in spec.items():
        if k in obj and (not isinstance(obj[k], typ) or isinstance(obj[k], bool)):
            out.append(f"{where}.{k}: expected {_json_type(typ)}, got {_json_type(type(obj[k]))}")
    return out


def _check_fields(obj: Any, spec: dict, where: str) -> list[str]:
    if not isinstance(obj, dict):
        return [f"{where}: expected an object (with keys {', '.join(spec)}), got {_json_type(type(obj))}"]
    out = []
    for k, typ in spec.items():
        if k not in obj:
            out.append(f"{where}.{k}: missing (the required key '{k}' is not there)")
        elif not isinstance(obj[k], typ) or (typ is _NUM and isinstance(obj[k], bool)):
            out.append(f"{where}.{k}: expected {_json_type(typ)}, got {_json_type(type(obj[k]))}")
    return out


def validate_run(run: Any) -> list[str]:
    """Every way `run` departs from the schema (empty list: valid)."""
    if not isinstance(run, dict):
        return [f"expected an object (with keys {', '.join(_TOP)}), got {_json_type(type(run))}"]
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
    if BASE_ARM not in arm_names:
        problems.append("arms: no arm named 'base'")
    if len(set(arm_names)) != len(arm_names):
        problems.append("arms: duplicate arm names")
    for name, t in run["tasks"].items():
        problems += _check_fields(t, {"version": (str, *_NUM, type(None)), "n_docs": int, "config_hash": str}, f"tasks.{name}")
        problems += _check_optional(t, _TASK_OPTIONAL, f"tasks.{name}")
        dropped = t.get("dropped") if isinstance(t, dict) else None
        if dropped is not None and not (isinstance(dropped, dict) and all(
                isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) for k, v in dropped.items())):
            problems.append(f"tasks.{name}.dropped: expected {{reason: count}}")
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
    for arm, per_task in (run["timing"].get("arms") or {}).items() if isinstance(run["timing"], dict) else ():
        for task, entry in (per_task or {}).items() if isinstance(per_task, dict) else ():
            problems += _check_optional(entry, _TIMING_OPTIONAL, f"timing.arms.{arm}.{task}")
    problems += _check_fields(run["resources"], {"peak_rss_bytes": int, "peak_gpu_bytes": (int, type(None))}, "resources")
    return problems
