"""Plots with matplotlib (Agg backend, no display): PNG and PDF under plots/, in one visual language. The colours
mean what they mean in the tables (green better, vermillion worse, grey neither), every arm keeps its colour from
plot to plot, no text is smaller than 9 pt, and a figure is about as wide in pixels as the HTML report's column
(about 1150 px), so that its text is not shrunk there. caption() says what each plot shows and how to read it."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

from harness.core.arms import BASE_ARM
from reports import notes, sweep, tables
from reports.data import Report

# Okabe-Ito, which stays distinguishable with every common colour-vision deficiency. The arms get the hues that
# are not better/worse, so an arm's colour never reads as a verdict. The greys are dark enough for text on white.
PALETTE = {
    "better": "#009E73",  # bluish green
    "worse": "#D55E00",  # vermillion
    "neutral": "#767676",
    "base": "#333333",
    "arms": ("#0072B2", "#E69F00", "#CC79A7", "#56B4E9", "#F0E442"),
}
COLOUR_WORDS = {"#333333": "dark grey", "#0072B2": "blue", "#E69F00": "orange", "#CC79A7": "pink",
                "#56B4E9": "sky blue", "#F0E442": "yellow"}
# The deltas plot never relies on colour alone: each verdict has its marker and its words.
MARKS = {"better": ("^", "▲ better"), "worse": ("v", "▼ worse"), "neutral": ("o", "n.s.")}
SMALL, TEXT, TITLE = 9, 10, 11  # pt; at DPI a 9 pt text is about 14 px high
DPI = 110
PANEL = 3.5  # inches: three panels a row make a figure of about 1150 px at DPI, the report's column


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out: Path, name: str, formats: set[str]) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for ext in ("png", "pdf"):
        if ext in formats:
            fig.savefig(out / f"{name}.{ext}", dpi=DPI, bbox_inches="tight", metadata={"CreationDate": None} if ext == "pdf" else None)
            written.append(f"plots/{name}.{ext}")
    _plt().close(fig)
    return written


def arm_colours(report: Report) -> dict[str, str]:
    """Each arm's colour, the same in every plot that tells the arms apart."""
    arms = PALETTE["arms"]
    return {BASE_ARM: PALETTE["base"], **{a: arms[i % len(arms)] for i, a in enumerate(report.adapters)}}


def _arm_words(report: Report) -> str:
    return ", ".join(f"{a} {COLOUR_WORDS[c]}" for a, c in arm_colours(report).items())


def _chance(report: Report, task: str, metric: str, arm: str = BASE_ARM) -> float | None:
    """The chance level a score is read against (accuracy-like metrics of classification tasks)."""
    if metric not in ("accuracy", "acc", "accuracy_drop"):
        return None
    for d in report.diagnostics:
        if d["task"] == task and d["arm"] == arm:
            return d["chance_accuracy"]
    return None


def _grid(n: int, width: float, height: float):
    plt = _plt()
    cols = min(3, n)
    rows = math.ceil(n / cols)
    # Constrained layout makes room for the suptitle, which tight_layout lets overlap the top row's titles.
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False, layout="constrained")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    return fig, list(axes.flat)[:n]


def bars(report: Report, out: Path, formats) -> list[str]:
    """Each headline metric on its own axes: every arm's value with the 95% CI the per-task tables print (Wilson,
    t or bootstrap, as the Statistics note says), and the chance level where there is one."""
    head = tables.headline(report)
    if head.empty:
        return []
    colours = arm_colours(report)
    arms = list(colours)
    fig, axes = _grid(len(head), PANEL, 3.2)
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
        ax.bar(range(len(arms)), vals, color=list(colours.values()), edgecolor="black", lw=0.5)
        # Only arms with a CI get a whisker: a zero-length one would read as a very precise value.
        for i, (v, ci) in enumerate(zip(vals, cis)):
            if ci is not None:
                ax.errorbar([i], [v], yerr=[[max(v - ci[0], 0)], [max(ci[1] - v, 0)]], color="black", capsize=4)
        chance = _chance(report, r["task"], r["metric"])
        if chance is not None:
            ax.axhline(chance, color="black", ls="--", lw=1)
            ax.text(len(arms) - 0.5, chance, "chance", fontsize=SMALL, va="bottom", ha="right",
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1})
        ax.set_xticks(range(len(arms)), arms, rotation=25, ha="right", fontsize=TEXT)
        n = r.get("n")
        no_ci = textwrap.fill("no CI: " + " / ".join(sorted(why)), 40) if why else ""
        ax.set_title(f"{r['task']}: {r['metric']}" + (f" (n={int(n)})" if n == n and n is not None else "")
                     + ("\n" + no_ci if no_ci else ""), fontsize=TEXT)
        ax.tick_params(labelsize=TEXT)
    fig.suptitle("Scores with their 95% CIs (as in the per-task tables)", fontsize=TITLE)
    return _save(fig, out, "scores", formats)


