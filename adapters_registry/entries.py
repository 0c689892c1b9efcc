"""Registry entries built from adapter folders (and, when `harness train` made them, its summary)."""

from __future__ import annotations

import json
from pathlib import Path

from harness.models.adapters import fingerprint_adapter, inspect_adapter


def adapter_entry(path: str, name: str | None = None, tags: list[str] | None = None, allow_pickle: bool = False) -> dict:
    spec = inspect_adapter(str(path), allow_pickle=allow_pickle, flag="registry add")  # HarnessError when it is not an adapter
    entry = {
        "name": name or spec.name, "path": str(spec.path), "fingerprint": fingerprint_adapter(spec),
        "base_model": spec.config.get("base_model_name_or_path"), "peft": spec.peft, "tags": sorted(set(tags or [])),
    }
    summary_file = spec.path / "train_summary.json"
    if summary_file.is_file():
        try:
            summary = json.loads(summary_file.read_text())
        except ValueError:
            summary = None
        if isinstance(summary, dict):
            entry["train_summary"] = summary
            entry["train_config"] = summary.get("config")
            entry["data_fingerprint"] = (summary.get("data") or {}).get("fingerprint")
            entry["base_fingerprint"] = (summary.get("base") or {}).get("fingerprint")
    return entry


def is_path_like(arg: str) -> bool:
    return Path(arg).exists() or "/" in arg or arg.startswith((".", "~"))
