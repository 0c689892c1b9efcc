"""tables.tex and tables-full.tex: booktabs tables ready for \\input (needs \\usepackage{booktabs,graphicx} in the
paper's preamble).

tables.tex is what a paper prints: the paper table (reports/paper.py: models as rows, the chosen metrics as columns,
value ± CI half-width, significance marks, decimals aligned), the Yelp table in the field's usual shape (F1 micro /
macro / weighted) and, for several adapters, their hyper-parameters (rank, alpha, dropout, target modules
summarised, learning rate, training length). tables-full.tex is the appendix: every metric of every adapter against
the base, one table per adapter, as report.md shows them.

A paper pastes the files into a one- or a two-column article, so no table may run past the margin in either:
- a table whose natural width (estimated here) exceeds one column of a two-column article is a `table*`, which
  spans both columns there and is an ordinary float in a one-column article; the paper table splits its metrics
  over several tables rather than grow past the text width;
- every tabular is measured by TeX and, only where it is still wider than the line, scaled down to \\linewidth
  (\\resizebox from graphicx); a table that fits is never scaled. Each writes its natural width and the line's to
  the log ("harness-table <label>: natural <w>, line <l>"), so a build can check the scale;
- labels start with the run folder's name (tab:<run>-main), so two runs' tables can share one paper.
Negative numbers carry a true minus ($-$), never a hyphen.
"""

from __future__ import annotations

import re

from harness.core import stats
from harness.core.arms import BASE_ARM
from reports import document, notes, numbers, paper, tables
from reports.data import Report

_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
            "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "↑": r"$\uparrow$",
            "↓": r"$\downarrow$", "Δ": r"$\Delta$", "α": r"$\alpha$", "−": "$-$", "—": "--", "…": r"\ldots{}",
            "<": r"\textless{}", ">": r"\textgreater{}"}

# One column of a two-column article (standard classes, 10pt, letter or A4): about 229-252 pt. A table estimated
# wider than this becomes a table*; the TeX-side guard below catches what the estimate gets wrong.
COLUMN_PT = 225.0
_CHAR_PT = {True: 4.6, False: 5.1}  # an average character in \small / \normalsize text figures and letters
_COLSEP_PT = 8.0  # 2 \tabcolsep, set to 4pt in each table

# A hyphen-minus that is a number's sign: at the start of a cell or after a space, bracket or parenthesis, before a
# digit. Names such as "lora-r8" or "2e-4" keep theirs.
_SIGN = re.compile(r"(?:(?<=^)|(?<=[\s\[(,]))-(?=\.?\d)")
# "+0.3500 [+0.1295, +0.5360] **" -> value "+0.3500 **", interval "[+0.1295, +0.5360]"; "-3.512 (n too small: ...)"
# and "40 (MDE 0.33 / 0.36)" -> the value over its parenthesis.
_WITH_CI = re.compile(r"^(\S+) (\[[^\]]*\])(.*)$")
_WITH_NOTE = re.compile(r"^(\S+) (\(.*\))$")


def tex(s) -> str:
    return "".join(_SPECIAL.get(ch, ch) for ch in str(s))


def number(s) -> str:
    """A cell that holds numbers, escaped, with a true minus for every negative sign."""
    return _SIGN.sub("$-$", tex(s))


def _lines(cell: str, numeric: bool) -> list[str]:
    """A cell as one or two lines of plain text: the value, then its interval or note."""
    cell = str(cell)
    if numeric:
        m = _WITH_CI.match(cell)
        if m:
            return [(m.group(1) + m.group(3)).rstrip(), m.group(2)]
        m = _WITH_NOTE.match(cell)
        if m:
            return [m.group(1), m.group(2)]
    return [cell]


def _header_lines(h: str) -> list[str]:
    if "\n" in h:
        return h.split("\n")
    m = re.match(r"^(.*\S) (\[.*\])$", h)
    return [m.group(1), m.group(2)] if m else [h]


