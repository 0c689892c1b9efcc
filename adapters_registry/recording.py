"""Recording into the registry after the work is done: a finished run or a trained adapter is never lost to it.

The registry is a convenience over results that already sit on disk. When its file is locked by another process
for longer than a short wait, or cannot be written, the command still succeeds and says how to record the result
later (`harness registry record RUN_DIR`, `harness registry add ADAPTER_DIR`).
"""

from __future__ import annotations

import os
import shlex
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

from harness.core.errors import HarnessError, first_line

DEFAULT_WAIT_S = 10.0


def wait_s() -> float:
    """How long a finished command waits for a locked registry: $HARNESS_REGISTRY_WAIT seconds, default 10."""
    try:
        return max(0.0, float(os.environ.get("HARNESS_REGISTRY_WAIT", DEFAULT_WAIT_S)))
    except ValueError:
        return DEFAULT_WAIT_S


def record_or_warn(path: Path | str | None, action: Callable, what: str, later: str):
    """`action(registry)` on the registry at `path`; on a locked, unwritable or unreadable registry, one warning line
    naming the file, the reason and the command that records `what` later, and None."""
    from adapters_registry.store import Registry, default_path

    try:
        reg = Registry(path, timeout=wait_s())
        try:
            return action(reg)
        finally:
            reg.close()
    except (HarnessError, sqlite3.Error, OSError) as e:
        reason = first_line(e)
        where = Path(path).expanduser() if path else default_path()
        if path:  # the command must write where this one tried to, not to the default registry
            later = later.replace("harness registry ", f"harness registry --registry {shlex.quote(str(where))} ", 1)
        print(f"warning: {what} is complete, but the registry {where} could not record it ({reason}); "
              f"record it later with `{later}`", file=sys.stderr)
        return None


def record_run_dir(reg, run_dir: Path) -> dict:
    """Record a finished run directory; arms whose adapter folder is registered are linked to that name."""
    from harness.core import results

    run = results.load_run(run_dir)
    by_path = {e["path"]: e["name"] for e in reg.adapters()}
    names = {a["name"]: by_path[a["adapter"]["path"]] for a in run["arms"]
             if a.get("adapter") and a["adapter"].get("path") in by_path}
    reg.record_run(run, str(Path(run_dir).resolve()), names)
    return run
