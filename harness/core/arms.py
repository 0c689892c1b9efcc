"""Arms: the base model, or the base with one adapter. The base arm is always first in run.json's `arms`."""

from __future__ import annotations

BASE_ARM = "base"


def arm_names(run: dict) -> list[str]:
    """Every arm of a run, the base first."""
    return [a["name"] for a in run["arms"]]


def adapter_arms(run: dict) -> list[str]:
    """The arms that carry an adapter, in run order (every arm but the base)."""
    return [a["name"] for a in run["arms"] if a["name"] != BASE_ARM]


def is_base(arm: str) -> bool:
    return arm == BASE_ARM
