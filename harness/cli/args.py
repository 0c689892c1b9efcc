"""Argument types and flags shared by the commands: each path made absolute once, where it enters."""

from __future__ import annotations

import argparse
import os

from harness.core.paths import user_path


def csv_list(s: str) -> list[str]:
    return [t.strip() for t in s.split(",") if t.strip()]


def pair(s: str) -> tuple[str, str]:
    key, sep, value = s.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {s!r}")
    return key.strip(), value.strip()


def str_path(s: str) -> str:
    return str(user_path(s))


def base_arg(s: str) -> str:
    """A base model folder made absolute as typed (run.json records it); an alias or hub id passes unchanged."""
    return str(user_path(s)) if s.strip() and os.path.exists(os.path.expanduser(s)) else s


def data_pair(s: str) -> tuple[str, str]:
    key, value = pair(s)
    return key, str(user_path(value))


def adapter_arg(s: str) -> str:
    """[NAME=]PATH with PATH made absolute as typed; a registered adapter's name passes through unchanged."""
    from adapters_registry.entries import is_path_like
    from harness.models.adapters import parse_adapter_arg

    name, raw = parse_adapter_arg(s)
    if not raw.strip() or not is_path_like(raw):
        return s  # a registry name, or empty (refused with the adapter checks, in one list with every other problem)
    path = str(user_path(raw))
    return f"{name}={path}" if name is not None else path


def meta_value(v: str):
    """A --task-meta value as JSON when it parses (512 -> int), else the text as typed."""
    import json

    try:
        return json.loads(v)
    except ValueError:
        return v


def registry_flags(p, what: str) -> None:
    p.add_argument("--registry", type=user_path, help="registry file (default $HARNESS_REGISTRY or ~/.local/share/harness/registry.sqlite)")
    p.add_argument("--no-registry", action="store_true", help=f"do not {what} in the registry")
