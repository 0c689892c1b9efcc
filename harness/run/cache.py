"""Per-arm response cache.

lm-eval's `use_cache` keys a response on the request alone (context + continuation or generation kwargs), not on
the model. One cache file shared by two arms would hand the base model's answers to the adapter. We give every arm
its own file, named by a key over everything that changes the model's answers: the base weights, the adapter's
weights, dtype and quantisation, the engine (its cache_tag) and the task's own definition. Generation settings and
the prompt are part of lm-eval's request key already.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from harness.core.fingerprint import fingerprint_text

if TYPE_CHECKING:
    from harness.engines.base import Engine
    from harness.models.adapters import AdapterSpec
    from harness.run.config import RunConfig


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


def arm_task_prefix(engine: Engine, cfg: RunConfig, task_manager, task: str, spec: AdapterSpec | None) -> str | None:
    """Where lm-eval keeps this arm's answers for this task: a key over the weights, dtype, quantization, the engine
    (HF and vLLM answers, and two vLLM versions', are never mixed) and the task's own definition."""
    if not cfg.use_cache:
        return None
    from harness.run.taskset import task_digest

    base = engine.base
    key = arm_key(base.fingerprint, spec.fingerprint if spec else None, base.dtype, base.quantization)
    key = f"{engine.cache_tag}-{key[:40]}-{task_digest(task, task_manager, task_manager.metadata or {})[:12]}"
    return cache_prefix(cfg.cache_dir, key, {
        "task": task,
        "base": base.ref.source, "base_fingerprint": base.fingerprint, "adapter": str(spec.path) if spec else None,
        "adapter_fingerprint": spec.fingerprint if spec else None, "dtype": base.dtype, "quantization": base.quantization,
        "engine": engine.cache_tag,
    })
