"""The report's building blocks: a table, a prompt cell, a block of the document. Plain data every renderer
(markdown.py, html.py, latex.py) and every section builder shares."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Prompt:
    """A prompt cell: `tail` is what fits in a table (the last lines: the question), `full` the whole prompt."""

    full: str
    tail: str

    def __str__(self) -> str:
        return self.tail


@dataclass
class Table:
    key: str
    header: list[str]
    rows: list[list] = field(default_factory=list)  # cells: str or Prompt
    numeric: list[bool] = field(default_factory=list)  # right-aligned columns
    bold: set = field(default_factory=set)  # (row, column) of the best value
    tone: dict = field(default_factory=dict)  # (row, column) -> "good" | "bad"
    caption: str = ""
    full_text: set = field(default_factory=set)  # columns whose cells are never shortened (a gate check's line)


@dataclass
class Block:
    kind: str  # "heading" | "paragraph" | "warning" | "warnings" (items) | "table" | "bullets" | "mark"
    text: str = ""
    level: int = 2
    table: Table | None = None
    items: list[str] = field(default_factory=list)
    mark: str = ""  # "mark": PASS | FAIL | NOT JUDGED, with `text` the adapter and `note` where the mark comes from
    note: str = ""
    link: tuple[str, str] | None = None  # (label, anchor): a paragraph that ends with a link into the page
