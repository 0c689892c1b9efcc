"""What run.json records besides the scores: versions, device, commit, kernels, resources: so that two runs of the
same weights can be reconciled."""

from __future__ import annotations

import hashlib
import json
import platform
import resource
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path

from harness.core import results
from harness.core.arms import BASE_ARM


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for dist, key in [("torch", "torch"), ("transformers", "transformers"), ("peft", "peft"), ("lm_eval", "lm_eval"),
                      ("bitsandbytes", "bitsandbytes"), ("adapter-harness", "harness")]:
        try:
            out[key] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            out[key] = None
    return out


def _git_commit() -> str | None:
    import subprocess

    try:
        r = subprocess.run(["git", "-C", str(Path(__file__).parent), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() or None if r.returncode == 0 else None


def _device_description(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return f"cpu ({platform.machine()}, {__import__('os').cpu_count()} cores)"


def run_document(cfg, base, specs, task_info, scores, timing) -> dict:
    import torch

    created = datetime.now(timezone.utc)
    conf = cfg.to_json()
    digest = hashlib.sha256(json.dumps(conf, sort_keys=True).encode()).hexdigest()[:8]
    peak_gpu = torch.cuda.max_memory_allocated() if base.device.startswith("cuda") else None
    # The CPU kernel set and thread count change floating-point sums, hence the last digits of a score (and, through
    # training, more): recorded so that two runs of the same weights can be reconciled.
    env = _versions() | {"device": _device_description(base.device), "git": _git_commit(),
                         "cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads()}
    return {
        "schema": results.SCHEMA,
        "run_id": f"{created:%Y%m%d-%H%M%S}-{digest}",
        "created": created.isoformat(timespec="seconds"),
        "config": conf,
        "environment": env,
        "base": {"name": base.ref.name, "source": base.ref.source, "fingerprint": base.fingerprint,
                 "dtype": base.dtype, "quantization": base.quantization},
        "arms": [{"name": BASE_ARM, "adapter": None}] + [
            {"name": s.name, "adapter": {"path": str(s.path), "fingerprint": s.fingerprint, "peft": s.peft,
                                         **({"training": s.training} if s.training else {}),
                                         **({"checkpoint": s.checkpoint} if s.checkpoint else {})}} for s in specs
        ],
        "tasks": task_info,
        "scores": scores,
        "comparisons": [],
        "timing": {"load_s": round(base.load_s, 3), "arms": timing},
        "resources": {"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                      "peak_gpu_bytes": peak_gpu},
    }
