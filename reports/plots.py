"""Plots with matplotlib (Agg backend, no display), in one visual language (reports/figstyle.py): the colours mean
what they mean in the tables (green better, vermillion worse, grey neither), every arm keeps its colour, marker,
line style and bar hatch from plot to plot (so arms stay apart printed in greyscale), and caption() says what each
plot shows and how to read it.

Every plot is drawn three times, at the size each use needs, each in the formats asked for (png, pdf):

- plots/<name>.png / .pdf: the screen one, that report.md and report.html show: panels 3.5 in wide, three a row (a
  figure as wide as the HTML report's column at 110 px an inch), no text under 9 pt, with a title;
- plots/<name>-1col.png / .pdf: one column of a two-column paper, 3.3 in wide;
- plots/<name>-2col.png / .pdf: the full width of a two-column paper (a figure*), 6.9 in wide.

The print ones have no text under 8 pt at that width and no figure title (a paper's caption says it: caption()
gives one for them too). Every file is saved at the size it was laid out at (constrained layout, no bbox trimming),
PNGs at 300 dpi, PDFs with TrueType (Type 42) fonts, never Type 3. render_all returns the screen files only, the
ones the reports embed; print_files() names the print ones beside them."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from harness.core.arms import BASE_ARM
from reports import figstyle, notes, paper, sweep, tables
from reports.data import Report
from reports.figstyle import COLOUR_WORDS, DPI, MARKS, PALETTE, PRINT, SCREEN, Size
from reports.figstyle import save as _save

__all__ = ["DPI", "PALETTE", "bars", "caption", "checkpoints", "confusion", "figures", "forest", "print_files",
           "render_all"]


def _styles(report: Report) -> dict[str, figstyle.ArmStyle]:
    """Each arm's colour, marker, line style and hatch, the same in every plot that tells the arms apart."""
    return figstyle.arm_styles([BASE_ARM, *report.adapters])


def _arm_words(report: Report) -> str:
    return ", ".join(f"{a} {COLOUR_WORDS[s.colour]}" for a, s in _styles(report).items())


def _emit(draw, out: Path, name: str, formats) -> list[str]:
    """draw(size) at the screen size, saved as <name>.<ext>, then at each print size, as <name><suffix>.<ext>;
    the screen files written ([] where draw has nothing to draw)."""
    with figstyle.style(SCREEN):
        fig = draw(SCREEN)
        if fig is None:
            return []
        written = _save(fig, out, name, formats)  # by this module's name: the screen figure is the one tests catch
    for size in PRINT:
        with figstyle.style(size):
            figstyle.save(draw(size), out, name + size.suffix, formats)
    return written


def _chance(report: Report, task: str, metric: str, arm: str = BASE_ARM) -> float | None:
    """The chance level a score is read against (accuracy-like metrics of classification tasks)."""
    if metric not in ("accuracy", "acc", "accuracy_drop"):
        return None
    for d in report.diagnostics:
        if d["task"] == task and d["arm"] == arm:
            return d["chance_accuracy"]
    return None


