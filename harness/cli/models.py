"""`harness models`: the base-model aliases --base accepts (no torch)."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("models", help="list the base-model aliases --base accepts",
                       description="Short names accepted by --base, and the hub ids they stand for.")
    p.set_defaults(func=command)


def command(a) -> int:
    from harness.models.aliases import ALIASES

    width = max(len(n) for n in ALIASES)
    hub = max(len(x.hub_id) for x in ALIASES.values())
    for alias in ALIASES.values():
        print(f"{alias.name:<{width}}  {alias.hub_id:<{hub}}  {alias.note}")
    return 0