def _verdict(r, hib) -> str:
    """'better', 'worse' or 'neutral': significance from run.json (after the run's adjustment), direction from the
    comparison's own higher_is_better (the headline's where the record lacks it)."""
    if not tables.starred(r):
        return "neutral"
    own = r.get("higher_is_better")
    # bool(): pandas hands out numpy booleans, and numpy's False is not Python's False.
    higher = bool(own) if tables.present(own) else hib is not False
    return "better" if (r["delta"] > 0) == higher else "worse"


def _forest_keys(report: Report) -> list[tuple]:
    """(task, metric, higher_is_better) of the headline metrics that have comparisons."""
    c = report.comparisons
    head = tables.headline(report)
    if c.empty or head.empty:
        return []
    keys = [(r["task"], r["metric"], r.get("higher_is_better")) for _, r in head.iterrows()]
    return [k for k in keys if len(c[(c.task == k[0]) & (c.metric == k[1])])]


def _forest_panel(ax, report: Report, task: str, metric: str, hib) -> None:
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
    ax.xaxis.set_major_locator(_plt().MaxNLocator(4))
    lo, hi = ax.get_xlim()
    if hi - lo < 1e-9:  # every delta and bound is 0: a readable symmetric axis, not one scaled to 1e-16
        lo, hi = ax.set_xlim(-1, 1)
    for x, i, label, colour in labels:
        # A label near an edge grows inwards, so that it stays inside its panel.
        at = (x - lo) / (hi - lo)
        ha = "left" if at < 0.3 else "right" if at > 0.7 else "center"
        ax.annotate(label, (x, i), xytext=(0, 6), textcoords="offset points", ha=ha, va="bottom", fontsize=SMALL,
                    color=colour, fontweight="bold")
    ax.set_yticks(range(len(report.adapters)), report.adapters, fontsize=TEXT)
    ax.set_ylim(len(report.adapters) - 0.5, -0.9)
    ax.set_title(f"{task}: {metric} {'↑' if hib is not False else '↓'}", fontsize=TEXT)
    ax.tick_params(labelsize=TEXT)


def forest(report: Report, out: Path, formats) -> list[str]:
    """Each headline metric's deltas on their own axes (perplexity deltas in the hundreds and accuracy deltas in
    hundredths cannot share one), with the CIs the tables give; 'n too small' drawn as a hollow point, no interval."""
    keys = _forest_keys(report)
    if not keys:
        return []
    fig, axes = _grid(len(keys), PANEL, 0.55 * len(report.adapters) + 1.4)
    for ax, (task, metric, hib) in zip(axes, keys):
        _forest_panel(ax, report, task, metric, hib)
    fig.suptitle(f"adapter − base, per-comparison 95% CI\ngreen ▲: significantly better, vermillion ▼: significantly "
                 f"worse, after {notes.adjustment(report)} over {notes.family_words(report)}\n"
                 "grey ● n.s.: not significant, even where the CI excludes 0; hollow ○: n too small, no CI",
                 fontsize=TITLE)
    return _save(fig, out, "deltas", formats)


def _luminance(rgba) -> float:
    """WCAG relative luminance of a colour."""
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgba[:3]]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def confusion(report: Report, out: Path, formats) -> list[str]:
    if report.scores.empty or "yelp" not in set(report.scores["task"]):
        return []
    import numpy as np

    arms = [BASE_ARM, *report.adapters]
    fig, axes = _grid(len(arms), PANEL, 3.4)
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
                dark = _luminance(image.cmap(image.norm(m[i, j]))) < 0.179
                ax.text(j, i, m[i, j], ha="center", va="center", fontsize=TEXT, color="white" if dark else "black")
        ax.set_xticks(range(6), ["1", "2", "3", "4", "5", "?"], fontsize=TEXT)
        ax.set_yticks(range(5), ["1", "2", "3", "4", "5"], fontsize=TEXT)
        ax.set_xlabel("predicted stars (? = no rating)", fontsize=TEXT)
        ax.set_ylabel("true stars", fontsize=TEXT)
        ax.set_title(arm, fontsize=TITLE)
    return _save(fig, out, "yelp_confusion", formats)