def _bars(report: Report, size: Size):
    """Each headline metric on its own axes: every arm's value with the 95% CI the per-task tables print (Wilson,
    t or bootstrap, as the Statistics note says), and the chance level where there is one."""
    head = _headline(report, size)
    if head.empty:
        return None
    styles = _styles(report)
    arms = list(styles)
    fig, axes = size.grid(len(head), 3.2)
    width = size.panel(min(size.cols, len(head)))
    s = report.scores
    for ax, (_, r) in zip(axes, head.iterrows()):
        vals, cis, why = [], [], set()
        for a in arms:
            sel = s[(s.task == r["task"]) & (s.metric == r["metric"]) & (s.arm == a)]
            vals.append(float(sel["value"].iloc[0]) if len(sel) else float("nan"))
            ci = sel["ci95"].iloc[0] if len(sel) and "ci95" in sel else None
            cis.append(ci if isinstance(ci, list) else None)
            if len(sel) and cis[-1] is None:
                why.add(tables.no_ci_reason(report, sel["n"].iloc[0] if "n" in sel else None, r["task"]))
        ax.bar(range(len(arms)), vals, color=[st.colour for st in styles.values()],
               hatch=[st.hatch for st in styles.values()], edgecolor="black", lw=0.5)
        # Only arms with a CI get a whisker: a zero-length one would read as a very precise value.
        for i, (v, ci) in enumerate(zip(vals, cis)):
            if ci is not None:
                ax.errorbar([i], [v], yerr=[[max(v - ci[0], 0)], [max(ci[1] - v, 0)]], color="black", capsize=4)
        chance = _chance(report, r["task"], r["metric"])
        if chance is not None:
            ax.axhline(chance, color="black", ls="--", lw=1)
            ax.text(len(arms) - 0.5, chance, "chance", fontsize=size.small, va="bottom", ha="right",
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1})
        ax.set_xticks(range(len(arms)), arms, rotation=25, ha="right", fontsize=size.text)
        n = r.get("n")
        title = f"{r['task']}: {r['metric']}" + (f" (n={int(n)})" if n == n and n is not None else "")
        no_ci = "\nno CI: " + " / ".join(sorted(why)) if why else ""
        ax.set_title(size.wrap(title + no_ci, size.text, width), fontsize=size.text)
        ax.tick_params(labelsize=size.text)
    if size.titled:
        fig.suptitle("Scores with their 95% CIs (as in the per-task tables)", fontsize=size.title)
    return fig


def bars(report: Report, out: Path, formats) -> list[str]:
    return _emit(partial(_bars, report), out, "scores", formats)


def _verdict(r, hib) -> str:
    """'better', 'worse' or 'neutral': significance from run.json (after the run's adjustment), direction from the
    comparison's own higher_is_better (the headline's where the record lacks it)."""
    if not tables.starred(r):
        return "neutral"
    own = r.get("higher_is_better")
    # bool(): pandas hands out numpy booleans, and numpy's False is not Python's False.
    higher = bool(own) if tables.present(own) else hib is not False
    return "better" if (r["delta"] > 0) == higher else "worse"


def _headline(report: Report, size: Size):
    """The headline rows a plot draws: every one on screen; in print the paper table's metrics (reports/paper.py),
    so that a figure at column width stays a few panels high."""
    head = tables.headline(report)
    if size.titled or head.empty:
        return head
    keep = set(paper.choose(report, None))
    return head[[(t, m) in keep for t, m in zip(head["task"], head["metric"])]]


def _forest_keys(report: Report, size: Size) -> list[tuple]:
    """(task, metric, higher_is_better) of the headline metrics that have comparisons."""
    c = report.comparisons
    head = _headline(report, size)
    if c.empty or head.empty:
        return []
    keys = [(r["task"], r["metric"], r.get("higher_is_better")) for _, r in head.iterrows()]
    return [k for k in keys if len(c[(c.task == k[0]) & (c.metric == k[1])])]


def _forest_panel(ax, report: Report, key: tuple, size: Size, width: float) -> None:
    task, metric, hib = key
    c = report.comparisons
    sel = c[(c.task == task) & (c.metric == metric)]
    labels = []
    for i, a in enumerate(report.adapters):
        row = sel[sel.arm == a]
        if not len(row):
            continue
        r = row.iloc[0]
        if isinstance(r["ci95"], list):
            kind = _verdict(r, hib)
            colour, (marker, label) = PALETTE[kind], MARKS[kind]
            ax.plot(r["ci95"], [i, i], color=colour, lw=2)
            ax.plot([r["delta"]], [i], marker, color=colour, ms=8)
        else:
            colour, label = PALETTE["neutral"], "n too small"
            ax.plot([r["delta"]], [i], "o", mfc="none", color=colour, ms=8)
        labels.append((r["delta"], i, label, colour))
    ax.axvline(0, color="black", lw=0.8)
    # Room for the points and their labels at the edges, and few enough ticks that small deltas stay legible.
    ax.margins(x=0.25)
    ax.xaxis.set_major_locator(figstyle.pyplot().MaxNLocator(4 if width >= 3 else 3 if width >= 2 else 2))
    lo, hi = ax.get_xlim()
    if hi - lo < 1e-9:  # every delta and bound is 0: a readable symmetric axis, not one scaled to 1e-16
        lo, hi = ax.set_xlim(-1, 1)
    for x, i, label, colour in labels:
        # A label near an edge grows inwards, so that it stays inside its panel: nearer than half its width (bold,
        # about 0.7 em a glyph, on axes about 3/4 of the panel) or than 30% of the axes.
        at = (x - lo) / (hi - lo)
        edge = max(0.3, len(label) * 0.7 * size.small / 72 / 2 / (0.75 * width))
        ha = "left" if at < edge else "right" if at > 1 - edge else "center"
        ax.annotate(label, (x, i), xytext=(0, 6), textcoords="offset points", ha=ha, va="bottom",
                    fontsize=size.small, color=colour, fontweight="bold")
    ax.set_yticks(range(len(report.adapters)), report.adapters, fontsize=size.text)
    ax.set_ylim(len(report.adapters) - 0.5, -0.9)
    ax.set_title(size.wrap(f"{task}: {metric} {'↑' if hib is not False else '↓'}", size.text, width),
                 fontsize=size.text)
    ax.tick_params(labelsize=size.text)


