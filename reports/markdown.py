"""report.md: the headline table, per-task sections, answers side by side, the forgetting verdict.

Fit to paste as a PR comment or a CI step summary. Model output is untrusted text: HTML special characters are
written as entities and table pipes escaped, so an answer cannot inject markup into the rendered comment.
"""

from __future__ import annotations

import html

from reports import tables, text
from reports.data import Report


def esc(s, limit: int = 160) -> str:
    s = " ".join(str(s).split())
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return html.escape(s, quote=False).replace("|", "\\|").replace("`", "&#96;") or "∅"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def render(report: Report, plots: list[str] | None = None) -> str:
    runs = report.runs
    base = runs[0]["base"]
    lines = ["# Adapter evaluation report", ""]
    lines.append(f"Base model **{esc(base['name'])}** ({esc(base['source'])}, {base['dtype']}, quantization "
                 f"{base['quantization']}, `{base['fingerprint'][:19]}…`); adapters: "
                 + ", ".join(f"**{esc(a)}**" for a in report.adapters) + ".")
    lines.append("Runs: " + ", ".join(f"`{r['run_id']}` ({r['created']}, {esc(r['environment'].get('device', ''))})" for r in runs) + ".")
    lines += ["", "## Headline", ""]
    head = tables.headline(report)
    arms = report.adapters
    header = ["task", "metric", "base", *arms, *[f"Δ {a} [95% CI]" for a in arms]]
    rows = []
    for _, r in head.iterrows():
        arrow = "↑" if r["higher_is_better"] is not False else "↓"
        rows.append([r["task"], f"{r['metric']} {arrow}", tables.fmt(r["base"]), *[tables.fmt(r.get(a)) for a in arms],
                     *[tables.delta_text(r, a) for a in arms]])
    lines += _table(header, rows)
    stats_info = runs[0].get("statistics", {})
    lines += ["", f"Δ = adapter − base on the same documents; 95% CI by paired bootstrap over documents "
              f"({stats_info.get('resamples', 'n/a')} resamples); p from exact McNemar for 0/1 scores, a paired "
              "permutation test otherwise. * p < 0.05, ** p < 0.01, *** p < 0.001. ↑ higher is better, ↓ lower is better."]
    verdicts = text.forgetting(report)
    if verdicts:
        lines += ["", "## Forgetting", ""]
        lines += _table(["task", "metric", "adapter", "Δ [95% CI]", "p", "verdict"], [
            [v["task"], v["metric"], esc(v["arm"]), f"{v['delta']:+.4f} [{tables.fmt((v['ci95'] or [None])[0])}, "
             f"{tables.fmt((v['ci95'] or [None, None])[1])}]", tables.fmt(v["p_value"]), v["verdict"]] for v in verdicts])
    for task in dict.fromkeys(report.scores["task"]):
        lines += ["", f"## {task}", ""]
        sel = report.scores[report.scores.task == task]
        metrics = list(dict.fromkeys(sel["metric"]))
        lines += _table(["metric", "base", *arms], [
            [m, *[tables.fmt(_value(sel, m, a)) for a in ["base", *arms]]] for m in metrics])
        conv = (report.tasks.get(task) or {}).get("conventions")
        if conv:
            lines += ["", "Conventions: " + "; ".join(f"{k}: {esc(v, 300)}" for k, v in conv.items()) + "."]
        if task == "yelp":
            for arm in ["base", *arms]:
                bad = text.unparseable(report, arm)
                if bad:
                    lines += ["", f"Unparseable answers of **{esc(arm)}** (first {len(bad)}):", ""]
                    lines += [f"- doc {b['doc_id']} ({b['rule']}): “{esc(b['answer'])}”" for b in bad]
        for arm in arms:
            picked = text.side_by_side(report, task, arm)
            if picked:
                lines += ["", f"Biggest wins and losses of **{esc(arm)}** vs base:", ""]
                lines += _table(["", "doc", "prompt (end)", "base", esc(arm), "reference"], [
                    [p["kind"], str(p["doc_id"]), esc(p["prompt"][-120:], 120), esc(p["base"]), esc(p["adapter"]),
                     esc(p["reference"])] for p in picked])
    trained = [a for a in report.arms if a.train_summary]
    if trained:
        lines += ["", "## Training", ""]
        lines += _table(["adapter", "steps", "train loss", "eval loss", "overfitting"], [
            [esc(a.name), str(a.train_summary.get("steps")), tables.fmt(a.train_summary.get("final_train_loss")),
             tables.fmt(a.train_summary.get("final_eval_loss")),
             "yes" if (a.train_summary.get("overfitting") or {}).get("overfitting") else "no"] for a in trained])
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots if p.endswith(".png")]
    return "\n".join(lines) + "\n"


def _value(sel, metric, arm):
    v = sel[(sel.metric == metric) & (sel.arm == arm)]["value"]
    return float(v.iloc[0]) if len(v) else None
