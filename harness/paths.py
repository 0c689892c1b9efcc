"""Checks that an output location can be written, made before any work so a bad path costs milliseconds.

Permission bits alone lie (root ignores them, network filesystems differ), so the check writes a probe file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from harness.errors import HarnessError


def _probe(folder: Path) -> str | None:
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".harness-probe-"):
            pass
    except OSError as e:
        return e.strerror or str(e)
    return None


def dir_problem(path: Path, flag: str) -> str | None:
    """Why `path` cannot be (created and) written as a folder, or None."""
    if path.exists() and not path.is_dir():
        return f"{flag} {path}: is a file; give a folder"
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"{flag} {path}: {existing} is a file, so the folder cannot be created there"
    why = _probe(existing)
    return f"{flag} {path}: cannot write in {existing} ({why}); choose a writable folder" if why else None


def file_problem(path: Path, flag: str) -> str | None:
    """Why a file cannot be written at `path`, or None."""
    if path.is_dir():
        return f"{flag} {path}: is a folder; give a file path"
    problem = dir_problem(path.parent, flag)
    return problem.replace(f"{flag} {path.parent}:", f"{flag} {path}:", 1) if problem else None


def require_dir(path: Path, flag: str) -> None:
    problem = dir_problem(path, flag)
    if problem:
        raise HarnessError(problem)


def require_file(path: Path, flag: str) -> None:
    problem = file_problem(path, flag)
    if problem:
        raise HarnessError(problem)
