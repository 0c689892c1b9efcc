"""Per-arm response cache.

lm-eval's `use_cache` keys a response on the request alone (context + continuation or generation kwargs), not on
the model. One cache file shared by two arms would hand the base model's answers to the adapter. We give every arm
its own file, named by a key over everything that changes the model's answers: the base weights, the adapter's
weights, dtype and quantisation. Generation settings and the prompt are part of lm-eval's request key already.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.core.fingerprint import fingerprint_text


def arm_key(base_fingerprint: str, adapter_fingerprint: str | None, dtype: str, quantization: str) -> str:
    return fingerprint_text("arm/1", base_fingerprint, adapter_fingerprint or "no-adapter", dtype, quantization).removeprefix("sha256:")


def cache_prefix(cache_dir: Path, key: str, description: dict) -> str:
    """The path prefix lm-eval's CachingLM appends `_rank<N>.db` to; a JSON note beside it says whose answers it holds."""
    folder = Path(cache_dir) / "responses"
    folder.mkdir(parents=True, exist_ok=True)
    note = folder / f"{key}.json"
    if not note.exists():
        note.write_text(json.dumps(description, indent=2) + "\n")
    return str(folder / key)
