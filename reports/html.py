"""report.html: one self-contained file (inline CSS, plots embedded) with the report's content and a browsable,
filterable table of samples. Generated text is untrusted input: every model output and document text goes through
html.escape, so a `<script>` in an answer is shown as text and never runs.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from reports import tables, text
from reports.data import Report

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:3px 7px;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}.good{color:#176b1c}.bad{color:#a31515}
.txt{max-width:420px;white-space:pre-wrap;word-break:break-word;font-size:12px}img{max-width:100%;border:1px solid #eee}
code{background:#f5f5f5;padding:0 3px}#q{width:320px;padding:4px}
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


def _table(header: list[str], rows: list[list[str]], attrs: str = "") -> str:
    h = "".join(f"<th>{c}</th>" for c in header)
    body = "".join("<tr>" + "".join(rows_cell for rows_cell in r) + "</tr>" for r in rows)
    return f"<table {attrs}><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


def _td(v, cls: str = "") -> str:
    return f'<td class="{cls}">{v}</td>' if cls else f"<td>{v}</td>"


def render(report: Report, out_dir: Path, plots: list[str], sample_limit: int = 200) -> str:
    base = report.runs[0]["base"]
    arms = report.adapters
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Adapter evaluation: {e(base['name'])}</title>"
             f"<style>{_CSS}</style></head><body>", "<h1>Adapter evaluation report</h1>",
             f"<p>Base <b>{e(base['name'])}</b> ({e(base['source'])}, {e(base['dtype'])}, quantization "
             f"{e(base['quantization'])}); adapters: {', '.join('<b>' + e(a) + '</b>' for a in arms)}. Runs: "
             + ", ".join(f"<code>{e(r['run_id'])}</code>" for r in report.runs) + ".</p>", "<h2>Headline</h2>"]
    head = tables.headline(report)
    rows = []
    for _, r in head.iterrows():
        cells = [_td(e(r["task"])), _td(e(r["metric"]) + (" ↑" if r["higher_is_better"] is not False else " ↓"))]
        cells += [_td(tables.fmt(r.get(a)), "num") for a in ["base", *arms]]
        for a in arms:
            good = tables.better(r, a)
            cells.append(_td(e(tables.delta_text(r, a)), "num " + ("good" if good else "bad" if good is False else "")))
        rows.append(cells)
    parts.append(_table(["task", "metric", "base", *map(e, arms), *[f"Δ {e(a)} [95% CI]" for a in arms]], rows))
    parts.append("<p>Δ = adapter − base on the same documents, 95% CI by paired bootstrap; * p&lt;0.05, ** p&lt;0.01, "
                 "*** p&lt;0.001 (exact McNemar for 0/1 scores, paired permutation otherwise).</p>")
    verdicts = text.forgetting(report)
    if verdicts:
        parts.append("<h2>Forgetting</h2>")
        parts.append(_table(["task", "metric", "adapter", "Δ", "p", "verdict"], [
            [_td(e(v["task"])), _td(e(v["metric"])), _td(e(v["arm"])), _td(f"{v['delta']:+.4f}", "num"),
             _td(tables.fmt(v["p_value"]), "num"), _td(e(v["verdict"]))] for v in verdicts]))
    for p in plots:
        if p.endswith(".png"):
            data = base64.b64encode((out_dir / p).read_bytes()).decode()
            parts.append(f"<p><img alt='{e(p)}' src='data:image/png;base64,{data}'></p>")
    for task in dict.fromkeys(report.scores["task"]):
        parts.append(f"<h2>{e(task)}</h2>")
        for arm in arms:
            picked = text.side_by_side(report, task, arm)
            if picked:
                parts.append(f"<h3>Biggest wins and losses: {e(arm)} vs base</h3>")
                parts.append(_table(["", "doc", "prompt (end)", "base", e(arm), "reference"], [
                    [_td(p["kind"]), _td(p["doc_id"], "num"), _td(e(p["prompt"][-300:]), "txt"), _td(e(p["base"], 600), "txt"),
                     _td(e(p["adapter"], 600), "txt"), _td(e(p["reference"], 600), "txt")] for p in picked]))
        if task == "yelp":
            for arm in ["base", *arms]:
                bad = text.unparseable(report, arm, k=5)
                if bad:
                    parts.append(f"<p>Unparseable answers of <b>{e(arm)}</b>:</p><ul>"
                                 + "".join(f"<li>doc {b['doc_id']} ({e(b['rule'])}): <span class='txt'>{e(b['answer'], 300)}</span></li>" for b in bad)
                                 + "</ul>")
    parts.append("<h2>Samples</h2><p><input id='q' placeholder='filter samples (any text)'></p>")
    rows = []
    for task in dict.fromkeys(report.scores["task"]):
        for arm in ["base", *arms]:
            for r in report.samples(arm, task)[:sample_limit]:
                score = text.doc_score(task, r)
                rows.append([_td(e(task)), _td(e(arm)), _td(r["doc_id"], "num"), _td(e((r.get("prompt") or "")[-300:]), "txt"),
                             _td(e(text.answer_text(r), 600), "txt"), _td(e(text.target_text(task, r), 300), "txt"),
                             _td("" if score is None else f"{score:.3f}", "num")])
    parts.append(_table(["task", "arm", "doc", "prompt (end)", "answer", "reference", "score"], rows, "id='samples'"))
    parts.append(f"<script>{_FILTER_JS}</script></body></html>")
    return "\n".join(parts)