def _cell(lines: list[str], align: str, escape, bold: bool = False, header: bool = False) -> str:
    first = escape(lines[0])
    if bold:
        first = rf"\textbf{{{first}}}"
    if len(lines) == 1:
        return first
    # A header's lines read alike and sit on the header's baseline; a cell's interval or note is smaller, under it.
    # (each line in braces: "\\ [" would read the bracket as \\'s optional argument).
    rest = r" \\ ".join(rf"{{{escape(x)}}}" if header else rf"{{\footnotesize {escape(x)}}}" for x in lines[1:])
    return rf"\begin{{tabular}}[{'b' if header else 't'}]{{@{{}}{align}@{{}}}}{first} \\ {rest}\end{{tabular}}"


def _width(text: str, small: bool) -> float:
    return len(text) * _CHAR_PT[small]


def natural_width(t: document.Table, small: bool) -> float:
    """An estimate of the tabular's width in pt, as laid out by environment()."""
    total = 0.0
    for j, h in enumerate(t.header):
        widths = [_width(x, small) for x in _header_lines(h)]
        for row in t.rows:
            lines = _lines(row[j], t.numeric[j])
            widths.append(_width(lines[0], small))
            widths += [_width(x, small) * 0.85 for x in lines[1:]]  # \footnotesize
        total += max(widths) + _COLSEP_PT
    return total


def environment(t: document.Table, label: str, small: bool = True) -> list[str]:
    cols = "".join("r" if num else "l" for num in t.numeric)
    float_env = "table" if natural_width(t, small) <= COLUMN_PT else "table*"
    header = [_cell(_header_lines(h), "r" if t.numeric[j] else "l", tex, header=True) for j, h in enumerate(t.header)]
    out = [rf"\begin{{{float_env}}}[t]", r"\centering", *([r"\small"] if small else []), r"\setlength{\tabcolsep}{4pt}",
           # Measure the tabular; scale it down to the line only where it is wider (a one- or two-column paper).
           r"\setbox0=\hbox{%", rf"\begin{{tabular}}{{{cols}}}", r"\toprule", " & ".join(header) + r" \\", r"\midrule"]
    for i, row in enumerate(t.rows):
        cells = [_cell(_lines(c, t.numeric[j]), "r" if t.numeric[j] else "l", number if t.numeric[j] else tex,
                       bold=(i, j) in t.bold) for j, c in enumerate(row)]
        out.append(("{}" if cells[0].startswith("[") else "") + " & ".join(cells) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}}%", *_guard(label), rf"\caption{{{tex(t.caption)}}}", rf"\label{{{label}}}",
            rf"\end{{{float_env}}}"]
    return out


def _guard(label: str) -> list[str]:
    """Box 0 (the tabular) printed at its width, or scaled to the line where it is wider; both widths logged."""
    return [rf"\typeout{{harness-table {label}: natural \the\wd0, line \the\linewidth}}%",
            # (a paper without graphicx still compiles: the table is then printed at its natural width)
            # \leavevmode: a box in vertical mode ignores \centering; in a paragraph it is centred
            r"\leavevmode\ifdim\wd0>\linewidth\ifdefined\resizebox\resizebox{\linewidth}{!}{\box0}\else\box0\fi\else\box0\fi"]


# --- the compact sweep table ---------------------------------------------------------------------------------------