def _forest(report: Report, size: Size):
    """Each headline metric's deltas on their own axes (perplexity deltas in the hundreds and accuracy deltas in
    hundredths cannot share one), with the CIs the tables give; 'n too small' drawn as a hollow point, no interval."""
    keys = _forest_keys(report, size)
    if not keys:
        return None
    fig, axes = size.grid(len(keys), 0.55 * len(report.adapters) + 1.4)
    for ax, key in zip(axes, keys):
        _forest_panel(ax, report, key, size, size.panel(min(size.cols, len(keys))))
    if size.titled:
        fig.suptitle(f"adapter − base, per-comparison 95% CI\ngreen ▲: significantly better, vermillion ▼: "
                     f"significantly worse, after {notes.adjustment(report)} over {notes.family_words(report)}\n"
                     "grey ● n.s.: not significant, even where the CI excludes 0; hollow ○: n too small, no CI",
                     fontsize=size.title)
    return fig


def forest(report: Report, out: Path, formats) -> list[str]:
    return _emit(partial(_forest, report), out, "deltas", formats)


def _confusion(report: Report, size: Size):
    if report.scores.empty or "yelp" not in set(report.scores["task"]):
        return None
    import numpy as np

    arms = [BASE_ARM, *report.adapters]
    fig, axes = size.grid(len(arms), 3.4)
    width = size.panel(min(size.cols, len(arms)))
    for ax, arm in zip(axes, arms):
        m = np.zeros((5, 6), int)
        for r in report.samples(arm, "yelp"):
            pair = (r.get("metrics") or {}).get("accuracy")
            if isinstance(pair, list):
                m[pair[0], pair[1] if pair[1] >= 0 else 5] += 1
        image = ax.imshow(m, cmap="Blues", vmin=0, vmax=max(int(m.max()), 1))
        for i in range(5):
            for j in range(6):
                # Below 0.179 white has the higher contrast (WCAG): the same threshold on the normalised count.
                dark = figstyle.luminance(image.cmap(image.norm(m[i, j]))) < 0.179
                ax.text(j, i, m[i, j], ha="center", va="center", fontsize=size.text,
                        color="white" if dark else "black")
        ax.set_xticks(range(6), ["1", "2", "3", "4", "5", "?"], fontsize=size.text)
        ax.set_yticks(range(5), ["1", "2", "3", "4", "5"], fontsize=size.text)
        ax.set_xlabel(size.wrap("predicted stars (? = no rating)", size.text, width), fontsize=size.text)
        ax.set_ylabel("true stars", fontsize=size.text)
        ax.set_title(size.wrap(arm, size.title, width), fontsize=size.title)
    return fig


def confusion(report: Report, out: Path, formats) -> list[str]:
    return _emit(partial(_confusion, report), out, "yelp_confusion", formats)


