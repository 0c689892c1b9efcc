"""report.html: one self-contained file (inline CSS, plots embedded) with the report's content and a browsable,
filterable table of samples. Generated text is untrusted input: every model output and document text goes through
html.escape, so a `<script>` in an answer is shown as text and never runs.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from harness.core.arms import BASE_ARM
from reports import document, text
from reports.data import Report

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:3px 7px;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}.good{color:#176b1c}.bad{color:#a31515}
.txt{max-width:420px;white-space:pre-wrap;word-break:break-word;font-size:12px}img{max-width:100%;border:1px solid #eee}
code{background:#f5f5f5;padding:0 3px}#q{width:320px;padding:4px}.scroll{overflow-x:auto}
.warning{background:#fff4e5;border-left:4px solid #e08a00;padding:6px 10px}summary{cursor:pointer}
details div.txt{margin-top:4px;border-top:1px dashed #ccc;padding-top:4px}
"""
_FILTER_JS = """
document.getElementById('q').addEventListener('input', function () {
  var q = this.value.toLowerCase();
  document.querySelectorAll('#samples tbody tr').forEach(function (tr) {
    tr.style.display = tr.textContent.toLowerCase().indexOf(q) >= 0 ? '' : 'none';
  });
});
"""


def e(s, limit: int | None = None) -> str:
    s = str(s)
    if limit and len(s) > limit:
        s = s[: limit - 1] + "…"
    return html.escape(s, quote=True)


def table(t: document.Table, attrs: str = "") -> str:
    head = "".join(f"<th>{e(h)}</th>" for h in t.header)
    body = []
    for i, row in enumerate(t.rows):
        cells = []
        for j, c in enumerate(row):
            cls = " ".join(x for x in ("num" if j < len(t.numeric) and t.numeric[j] else "",
                                        t.tone.get((i, j), "")) if x)
            if isinstance(c, document.Prompt):
                inner = (f"<details><summary class='txt'>{e(c.tail)}</summary><div class='txt'>{e(c.full)}</div></details>"
                         if c.tail != c.full.strip() else f"<span class='txt'>{e(c.full)}</span>")
            else:
                inner = e(c)
            if (i, j) in t.bold:
                inner = f"<b>{inner}</b>"
            cells.append(f"<td class='{cls}'>{inner}</td>" if cls else f"<td>{inner}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table data-table='{e(t.key)}' {attrs}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render(report: Report, out_dir: Path, plots: list[str], sample_limit: int = 200) -> str:
    base = report.runs[0]["base"]
    arms = report.adapters
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><meta name='viewport' content='width=device-width'>"
             f"<title>Adapter evaluation: {e(base['name'])}</title><style>{_CSS}</style></head><body>"]
    for b in document.build(report):
        if b.kind == "heading":
            parts.append(f"<h{b.level}>{e(b.text)}</h{b.level}>")
        elif b.kind == "paragraph":
            parts.append(f"<p>{e(b.text)}</p>")
        elif b.kind == "warning":
            parts.append(f"<p class='warning'><b>Warning:</b> {e(b.text)}</p>")
        elif b.kind == "bullets":
            parts.append("<ul>" + "".join(f"<li class='txt'>{e(item)}</li>" for item in b.items) + "</ul>")
        elif b.kind == "table":
            parts.append(f"<div class='scroll'>{table(b.table)}</div>")
    pngs = [p for p in plots if p.endswith(".png")]
    if pngs:
        parts.append("<h2>Plots</h2>")
    for p in pngs:
        data = base64.b64encode((out_dir / p).read_bytes()).decode()
        parts.append(f"<p><img alt='{e(p)}' src='data:image/png;base64,{data}'></p>")
    parts.append("<h2>Samples</h2><p><input id='q' placeholder='filter samples (any text)'></p>")
    samples = document.Table("samples", ["task", "arm", "doc", "prompt", "answer", "reference", "score"],
                             numeric=[False, False, True, False, False, False, True])
    for task in dict.fromkeys(report.scores["task"]):
        for arm in [BASE_ARM, *arms]:
            for r in report.samples(arm, task)[:sample_limit]:
                score = text.doc_score(task, r)
                samples.rows.append([task, arm, str(r["doc_id"]), document.prompt_cell(r.get("prompt") or ""),
                                     text.answer_text(r)[:600], text.target_text(task, r)[:300],
                                     "" if score is None else f"{score:.3f}"])
    parts.append(f"<div class='scroll'>{table(samples, 'id=samples')}</div>")
    parts.append(f"<script>{_FILTER_JS}</script></body></html>")
    return "\n".join(parts)