def targets_summary(modules, trained_as=None) -> str:
    """Target modules in a few characters: "q,k,v,o" for the attention projections, "all-linear (7)" where the
    adapter was trained on every linear layer, "12 modules" where the list is long. PEFT configs may hold full module
    paths ("model.layers.0.self_attn.q_proj"): only the last part of each names the kind of layer."""
    if isinstance(modules, str):
        modules = [m.strip() for m in modules.split(",") if m.strip()] if "," in modules else modules
    if isinstance(modules, str):
        return modules if len(modules) <= 14 else "regex"
    if not modules:
        return "all-linear" if trained_as == "all-linear" else "—"
    kinds = list(dict.fromkeys(str(m).rsplit(".", 1)[-1] for m in modules))
    if trained_as == "all-linear" or (len(kinds) >= 7 and {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                               "up_proj", "down_proj"} <= set(kinds)):
        return f"all-linear ({len(kinds)})"
    short = ",".join(k[:-len("_proj")] if k.endswith("_proj") and len(k) > len("_proj") else k for k in sorted(
        kinds, key=lambda k: (_ORDER.index(k) if k in _ORDER else len(_ORDER), k)))
    return short if len(short) <= 14 else f"{len(kinds)} modules"


_ORDER = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def training_length(summary: dict | None) -> str:
    """'15 steps' for a --max-steps run (from the training record), '3 epochs' otherwise; '—' for an adapter
    trained elsewhere."""
    if not summary:
        return "—"
    cfg = summary.get("config") or {}
    max_steps = cfg.get("max_steps")
    if isinstance(max_steps, (int, float)) and max_steps > 0:
        steps = summary.get("steps", max_steps)
        return f"{numbers.count(steps)} steps"
    epochs = cfg.get("epochs")
    if not isinstance(epochs, (int, float)) or isinstance(epochs, bool):
        return f"{numbers.count(summary['steps'])} steps" if isinstance(summary.get("steps"), int) else "—"
    text = f"{epochs:g}"
    return f"{text} epoch" if text == "1" else f"{text} epochs"


def _trained(arm) -> str:
    """A checkpoint of a sweep is as long as its step; a finished adapter as long as its training ran."""
    step = ((arm.adapter or {}).get("checkpoint") or {}).get("step")
    return f"step {numbers.count(step)}" if isinstance(step, int) else training_length(arm.train_summary)


def learning_rate(v) -> str:
    if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
        return "—"
    mantissa, exponent = f"{v:.1e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def sweep_table(report: Report) -> document.Table | None:
    """The adapters' hyper-parameters, one row each (their scores are the paper table's)."""
    arms = [a for a in report.arms if a.name != BASE_ARM]
    if not arms:
        return None
    t = document.Table("adapters", ["Adapter", "r", "α", "dropout", "targets", "lr", "trained"],
                       numeric=[False, True, True, True, False, True, False],
                       caption="Adapters: LoRA rank r, α, dropout, target modules (their kind of layer, _proj left out), "
                               "learning rate and training length (a checkpoint's step; optimiser steps when training "
                               "stopped after a fixed number of steps, epochs otherwise).")
    for a in arms:
        peft = (a.adapter or {}).get("peft", {})
        summary = a.train_summary or {}
        cfg = summary.get("config") or {}
        modules = peft.get("target_modules") or summary.get("target_modules")
        t.rows.append([a.name, str(peft.get("r", "—")), str(peft.get("lora_alpha", "—")),
                       str(peft.get("lora_dropout", "—")), targets_summary(modules, cfg.get("target_modules")),
                       learning_rate(cfg.get("learning_rate")), _trained(a)])
    return t


# --- the paper table -----------------------------------------------------------------------------------------------

def _spec(style: str) -> str:
    """One metric's tabular columns: integer part (r), '.fraction' (l), so that decimal points line up, then the
    CI part and the significance mark."""
    return "r@{}l" + (r"@{\,}l" if style != "none" else "") + "@{}l"


def _split(value: str) -> tuple[str, str]:
    whole, dot, frac = value.partition(".")
    return whole, dot + frac


