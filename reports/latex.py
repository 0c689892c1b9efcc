"""tables.tex: booktabs tables ready for \\input (needs \\usepackage{booktabs} in the paper's preamble).

Three tables: the main comparison (best value bold, delta with its CI), the Yelp table in the field's usual shape
(F1 micro / macro / weighted, base vs tuned), and a sweep table with one row per adapter: its hyper-parameters
(from adapter_config.json and train_summary.json when present) and its scores.
"""

from __future__ import annotations

import math

from reports import tables
from reports.data import Report

_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
            "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def tex(s) -> str:
    return "".join(_SPECIAL.get(ch, ch) for ch in str(s))


def _num(v, digits=4) -> str:
    return "--" if v is None or (isinstance(v, float) and math.isnan(v)) else tables.fmt(v, digits)


def _best(values: list, higher: bool) -> int | None:
    present = [(v, i) for i, v in enumerate(values) if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not present:
        return None
    return (max if higher else min)(present)[1]


def main_table(report: Report) -> list[str]:
    head = tables.headline(report)
    arms = ["base", *report.adapters]
    cols = "ll" + "r" * len(arms) + "r" * len(report.adapters)
    out = [r"\begin{table}[t]", r"\centering", r"\small", rf"\begin{{tabular}}{{{cols}}}", r"\toprule",
           " & ".join(["Task", "Metric", *[tex(a) for a in arms], *[rf"$\Delta$ {tex(a)}" for a in report.adapters]]) + r" \\",
           r"\midrule"]
    for _, r in head.iterrows():
        values = [r.get(a) for a in arms]
        best = _best(values, r["higher_is_better"] is not False)
        cells = [rf"\textbf{{{_num(v)}}}" if i == best else _num(v) for i, v in enumerate(values)]
        deltas = []
        for a in report.adapters:
            d = r.get(f"{a}:delta")
            if d is None or (isinstance(d, float) and math.isnan(d)):
                deltas.append("--")
                continue
            ci = f" [{_num(r.get(f'{a}:lo'))}, {_num(r.get(f'{a}:hi'))}]" if r.get(f"{a}:lo") is not None else ""
            deltas.append(f"${d:+.4f}${ci}{tables.marker(r.get(f'{a}:p'))}")
        arrow = r"$\uparrow$" if r["higher_is_better"] is not False else r"$\downarrow$"
        out.append(" & ".join([tex(r["task"]), f"{tex(r['metric'])} {arrow}", *cells, *deltas]) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}",
            r"\caption{Base model vs adapters on the same documents. Best value in bold; $\Delta$ = adapter $-$ base "
            r"with its 95\% paired-bootstrap CI; * $p<0.05$, ** $p<0.01$, *** $p<0.001$.}",
            r"\label{tab:adapter-comparison}", r"\end{table}"]
    return out


def yelp_table(report: Report) -> list[str]:
    s = report.scores
    if s.empty or "yelp" not in set(s["task"]):
        return []
    metrics = ["f1_micro", "f1_macro", "f1_weighted"]
    out = [r"\begin{table}[t]", r"\centering", r"\begin{tabular}{lrrr}", r"\toprule",
           r"Model & F1 (micro) & F1 (macro) & F1 (weighted) \\", r"\midrule"]
    arms = ["base", *report.adapters]
    grid = {(a, m): _value(s, "yelp", m, a) for a in arms for m in metrics}
    for a in arms:
        cells = []
        for m in metrics:
            best = _best([grid[(x, m)] for x in arms], True)
            v = grid[(a, m)]
            cells.append(rf"\textbf{{{_num(v)}}}" if best is not None and arms[best] == a else _num(v))
        out.append(" & ".join([tex("Base" if a == "base" else a), *cells]) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}",
            r"\caption{Yelp 5-class rating (unparseable answers counted as wrong).}", r"\label{tab:yelp}", r"\end{table}"]
    return out


def sweep_table(report: Report) -> list[str]:
    arms = [a for a in report.arms if a.name != "base"]
    if not arms:
        return []
    head = tables.headline(report)
    keys = [(r["task"], r["metric"]) for _, r in head.iterrows()][:4]
    out = [r"\begin{table}[t]", r"\centering", r"\small", r"\begin{tabular}{l" + "r" * 6 + "r" * len(keys) + "}",
           r"\toprule", " & ".join(["Adapter", "r", r"$\alpha$", "dropout", "targets", "lr", "epochs",
                                    *[f"{tex(t)} {tex(m)}" for t, m in keys]]) + r" \\", r"\midrule"]
    for a in arms:
        peft = (a.adapter or {}).get("peft", {})
        cfg = (a.train_summary or {}).get("config", {})
        targets = peft.get("target_modules")
        targets = ",".join(targets) if isinstance(targets, list) else (targets or "--")
        cells = [tex(a.name), str(peft.get("r", "--")), str(peft.get("lora_alpha", "--")), str(peft.get("lora_dropout", "--")),
                 tex(targets), tex(cfg.get("learning_rate", "--")), tex(cfg.get("epochs", "--")),
                 *[_num(_value(report.scores, t, m, a.name)) for t, m in keys]]
        out.append(" & ".join(cells) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}", r"\caption{Adapters: hyper-parameters and scores.}",
            r"\label{tab:sweep}", r"\end{table}"]
    return out


def render(report: Report) -> str:
    parts = [r"% Generated by harness report; \input{} it after \usepackage{booktabs}.", *main_table(report), ""]
    parts += [*yelp_table(report), ""] if yelp_table(report) else []
    parts += sweep_table(report)
    return "\n".join(parts) + "\n"


def _value(s, task, metric, arm):
    v = s[(s.task == task) & (s.metric == metric) & (s.arm == arm)]["value"]
    return float(v.iloc[0]) if len(v) else None