def _context_sweep(report: Report, size: Size):
    s = report.scores
    if s.empty:
        return None
    ctx = s[s.task.str.startswith("perplexity_ctx") & (s.metric == "token_perplexity")]
    if ctx.empty:
        return None
    fig, ax = size.subplots(7, 4)
    # A marker and a line style per arm as well as a colour, so the lines stay apart in greyscale.
    for arm, st in _styles(report).items():
        sel = ctx[ctx.arm == arm].copy()
        sel["ctx"] = sel.task.str.removeprefix("perplexity_ctx").astype(int)
        sel = sel.sort_values("ctx")
        ax.plot(sel["ctx"], sel["value"], ls=st.line, marker=st.marker, color=st.colour, label=arm, ms=6)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("context window (tokens)", fontsize=size.text)
    ax.set_ylabel("token perplexity ↓", fontsize=size.text)
    ax.tick_params(labelsize=size.text)
    ax.legend(fontsize=size.text)
    return fig


def _checkpoints(report: Report, size: Size):
    """The primary metric against the training step, one point per checkpoint with its 95% CI as a band, the base
    as a dashed line, the best and its tied set marked; the training loss on a second axis where recorded."""
    sel = sweep.select(report)
    if sel is None:
        return None
    rows = [r for r in sel["rows"] if r["value"] is not None]
    steps = [r["step"] for r in rows]
    fig, ax = size.subplots(7, 4)
    lo = [r["ci95"][0] if r["ci95"] else r["value"] for r in rows]
    hi = [r["ci95"][1] if r["ci95"] else r["value"] for r in rows]
    colour = PALETTE["arms"][0]
    ax.fill_between(steps, lo, hi, color=colour, alpha=0.2, lw=0)
    ax.plot(steps, [r["value"] for r in rows], "-o", color=colour, ms=5, label=f"{sel['metric']} (95% CI band)")
    for r in rows:
        if r["status"] in ("best", "tied"):
            word = "best" if r["status"] == "best" else "tied"
            ax.plot([r["step"]], [r["value"]], "*" if word == "best" else "s", color=PALETTE["better"], ms=12
                    if word == "best" else 7)
            ax.annotate(word, (r["step"], r["value"]), textcoords="offset points", xytext=(0, 8), ha="center",
                        fontsize=size.small, color=PALETTE["better"], fontweight="bold")
    base, _ = sweep.base_score(report, sel)
    if base is not None:
        ax.axhline(base, color=PALETTE["base"], ls="--", lw=1, label="base")
    losses = [(r["step"], r["loss"]) for r in rows if r.get("loss") is not None]
    if losses:
        twin = ax.twinx()
        twin.plot(*zip(*losses), ":", color=PALETTE["neutral"], label="train loss")
        twin.set_ylabel("train loss", fontsize=size.text)
        twin.tick_params(labelsize=size.text)
    ax.xaxis.set_major_locator(size.steps(0.8 * size.across(7)))  # steps are whole numbers
    ax.set_xlabel("training step", fontsize=size.text)
    ax.set_ylabel(size.wrap(f"{sel['task']} {sel['metric']} {'↑' if sel['higher'] else '↓'}", size.text,
                            0.8 * 4 * size.shrink(size.across(7), 7)), fontsize=size.text)
    ax.tick_params(labelsize=size.text)
    # Under the axes: never over a line; one column where three do not fit beside each other.
    fig.legend(fontsize=size.small, loc="outside lower center", ncols=3 if size.across(7) >= 5 else 1)
    return fig


def checkpoints(report: Report, out: Path, formats) -> list[str]:
    return _emit(partial(_checkpoints, report), out, "sweep", formats)


def _training_name(arm: str) -> str:
    return f"training_{arm}".replace("/", "_").replace("@", "_")


def _training(report: Report, arm, size: Size):
    fig, axes = size.subplots(3 * figstyle.PANEL, 5.6, 2, 2)
    for ax, key in zip(axes.flat, ("loss", "eval_loss", "grad_norm", "learning_rate")):
        pts = [(int(r["step"]), float(r[key])) for r in arm.training_log if r.get(key) is not None]
        if pts:
            ax.plot(*zip(*pts), "-o" if key == "eval_loss" else "-", ms=4, color=_styles(report)[arm.name].colour)
        ax.xaxis.set_major_locator(size.steps(0.4 * size.across(3 * figstyle.PANEL)))
        ax.set_title(key, fontsize=size.text)
        ax.set_xlabel("step", fontsize=size.text)
        ax.tick_params(labelsize=size.text)
    if size.titled:
        fig.suptitle(f"training: {arm.name}", fontsize=size.title)
    return fig