def _paper_cells(col: dict, i: int, style: str) -> list[str]:
    value, extra, mark = col["cells"][i]
    whole, frac = _split(value)
    bold = col["bold"] == i and value != numbers.MISSING
    cells = [number(whole), number(frac)]
    if bold:
        cells = [rf"\textbf{{{c}}}" if c else c for c in cells]
    if style != "none":
        body = number(extra.lstrip("±"))
        cells.append((r"{\footnotesize " + (r"$\pm$" if extra.startswith("±") else "") + body + "}") if extra else "")
    cells.append({paper.BETTER: r"$^{*}$", paper.WORSE: r"$^{\dagger}$", paper.SMALL: r"$^{\circ}$"}.get(mark, ""))
    return cells


def _paper_caption(report: Report, style: str, first: str | None = None) -> str:
    """Two sentences: what the table holds and what its marks mean; a table split from the first refers to it."""
    if first:
        return rf"Table~\ref{{{first}}} continued: the same models, documents, intervals and marks."
    ci = {"pm": r"; $\pm$ is the half-width of each score's 95\% confidence interval (the interval itself where it is "
                r"lopsided)", "ci": r"; brackets give each score's 95\% confidence interval", "none": ""}[style]
    return (rf"Base model and adapters on the same documents (n per task in the header){ci}. "
            rf"$^{{*}}$ ($^{{\dagger}}$): significantly better (worse) than the base in a paired test at 5\% after "
            rf"{tex(notes.adjustment(report))} adjustment, $^{{\circ}}$: too few documents for that test, bold: "
            rf"significantly better than every other row.")


def paper_environment(report: Report, cols: list[dict], style: str, label: str, first: str | None = None) -> list[str]:
    arms = [BASE_ARM, *report.adapters]
    names = ["Base" if a == BASE_ARM else a for a in arms]
    per = 4 if style != "none" else 3
    float_env = "table" if paper.width(cols, names) <= paper.COLUMN_PT else "table*"
    tasks = list(dict.fromkeys(c["task"] for c in cols))
    top, rules, start = [""], [], 2
    for task in tasks:
        mine = [c for c in cols if c["task"] == task]
        n = next((c["n"] for c in mine if c["n"] is not None), None)
        head = tex(paper.human_task(task)) + (f" ($n{{=}}{n}$)" if n is not None else "")
        top.append(rf"\multicolumn{{{per * len(mine)}}}{{c}}{{{head}}}")
        rules.append(rf"\cmidrule(lr){{{start}-{start + per * len(mine) - 1}}}")
        start += per * len(mine)
    second = ["Model"] + [rf"\multicolumn{{{per}}}{{c}}{{{tex(paper.human_metric(c['metric']))} "
                          + (r"$\uparrow$" if c["higher"] else r"$\downarrow$") + "}" for c in cols]
    out = [rf"\begin{{{float_env}}}[t]", r"\centering", r"\small", r"\setlength{\tabcolsep}{4pt}", r"\setbox0=\hbox{%",
           rf"\begin{{tabular}}{{l{''.join(_spec(style) for _ in cols)}}}", r"\toprule", " & ".join(top) + r" \\",
           " ".join(rules), " & ".join(second) + r" \\", r"\midrule"]
    for i, name in enumerate(names):
        out.append(" & ".join([tex(name), *[x for c in cols for x in _paper_cells(c, i, style)]]) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}}%", *_guard(label), rf"\caption{{{_paper_caption(report, style, first)}}}",
            rf"\label{{{label}}}", rf"\end{{{float_env}}}"]
    return out


def paper_tables(report: Report, metrics: str | None = None, style: str = "pm") -> list[str]:
    picked = paper.choose(report, metrics)
    if not picked:
        return []
    index = tables.comparison_index(report)
    cols = [paper.column(report, index, task, metric, style) for task, metric in picked]
    names = ["Base", *report.adapters]
    prefix = paper.label_prefix(report)
    out = []
    for k, group in enumerate(paper.groups(cols, names)):
        out += paper_environment(report, group, style, f"tab:{prefix}-main" + (f"-{k + 1}" if k else ""),
                                 f"tab:{prefix}-main" if k else None) + [""]
    return out


