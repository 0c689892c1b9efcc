"""report.html: one self-contained file (inline CSS, plots embedded) with the page reports/samples.py lists: the
document, the plots, every document of every task (paged, with a filter). It holds the same text as report.md, cell
for cell, and the same anchors. Generated text is untrusted input: every model output and document text goes through
html.escape, so a `<script>` in an answer is shown as text and never runs.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from urllib.parse import quote

from reports import samples
from reports.blocks import Table
from reports.data import Report

# .good/.bad: the Okabe-Ito bluish green and vermillion the plots use, darkened to a contrast above 4.5:1 on white.
_CSS = """
body{font:15px/1.5 system-ui,sans-serif;margin:1em auto;max-width:1560px;padding:0 1.5em;color:#1a1a1a}
h1{font-size:1.6em;margin:.2em 0}h2{margin:1.2em 0 .5em;padding-top:.3em;border-top:1px solid #ddd}
h3{margin-top:1.4em}p{max-width:75em}
table{border-collapse:collapse;margin:.6em 0;font-size:13.5px}td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}
th{background:#f0f2f4;text-align:left}tbody tr:nth-child(even){background:#fafafa}
caption{caption-side:bottom;text-align:left;font-size:13.5px;color:#444;padding:.4em 0 0;max-width:75em}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}td.wrap{white-space:normal;min-width:12em}
td.short{white-space:nowrap}.ci{font-size:13px;color:#333;white-space:normal}
td.num.wrap{white-space:normal;min-width:8em}table.dense{font-size:13px}table.dense td,table.dense th{padding:2px 4px}table.dense td.wide{min-width:6em}table.loose th{overflow-wrap:anywhere}
.good{color:#006B4F;font-weight:600}.bad{color:#B23A00;font-weight:600}
.txt{white-space:pre-wrap;word-break:break-word}td.wide{min-width:8em;max-width:32em}td.txt{min-width:6em}
summary{cursor:pointer}details div.txt{margin-top:4px;border-top:1px dashed #bbb;padding-top:4px}
figure{margin:1.2em 0}figure img{max-width:100%;border:1px solid #eee}figcaption{font-size:13.5px;color:#444;max-width:75em}
.scroll{overflow-x:auto}.warning{background:#fff4e5;border-left:4px solid #e08a00;padding:6px 10px}
nav.toc{font-size:13.5px;color:#444}nav.toc ul{display:inline;margin:0;padding:0}nav.toc li{display:inline}
nav.toc li+li:before{content:" · "}
.verdict{margin:.5em 0 .8em}.verdict p{margin:.2em 0}.verdict ul{margin:.2em 0 0;padding-left:1.4em}
.mark{display:inline-block;min-width:6.5em;text-align:center;font-weight:700;border-radius:3px;padding:0 .4em;color:#fff}
.mark.pass{background:#006B4F}.mark.fail{background:#B23A00}.mark.not-judged{background:#595959}.src{color:#555}
div.warning ul{margin:.2em 0;padding-left:1.2em}
.filter{position:sticky;top:0;background:#fff;padding:.5em 0;z-index:1}.filter input{width:24em;padding:4px;font:inherit}
.pager button{font:inherit;padding:2px 10px}.task-samples>details>summary{margin:.3em 0;color:#0b4f9c}
"""
_PAGE_ROWS = 20
# One script: it pages every task's samples and filters them by any text (opening the tasks with a match); without
# it every row shows.
_JS = """
(function () {
  var PAGE = PAGE_ROWS, box = document.getElementById('samples-filter');
  if (!box) return;
  var tasks = Array.prototype.slice.call(document.querySelectorAll('.task-samples'));
  function show(t) {
    var rows = Array.prototype.slice.call(t.querySelectorAll('tbody tr')), q = box.value.toLowerCase();
    var hits = rows.filter(function (tr) { return tr.textContent.toLowerCase().indexOf(q) >= 0; });
    var pages = Math.max(1, Math.ceil(hits.length / PAGE));
    t.page = Math.min(Math.max(t.page || 0, 0), pages - 1);
    rows.forEach(function (tr) { tr.hidden = true; });
    hits.slice(t.page * PAGE, (t.page + 1) * PAGE).forEach(function (tr) { tr.hidden = false; });
    t.querySelector('.shown').textContent = hits.length;
    t.querySelector('.pager').hidden = pages < 2;
    t.querySelector('.pageno').textContent = 'page ' + (t.page + 1) + ' of ' + pages;
    t.querySelector('.prev').disabled = t.page === 0;
    t.querySelector('.next').disabled = t.page >= pages - 1;
  }
  tasks.forEach(function (t) {
    t.querySelector('.prev').addEventListener('click', function () { t.page--; show(t); });
    t.querySelector('.next').addEventListener('click', function () { t.page++; show(t); });
    show(t);
  });
  box.addEventListener('input', function () {
    tasks.forEach(function (t) {
      t.page = 0;
      show(t);
      if (box.value) { t.querySelector('details').open = t.querySelector('.shown').textContent !== '0'; }
    });
  });
})();
""".replace("PAGE_ROWS", str(_PAGE_ROWS))


def e(s, limit: int | None = None) -> str:
    s = str(s)
    if limit and len(s) > limit:
        s = s[: limit - 1] + "…"
    return html.escape(s, quote=True)


def _layout(t: Table, j: int, shown: str, whole: str | None) -> str:
    """A cell's layout class: numbers right-aligned and kept on one line unless long (a CI fits; a note wraps),
    long text wrapped in a column wide enough to read, short text on one line (an arrow never alone on a line)."""
    if j < len(t.numeric) and t.numeric[j]:
        return "num" if len(shown) <= 60 else "num wrap"
    if whole or len(shown) > 60:
        return "txt wide"
    return "txt" if "\n" in shown else "short" if len(shown) <= 14 else ""


def _stacked(shown: str) -> str:
    """A number with its interval or note: the interval under the value, so that wide tables fit the page."""
    value, sep, rest = shown.partition(" [") if " [" in shown else shown.partition(" (")
    if not sep:
        return e(shown)
    return f"{e(value)} <br><span class='ci'>{e(sep.strip() + rest)}</span>"


def _cell(t: Table, i: int, j: int) -> str:
    shown, whole = samples.cell(t, i, j)
    numeric = j < len(t.numeric) and t.numeric[j]
    inner = (f"<details><summary class='txt'>{e(shown)}</summary><div class='txt'>{e(whole)}</div></details>"
             if whole else _stacked(shown) if numeric else e(shown))
    if (i, j) in t.bold:
        inner = f"<b>{inner}</b>"
    cls = " ".join(x for x in (_layout(t, j, shown, whole), t.tone.get((i, j), "")) if x)
    return f"<td class='{cls}'>{inner}</td>" if cls else f"<td>{inner}</td>"


def table(t: Table) -> str:
    caption = samples.caption(t)
    cap = f"<caption>{e(caption)}</caption>" if caption else ""
    # a long name may break after its '_' or '-' (never inside a word), so that narrow columns stay readable
    head = "".join(f"<th scope='col'>{e(h).replace('_', '_<wbr>').replace('-', '-<wbr>')}</th>" for h in t.header)
    body = "".join("<tr>" + "".join(_cell(t, i, j) for j in range(len(row))) + "</tr>" for i, row in enumerate(t.rows))
    # many arms: smaller type, so the table fits the page; the samples' headers may break anywhere
    dense = (" class='dense" + (" loose" if t.key.startswith("samples-") else "") + "'") if len(t.header) >= 10 else ""
    return f"<table data-table='{e(t.key)}'{dense}>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(f: samples.Figure, out_dir: Path) -> str:
    data = base64.b64encode((out_dir / f.path).read_bytes()).decode()
    return (f"<figure><img alt='{e(f.caption)}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{e(f.caption)}</figcaption></figure>")


def _samples(s: samples.TaskSamples, out_dir: Path) -> str:
    files = ", ".join(f"<a href='{e(quote(p))}'>{e(p)}</a>" for p in samples.links(s, out_dir))
    shown = samples.showing(s, f"<span class='shown'>{s.n}</span>")  # numbers only: nothing to escape
    return (f"<div class='task-samples' data-task='{e(s.task)}'><p>{shown} {files}</p><details><summary>"
            f"Show the documents of {e(s.task)} ({_PAGE_ROWS} a page; the filter above searches them all)</summary>"
            f"<div class='scroll'>{table(s.table)}</div>"
            "<p class='pager' hidden><button type='button' class='prev'>← previous</button> <span class='pageno'>"
            "</span> <button type='button' class='next'>next →</button></p></details></div>")


_FILTER = ("<p class='filter'><label for='samples-filter'>Filter the samples of every task (any text: a doc id, a "
           "word of a prompt, a reference or an answer):</label> <input id='samples-filter' type='search'></p>")


def _contents(blocks: list) -> str:
    items = "".join(f"<li><a href='#{e(a)}'>{e(h)}</a></li>" for h, a in samples.contents(blocks))
    return f"<nav class='toc' aria-label='Contents'><b>Contents:</b> <ul>{items}</ul></nav>"


def _block(b, out_dir: Path) -> str:
    if b.kind == "paragraph":
        return f"<p>{e(b.text)}" + (f" <a href='#{e(b.link[1])}'>{e(b.link[0])}</a>" if b.link else "") + "</p>"
    if b.kind == "warning":
        return f"<p class='warning'><b>Warning:</b> {e(b.text)}</p>"
    if b.kind == "warnings":
        return (f"<div class='warning'><b>Warnings ({len(b.items)}):</b><ul>"
                + "".join(f"<li>{e(w)}</li>" for w in b.items) + "</ul></div>")
    if b.kind == "mark":
        cls = b.mark.lower().replace(" ", "-")
        return (f"<div class='verdict'><p><span class='mark {e(cls)}'>{e(b.mark)}</span> <b>{e(b.text)}</b> "
                + (f"<span class='src'>— {e(b.note)}</span>" if b.note else "") + "</p><ul>"
                + "".join(f"<li>{e(item)}</li>" for item in b.items) + "</ul></div>")
    if b.kind == "bullets":
        return "<ul>" + "".join(f"<li class='txt'>{e(item)}</li>" for item in b.items) + "</ul>"
    if b.kind == "table":
        return f"<div class='scroll'>{table(b.table)}</div>"
    if b.kind == "figure":
        return _figure(b, out_dir)
    return _samples(b, out_dir)


def render(report: Report, out_dir: Path, plots: list[str]) -> str:
    """`out_dir`: the folder report.html is written to (the plots are read from there, the samples files linked
    relative to it)."""
    base = report.runs[0]["base"]
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' "
             f"content='width=device-width'><title>Adapter evaluation: {e(base['name'])}</title>"
             f"<style>{_CSS}</style></head><body>"]
    blocks = samples.page(report, plots)
    ids = samples.anchors(blocks)
    in_section = False
    for i, b in enumerate(blocks):
        if i + 1 < len(blocks) and blocks[i + 1].kind == "samples" and _FILTER not in parts:
            parts.append(_FILTER)  # above the first task's samples: it filters every task
        if b.kind == "heading" and b.level == 2:
            # A contents link lands on the section, which holds the heading and everything under it.
            parts.append(("</section>" if in_section else "") + f"<section id='{e(ids[i])}'>")
            in_section = True
        if b.kind == "heading":
            attr = f" id='{e(ids[i])}'" if b.level > 2 else ""
            parts.append(f"<h{b.level}{attr}>{e(b.text)}</h{b.level}>" + (_contents(blocks) if b.level == 1 else ""))
            continue
        parts.append(_block(b, out_dir))
    parts.append(("</section>" if in_section else "") + f"<script>{_JS}</script></body></html>")
    return "\n".join(parts)
