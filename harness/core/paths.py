"""Paths as users type them (user_path: relative, ~, symlinks), the rules for --out folders, inputs that are never
written to, and the cache folder. Checks that an output location can be written run before any work, so a bad path
costs milliseconds.

Permission bits alone lie (root ignores them, network filesystems differ), so the check writes a probe file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from harness.core.errors import HarnessError


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


def user_path(raw: str) -> Path:
    """A path argument as typed, made absolute once where it enters (relative to the current folder, `~` expanded,
    `..` folded), so that no later step can pair a relative path with a resolved one. Symlinks are kept: the user's
    name for a folder is what they see in messages; containment checks compare resolved paths (`same_or_inside`).
    An empty value is refused: in CI it is usually an unset variable (`--out $RUN_DIR`), and '' would mean the
    current folder."""
    import argparse
    import os

    if not raw.strip():
        raise argparse.ArgumentTypeError("an empty path (an unset variable?); give a file or folder")
    return Path(os.path.abspath(os.path.expanduser(raw)))


def same_or_inside(path: Path, folder: Path) -> bool:
    """Whether `path` is `folder` or lies inside it, after following symlinks on both sides."""
    try:
        p, f = path.resolve(), folder.resolve()
    except (OSError, RuntimeError):  # a symlink loop: compare as written
        p, f = path, folder
    return p == f or f in p.parents


# What a run directory may hold besides hidden temporary files: `harness run` writes run.json and samples/, `harness
# report` the rest, `harness gate` its --json/--junit where the user points them.
RUN_DIR_ENTRIES = {"run.json", "samples", "report.md", "report.html", "tables.tex", "tables-full.tex", "plots", "cards",
                   "gate.json", "gate.xml"}


def _own_temporary(name: str) -> bool:
    """The hidden files our writers leave only while they work (results.atomic_write_text, the write probe)."""
    return name.startswith(".") and (name.endswith(".tmp") or name.startswith(".harness-probe-"))


def remove_entries(folder: Path, names) -> None:
    """Remove the named files and folders of `folder` that a command wrote there before, and nothing else."""
    import shutil

    for name in names:
        target = folder / name
        shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(missing_ok=True)


def foreign_entries(folder: Path, owned: set[str]) -> list[str]:
    """Names in `folder` that the command writing there would not have written. Hidden files count (a home folder
    or a repository holds little else: `--out ~` must not pass as empty), except our own temporary ones."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.name not in owned and not _own_temporary(p.name))


def out_problem(out: Path, flag: str, *, owned: set[str], force: bool, protected: dict[str, Path],
                what: str = "a run") -> str | None:
    """Why a command must not write its outputs into `out`, or None. Never the current folder (an unset variable
    or a slip of `.`), never inside an input (`protected`: label -> folder, e.g. the base model or an adapter),
    and not a folder of other files unless --force."""
    import os

    if same_or_inside(Path(os.getcwd()), out):
        return (f"{flag} {out}: is the current folder (or holds it); give a new folder for {what}, "
                f"e.g. {flag} runs/first")
    for label, folder in protected.items():
        if same_or_inside(out, folder):
            return f"{flag} {out}: is inside {label} {folder}, an input that is never written to; choose another folder"
    foreign = foreign_entries(out, owned)
    if foreign and not force:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        return (f"{flag} {out}: holds files that are not {what} ({shown}); choose a new or empty folder, or pass "
                "--force to write beside them")
    return dir_problem(out, flag)


def run_inputs(run: dict) -> dict[str, Path]:
    """The folders a run read its weights from (label -> folder), from its run.json: the base model when it was a
    local folder, and every adapter. Outputs derived from the run (gate files, reports, sheets) never go inside them."""
    inputs = {}
    source = (run.get("base") or {}).get("source")
    if isinstance(source, str) and Path(source).is_absolute() and Path(source).is_dir():
        inputs["the base model folder"] = Path(source)
    for arm in run.get("arms") or []:
        path = (arm.get("adapter") or {}).get("path") if isinstance(arm, dict) else None
        if isinstance(path, str) and Path(path).is_dir():
            inputs[f"adapter '{arm.get('name')}'"] = Path(path)
    return inputs


def refuse_onto(path: Path, flag: str, inputs: list[Path]) -> None:
    """HarnessError when `path` (a file about to be written) is one of the files this command reads, or lies inside a
    run directory it reads (its run.json, its samples)."""
    for f in inputs:
        if same_or_inside(path, f):
            raise HarnessError(f"{flag} {path}: is {f}, an input of this gate (it would be overwritten); write the "
                               "output elsewhere")


def refuse_inside_inputs(path: Path, flag: str, run: dict) -> None:
    """HarnessError when `path` (a file or folder about to be written) lies inside a folder the run read weights from."""
    for label, folder in run_inputs(run).items():
        if same_or_inside(path, folder):
            raise HarnessError(f"{flag} {path}: is inside {label} {folder}, an input that is never written to; "
                               "choose another place")


def default_cache_dir() -> Path:
    env = os.environ.get("HARNESS_CACHE_DIR")
    if env:
        return Path(os.path.abspath(os.path.expanduser(env)))  # recorded in run.json: absolute, like every path
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "harness"