def _drawings(report: Report) -> list[tuple]:
    """(name, draw) of every plot, in the order the reports show them; draw(size) returns the figure drawn at that
    size, or None where the report lacks what the plot shows."""
    fixed = [("scores", _bars), ("deltas", _forest), ("yelp_confusion", _confusion), ("sweep", _checkpoints),
             ("perplexity_context", _context_sweep)]
    return ([(name, partial(draw, report)) for name, draw in fixed]
            + [(_training_name(a.name), partial(_training, report, a)) for a in report.arms if a.training_log])


def figures(report: Report, size: Size, names: set[str] | None = None) -> dict:
    """name (with the size's suffix) -> the matplotlib Figure of every plot the report has (of `names`, default
    all), drawn at `size` (figstyle.SCREEN or one of figstyle.PRINT) and laid out as saving does, not saved: to
    inspect; the caller closes them."""
    found = {}
    with figstyle.style(size):
        for name, draw in _drawings(report):
            fig = draw(size) if names is None or name in names else None
            if fig is not None:
                fig.canvas.draw()  # lays it out and makes its ticks
                found[name + size.suffix] = fig
    return found


def render_all(report: Report, out_dir: Path, formats: set[str]) -> list[str]:
    """Every plot, at every size (module docstring), in `formats`; returns the screen files only (plots/<name>.png
    and .pdf, relative to `out_dir`), the ones the reports embed and link: print_files() names the others."""
    out = out_dir / "plots"
    return [p for name, draw in _drawings(report) for p in _emit(draw, out, name, formats)]


def print_files(written: list[str]) -> list[str]:
    """The print files render_all wrote beside the screen files it returned (`written`)."""
    return [f"{p[:-len(Path(p).suffix)]}{size.suffix}{Path(p).suffix}" for p in written for size in PRINT]


def caption(report, path: str) -> str:
    """What the plot at `path` (as render_all or print_files returns it) shows and how to read it: the figure's
    caption and its alt text."""
    stem = Path(path).stem
    for size in PRINT:
        stem = stem.removesuffix(size.suffix)
    which = "headline metric" if stem == Path(path).stem else "metric of the paper table (tables.tex)"
    if stem == "scores":
        return (f"Each {which}'s value for every arm ({_arm_words(report)}), with whiskers for the 95% CI "
                "the per-task tables print; an arm without a whisker has no CI, and its panel's title says why. "
                "The dashed line, where there is one, is the chance level.")
    if stem == "deltas":
        small = any(not isinstance(ci, list) for ci in report.comparisons.get("ci95", []))
        return (f"Each adapter's change against the base (adapter − base) on every {which}, with its "
                f"per-comparison 95% CI as a horizontal line. Green ▲: significantly better after the "
                f"{notes.adjustment(report)} adjustment over {notes.family_words(report)}; vermillion ▼: "
                "significantly worse; grey ● (n.s.): not significant, even where the CI excludes 0"
                + ("; a hollow point without an interval: too few documents for a CI." if small else "."))
    if stem == "yelp_confusion":
        return (f"Yelp star ratings for each arm ({', '.join([BASE_ARM, *report.adapters])}): true stars in rows, "
                "predicted stars in columns (? = an answer that gave no rating); each cell counts documents, darker "
                "cells hold more, and the diagonal holds the correct answers.")
    if stem == "sweep":
        sel = sweep.select(report)
        return (f"{sel['task']} {sel['metric']} of every checkpoint against its training step, with its 95% CI as a "
                "band; the dashed line is the base. Green star: the best checkpoint; green squares: the checkpoints "
                "statistically tied with it (paired, Bonferroni over every pair of checkpoints)"
                + ("; dotted grey, right axis: the training loss at each checkpoint." if any(
                    r.get("loss") is not None for r in sel["rows"]) else "."))
    if stem == "perplexity_context":
        return ("Token perplexity (lower is better) against the context window in tokens, on a log scale: one line "
                f"per arm ({_arm_words(report)}).")
    arm = next((a.name for a in report.arms if _training_name(a.name) == stem), stem.removeprefix("training_"))
    return (f"Training of {arm} against the optimiser step: training loss, evaluation loss (a point per "
            "evaluation), gradient norm and learning rate.")