def context_sweep(report: Report, out: Path, formats) -> list[str]:
    s = report.scores
    if s.empty:
        return []
    sweep = s[s.task.str.startswith("perplexity_ctx") & (s.metric == "token_perplexity")]
    if sweep.empty:
        return []
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    # A marker per arm as well as a colour, so the lines stay apart in greyscale.
    for (arm, colour), marker in zip(arm_colours(report).items(), "osD^vP" * len(report.arms)):
        sel = sweep[sweep.arm == arm].copy()
        sel["ctx"] = sel.task.str.removeprefix("perplexity_ctx").astype(int)
        sel = sel.sort_values("ctx")
        ax.plot(sel["ctx"], sel["value"], "-", marker=marker, color=colour, label=arm, ms=6)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("context window (tokens)", fontsize=TEXT)
    ax.set_ylabel("token perplexity ↓", fontsize=TEXT)
    ax.tick_params(labelsize=TEXT)
    ax.legend(fontsize=TEXT)
    return _save(fig, out, "perplexity_context", formats)


def checkpoints(report: Report, out: Path, formats) -> list[str]:
    """The primary metric against the training step, one point per checkpoint with its 95% CI as a band, the base
    as a dashed line, the best and its tied set marked; the training loss on a second axis where recorded."""
    sel = sweep.select(report)
    if sel is None:
        return []
    rows = [r for r in sel["rows"] if r["value"] is not None]
    steps = [r["step"] for r in rows]
    fig, ax = _plt().subplots(figsize=(7, 4), layout="constrained")
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
                        fontsize=SMALL, color=PALETTE["better"], fontweight="bold")
    base, _ = sweep.base_score(report, sel)
    if base is not None:
        ax.axhline(base, color=PALETTE["base"], ls="--", lw=1, label="base")
    losses = [(r["step"], r["loss"]) for r in rows if r.get("loss") is not None]
    if losses:
        twin = ax.twinx()
        twin.plot(*zip(*losses), ":", color=PALETTE["neutral"], label="train loss")
        twin.set_ylabel("train loss", fontsize=TEXT)
        twin.tick_params(labelsize=TEXT)
    ax.set_xlabel("training step", fontsize=TEXT)
    ax.set_ylabel(f"{sel['task']} {sel['metric']} {'↑' if sel['higher'] else '↓'}", fontsize=TEXT)
    ax.tick_params(labelsize=TEXT)
    fig.legend(fontsize=SMALL, loc="outside lower center", ncols=3)  # under the axes: never over a line
    return _save(fig, out, "sweep", formats)


def _training_name(arm: str) -> str:
    return f"training_{arm}".replace("/", "_").replace("@", "_")


def training(report: Report, out: Path, formats) -> list[str]:
    written = []
    colours = arm_colours(report)
    for arm in report.arms:
        if not arm.training_log:
            continue
        rows = arm.training_log
        fig, axes = _plt().subplots(2, 2, figsize=(3 * PANEL, 5.6), layout="constrained")
        for ax, key in zip(axes.flat, ("loss", "eval_loss", "grad_norm", "learning_rate")):
            pts = [(int(r["step"]), float(r[key])) for r in rows if r.get(key) is not None]
            if pts:
                ax.plot(*zip(*pts), "-o" if key == "eval_loss" else "-", ms=4, color=colours[arm.name])
            ax.set_title(key, fontsize=TEXT)
            ax.set_xlabel("step", fontsize=TEXT)
            ax.tick_params(labelsize=TEXT)
        fig.suptitle(f"training: {arm.name}", fontsize=TITLE)
        written += _save(fig, out, _training_name(arm.name), formats)
    return written


def render_all(report: Report, out_dir: Path, formats: set[str]) -> list[str]:
    out = out_dir / "plots"
    written = []
    for fn in (bars, forest, confusion, checkpoints, context_sweep, training):
        written += fn(report, out, formats)
    return written


def caption(report, path: str) -> str:
    """What the plot at `path` (as render_all returns it) shows and how to read it: the figure's caption and its
    alt text."""
    stem = Path(path).stem
    if stem == "scores":
        return (f"Each headline metric's value for every arm ({_arm_words(report)}), with whiskers for the 95% CI "
                "the per-task tables print; an arm without a whisker has no CI, and its panel's title says why. "
                "The dashed line, where there is one, is the chance level.")
    if stem == "deltas":
        small = any(not isinstance(ci, list) for ci in report.comparisons.get("ci95", []))
        return ("Each adapter's change against the base (adapter − base) on every headline metric, with its "
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