def _p_cell(c: dict | None) -> str:
    """The adjusted p of a comparison in the run's family, the raw p of a descriptive one, the exact sign-flip p of
    one with too few documents ("0.031 (exact)")."""
    if not c:
        return numbers.MISSING
    if tables.present(c.get("p_adjusted")) and not tables.descriptive(c):
        return numbers.p_value(c["p_adjusted"])
    if tables.present(c.get("p_value")):
        return numbers.p_value(c["p_value"]) + (" (raw)" if tables.descriptive(c) else "")
    if tables.present(c.get("p_exact")):
        return numbers.p_value(c["p_exact"]) + " (exact)"
    return numbers.MISSING


def full_table(report: Report, arm: str) -> document.Table:
    """Every metric of one adapter against the base: value, Δ, its CI and p in columns of their own."""
    head = tables.headline(report, all_metrics=True)
    adj = notes.adjustment(report)
    t = document.Table(f"full-{arm}", ["Task", "Metric", "n", "Base", arm, "Δ", "95% CI", f"p ({adj})"],
                       numeric=[False, False, True, True, True, True, True, True],
                       caption=f"{arm} against the base, every metric, on the same documents (↑ higher is better, ↓ "
                               f"lower). p: adjusted ({adj}) over the run's comparisons; (raw): a per-group row outside "
                               f"that family; n too small, (exact): too few documents for an interval, the exact paired "
                               f"sign-flip test, not adjusted.")
    for _, r in head.iterrows():
        if document._is_count(r["metric"]):
            continue
        c = r.get(f"{arm}:comparison") if isinstance(r.get(f"{arm}:comparison"), dict) else None
        d, lo, hi = numbers.delta_parts(c.get("delta") if c else None, (c or {}).get("ci95"))
        t.rows.append([r["task"], f"{r['metric']} {'↓' if r['higher_is_better'] is False else '↑'}",
                       document.count_text(c) if c else numbers.count(r.get("n")),
                       document.value_text(r["metric"], r.get(BASE_ARM)), document.value_text(r["metric"], r.get(arm)),
                       d, f"[{lo}, {hi}]" if lo is not None else
                       "n too small" if c and c.get("test") == stats.N_TOO_SMALL else numbers.MISSING, _p_cell(c)])
    return t


def render_full(report: Report) -> str:
    """tables-full.tex: every metric of every adapter against the base, for an appendix."""
    prefix = paper.label_prefix(report)
    parts = [r"% Generated by harness report: the appendix tables; \input{} it after \usepackage{booktabs,graphicx}."]
    for arm in report.adapters:
        t = full_table(report, arm)
        parts += environment(t, f"tab:{prefix}-full-{re.sub(r'[^A-Za-z0-9-]+', '-', arm)}") + [""]
    return "\n".join(parts).rstrip("\n") + "\n"


def render(report: Report, metrics: str | None = None, style: str = "pm") -> str:
    """tables.tex: the paper table(s), the Yelp F1 table and the adapters' hyper-parameters."""
    prefix = paper.label_prefix(report)
    parts = [r"% Generated by harness report; \input{} it after \usepackage{booktabs,graphicx}. Every metric: tables-full.tex."]
    parts += paper_tables(report, metrics, style)
    yelp = document.yelp_f1_table(report)
    if yelp:
        # bold as in the paper table: only a best that beats every other row, never one of a tied set
        index = tables.comparison_index(report)
        yelp.bold = {(paper.column(report, index, "yelp", m, "none")["bold"], 1 + j)
                     for j, m in enumerate(["f1_micro", "f1_macro", "f1_weighted"])} - {(None, 1), (None, 2), (None, 3)}
        parts += environment(yelp, f"tab:{prefix}-yelp") + [""]
    sweep = sweep_table(report)
    if sweep:
        parts += environment(sweep, f"tab:{prefix}-adapters")
    return "\n".join(parts).rstrip("\n") + "\n"
