"""sha256 fingerprints of weight files, so a result names exactly the weights that produced it."""

from __future__ import annotations

import hashlib
from pathlib import Path

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def fingerprint_files(files: list[Path], root: Path) -> str:
    """One digest over (relative name, file digest) pairs, in name order: renaming or editing any file changes it."""
    h = hashlib.sha256()
    for f in sorted(files, key=lambda p: p.relative_to(root).as_posix()):
        h.update(f.relative_to(root).as_posix().encode())
        h.update(b"\0")
        h.update(sha256_file(f).encode())
        h.update(b"\n")
    return "sha256:" + h.hexdigest()


def weight_files(directory: Path) -> list[Path]:
    return [p for p in sorted(directory.rglob("*")) if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES)]


def fingerprint_text(*parts: str) -> str:
    return "sha256:" + hashlib.sha256("\0".join(parts).encode()).hexdigest()


def fingerprint_dir_cached(directory: Path, memo_file: Path) -> str:
    """fingerprint_dir, remembering each file's digest by (path, size, mtime): a 6 GB base is hashed once, not per run."""
    import json
    import os

    try:
        memo = json.loads(memo_file.read_text())
    except (OSError, ValueError):
        memo = {}
    files = weight_files(directory) or [p for p in sorted(directory.rglob("*")) if p.is_file()]
    h = hashlib.sha256()
    changed = False
    for f in sorted(files, key=lambda p: p.relative_to(directory).as_posix()):
        st = f.stat()
        key = f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}"
        if key not in memo:
            memo[key] = sha256_file(f)
            changed = True
        h.update(f.relative_to(directory).as_posix().encode() + b"\0" + memo[key].encode() + b"\n")
    if changed:
        try:
            memo_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = memo_file.with_name(f".{memo_file.name}.{os.getpid()}")
            tmp.write_text(json.dumps(memo))
            os.replace(tmp, memo_file)
        except OSError:
            pass  # the memo is an optimisation; the digest above is already computed
    return "sha256:" + h.hexdigest()
