"""Errors raised at the boundary (user input, files, the environment).

The CLI prints them as one line and exits non-zero, without a traceback; anything else that escapes is a bug.
"""

from __future__ import annotations


class HarnessError(Exception):
    """A problem the user can fix. The message says what, where, and how to fix it."""

    exit_code = 2


class ConfigError(HarnessError):
    """Every problem found while validating a config, reported together."""

    def __init__(self, problems: list[str], what: str = "run config"):
        self.problems = list(problems)
        if len(self.problems) == 1:
            msg = self.problems[0]
        else:
            listed = "; ".join(f"({i}) {p}" for i, p in enumerate(self.problems, 1))
            msg = f"{len(self.problems)} problems in the {what}: {listed}"
        super().__init__(msg)


def first_line(e: BaseException, limit: int | None = None, empty: str | None = None) -> str:
    """The first line of an exception's message, for a one-line error that quotes a library's own words (its
    traceback is for --debug). An empty message gives `empty`, or the exception's type name."""
    lines = str(e).strip().splitlines()
    text = lines[0] if lines else (type(e).__name__ if empty is None else empty)
    return text[:limit] if limit is not None else text
