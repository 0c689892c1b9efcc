"""tables.tex: booktabs tables ready for \\input (needs \\usepackage{booktabs,graphicx} in the paper's preamble).

The same table objects as report.md and report.html (reports/document.py): the main comparison (best value bold,
delta with its CI and n), the Yelp table in the field's usual shape (F1 micro / macro / weighted), and a compact sweep
table with one row per adapter: rank, alpha, dropout, target modules summarised, learning rate, training length
(steps when the adapter was trained with --max-steps, epochs otherwise) and its scores.

A paper pastes the file into a one- or a two-column article, so no table may run past the margin in either:
- a table whose natural width (estimated here) exceeds one column of a two-column article is a `table*`, which
  spans both columns there and is an ordinary float in a one-column article;
- every tabular is measured by TeX and, only where it is still wider than the line, scaled down to \\linewidth
  (\\resizebox from graphicx); a table that fits is never scaled;
- a value and its interval (or its note) stack in one cell, so that three adapters still read at a legible size.
Negative numbers carry a true minus ($-$), never a hyphen.
"""

from __future__ import annotations

import re

from harness.core.arms import BASE_ARM
from reports import document, numbers, tables
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
    out += [r"\bottomrule", r"\end{tabular}}%",
            # (a paper without graphicx still compiles: the table is then printed at its natural width)
            r"\ifdim\wd0>\linewidth\ifdefined\resizebox\resizebox{\linewidth}{!}{\box0}\else\box0\fi\else\box0\fi",
            rf"\caption{{{tex(t.caption)}}}", rf"\label{{{label}}}", rf"\end{{{float_env}}}"]
    return out


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
    arms = [a for a in report.arms if a.name != BASE_ARM]
    if not arms:
        return None
    head = tables.headline(report)
    keys = [(r["task"], r["metric"]) for _, r in head.iterrows()][:4]
    t = document.Table("sweep", ["Adapter", "r", "α", "drop.", "targets", "lr", "trained", *[f"{tk}\n{m}" for tk, m in keys]],
                       numeric=[False, True, True, True, False, True, False, *[True] * len(keys)],
                       caption="Adapters: LoRA rank r, α, dropout, target modules (their kind of layer, _proj left "
                               "out), learning rate, training length (a checkpoint's step; optimiser steps when training "
                               "stopped after a fixed number of steps, epochs otherwise) and scores.")
    for a in arms:
        peft = (a.adapter or {}).get("peft", {})
        summary = a.train_summary or {}
        cfg = summary.get("config") or {}
        modules = peft.get("target_modules") or summary.get("target_modules")
        t.rows.append([a.name, str(peft.get("r", "—")), str(peft.get("lora_alpha", "—")),
                       str(peft.get("lora_dropout", "—")),
                       targets_summary(modules, cfg.get("target_modules")),
                       learning_rate(cfg.get("learning_rate")), _trained(a),
                       *[document.value_text(m, tables.value_of(report.scores, tk, m, a.name)) for tk, m in keys]])
    return t


def render(report: Report) -> str:
    parts = [r"% Generated by harness report; \input{} it after \usepackage{booktabs,graphicx}."]
    parts += environment(document.headline_table(report), "tab:adapter-comparison") + [""]
    yelp = document.yelp_f1_table(report)
    if yelp:
        parts += environment(yelp, "tab:yelp", small=False) + [""]
    sweep = sweep_table(report)
    if sweep:
        parts += environment(sweep, "tab:sweep")
    return "\n".join(parts).rstrip("\n") + "\n"
