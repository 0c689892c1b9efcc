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
