"""report.md: the page (reports/samples.py: the document, the plots, the samples) as Markdown, fit to paste as a PR
comment or a CI step summary.

Model output is untrusted text: HTML special characters are written as entities and table pipes escaped, so an
answer cannot inject markup into the rendered comment.
"""

from __future__ import annotations

import html
from pathlib import Path
from urllib.parse import quote

from reports import samples
from reports.blocks import Table
from reports.data import Report


def esc(s, limit: int = 160) -> str:
    s = " ".join(str(s).split())
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return html.escape(s, quote=False).replace("|", "\\|").replace("`", "&#96;") or "∅"


def _caption(text: str, what: str) -> list[str]:
    # A caption is italic; a star inside it (the significance legend) would end the italics early.
    body = esc(text, 4000).replace("*", "\\*")
    return [f"*{what}: {body}*", ""] if text else []


def table(t: Table, rows: int | None = None) -> list[str]:
    out = ["| " + " | ".join(esc(h) for h in t.header) + " |",
           "|" + "|".join("--:" if num else "---" for num in (t.numeric or [False] * len(t.header))) + "|"]
    for i in range(len(t.rows) if rows is None else min(rows, len(t.rows))):
        cells = []
        for j in range(len(t.rows[i])):
            cell = esc(samples.cell(t, i, j)[0], 100_000)
            cells.append(f"**{cell}**" if (i, j) in t.bold else cell)
        out.append("| " + " | ".join(cells) + " |")
    return out + [""] + _caption(samples.caption(t), "Table")


def _link(path: str) -> str:
    label = esc(path, 1000).replace("[", "\\[").replace("]", "\\]")
    return f"[{label}]({quote(path)})"


def _samples(s: samples.TaskSamples, out_dir: Path) -> list[str]:
    shown = min(samples.MD_ROWS, s.n)
    files = ", ".join(_link(p) for p in samples.links(s, out_dir))
    return [f"{samples.showing(s, shown)} {files}", ""] + table(s.table, samples.MD_ROWS)


def _contents(blocks: list) -> list[str]:
    # one line, so that the Verdict stays on the first screen
    return ["**Contents:** " + " · ".join(f"[{esc(h, 300)}](#{a})" for h, a in samples.contents(blocks)), ""]


def _mark(b) -> list[str]:
    return [f"**{b.mark}** · **{esc(b.text, 300)}**" + (f" — {esc(b.note, 1000)}" if b.note else ""), ""] + [
        f"- {esc(item, 100_000)}" for item in b.items] + [""]


def render(report: Report, plots: list[str] | None = None, out_dir: Path | None = None) -> str:
    """`out_dir`: the folder report.md is written to, which the links to the samples files are relative to (by
    default the first run's folder, where `harness report` writes without --out)."""
    out_dir = Path(out_dir or report.run_dirs[0])
    blocks = samples.page(report, plots or [])
    lines: list[str] = []
    for b in blocks:
        if b.kind == "heading":
            lines += ["", "#" * b.level + " " + esc(b.text, 300), ""] + (_contents(blocks) if b.level == 1 else [])
        elif b.kind == "paragraph":
            lines += [esc(b.text, 4000) + (f" [{esc(b.link[0])}](#{b.link[1]})" if b.link else ""), ""]
        elif b.kind == "warning":
            lines += [f"> **Warning:** {esc(b.text, 4000)}", ""]
        elif b.kind == "warnings":
            lines += [f"> **Warnings ({len(b.items)}):**", ">"] + [f"> - {esc(w, 4000)}" for w in b.items] + [""]
        elif b.kind == "mark":
            lines += _mark(b)
        elif b.kind == "bullets":
            lines += [f"- {esc(item)}" for item in b.items] + [""]
        elif b.kind == "table":
            lines += table(b.table) + [""]
        elif b.kind == "figure":
            lines += [f"![{b.path}]({b.path})", ""] + _caption(b.caption, "Figure")
        elif b.kind == "samples":
            lines += _samples(b, out_dir)
    text = "\n".join(lines).strip("\n")
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text + "\n"
