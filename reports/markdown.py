"""report.md: the document (reports/document.py) as Markdown, fit to paste as a PR comment or a CI step summary.

Model output is untrusted text: HTML special characters are written as entities and table pipes escaped, so an
answer cannot inject markup into the rendered comment.
"""

from __future__ import annotations

import html

from reports import document
from reports.data import Report


def esc(s, limit: int = 160) -> str:
    s = " ".join(str(s).split())
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return html.escape(s, quote=False).replace("|", "\\|").replace("`", "&#96;") or "∅"


def table(t: document.Table) -> list[str]:
    out = ["| " + " | ".join(esc(h) for h in t.header) + " |",
           "|" + "|".join("--:" if num else "---" for num in (t.numeric or [False] * len(t.header))) + "|"]
    for i, row in enumerate(t.rows):
        cells = []
        for j, c in enumerate(row):
            cell = esc(c, 120 if isinstance(c, document.Prompt) else 1000 if j in t.full_text else 160)
            cells.append(f"**{cell}**" if (i, j) in t.bold else cell)
        out.append("| " + " | ".join(cells) + " |")
    return out


def render(report: Report, plots: list[str] | None = None) -> str:
    lines: list[str] = []
    for b in document.build(report):
        if b.kind == "heading":
            lines += ["", "#" * b.level + " " + esc(b.text, 300), ""]
        elif b.kind == "paragraph":
            lines += [esc(b.text, 4000), ""]
        elif b.kind == "warning":
            lines += [f"> **Warning:** {esc(b.text, 4000)}", ""]
        elif b.kind == "bullets":
            lines += [f"- {esc(item)}" for item in b.items] + [""]
        elif b.kind == "table":
            lines += table(b.table) + [""]
    if plots:
        lines += ["## Plots", ""] + [f"![{p}]({p})" for p in plots if p.endswith(".png")]
    text = "\n".join(lines).strip("\n")
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text + "\n"
