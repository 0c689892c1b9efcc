"""Plots with matplotlib (Agg backend, no display): PNG and PDF under plots/."""

from __future__ import annotations

import math
from pathlib import Path

from harness.core.arms import BASE_ARM
from reports import notes, tables
from reports.data import Report


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
            fig.savefig(out / f"{name}.{ext}", dpi=110, bbox_inches="tight", metadata={"CreationDate": None} if ext == "pdf" else None)
            written.append(f"plots/{name}.{ext}")
    _plt().close(fig)
    return written


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
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    return fig, list(axes.flat)[:n]


def bars(report: Report, out: Path, formats) -> list[str]:
    """Each headline metric on its own axes: every arm's value with the 95% CI the per-task tables print (the
    bootstrap over documents), and the chance level where there is one."""
    head = tables.headline(report)
    if head.empty:
        return []
    arms = [BASE_ARM, *report.adapters]
    fig, axes = _grid(len(head), 3.2, 2.6)
    s = report.scores
    for ax, (_, r) in zip(axes, head.iterrows()):
        vals, cis, why = [], [], set()
        for a in arms:
            sel = s[(s.task == r["task"]) & (s.metric == r["metric"]) & (s.arm == a)]
            vals.append(float(sel["value"].iloc[0]) if len(sel) else float("nan"))
            ci = sel["ci95"].iloc[0] if len(sel) and "ci95" in sel else None
            cis.append(ci if isinstance(ci, list) else None)
            if len(sel) and cis[-1] is None:
                why.add(tables.no_ci_reason(report, sel["n"].iloc[0] if "n" in sel else None))
        ax.bar(range(len(arms)), vals, color=["#888888"] + [f"C{i}" for i in range(len(arms) - 1)])
        # Only arms with a CI get a whisker: a zero-length one would read as a very precise value.
        for i, (v, ci) in enumerate(zip(vals, cis)):
            if ci is not None:
                ax.errorbar([i], [v], yerr=[[max(v - ci[0], 0)], [max(ci[1] - v, 0)]], color="black", capsize=3)
        chance = _chance(report, r["task"], r["metric"])
        if chance is not None:
            ax.axhline(chance, color="black", ls="--", lw=0.8)
            ax.text(len(arms) - 0.5, chance, " chance", fontsize=6, va="bottom", ha="right")
        ax.set_xticks(range(len(arms)), arms, rotation=30, ha="right", fontsize=7)
        n = r.get("n")
        ax.set_title(f"{r['task']}: {r['metric']}" + (f" (n={int(n)})" if n == n and n is not None else "")
                     + ("\nno CI: " + " / ".join(sorted(why)) if why else ""), fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle("Scores with 95% bootstrap CIs (as in the per-task tables)", fontsize=9)
    fig.tight_layout()
    return _save(fig, out, "scores", formats)


def forest(report: Report, out: Path, formats) -> list[str]:
    """Each headline metric's deltas on their own axes (perplexity deltas in the hundreds and accuracy deltas in
    hundredths cannot share one), with the CIs the tables give; 'n too small' drawn as a hollow point, no interval."""
    c = report.comparisons
    head = tables.headline(report)
    if c.empty or head.empty:
        return []
    keys = [(r["task"], r["metric"], r.get("higher_is_better")) for _, r in head.iterrows()]
    keys = [k for k in keys if len(c[(c.task == k[0]) & (c.metric == k[1])])]
    if not keys:
        return []
    fig, axes = _grid(len(keys), 3.2, 0.35 * len(report.adapters) + 1.4)
    for ax, (task, metric, hib) in zip(axes, keys):
        sel = c[(c.task == task) & (c.metric == metric)]
        for i, a in enumerate(report.adapters):
            row = sel[sel.arm == a]
            if not len(row):
                continue
            r = row.iloc[0]
            if isinstance(r["ci95"], list):
                color = "C3" if tables.starred(r) else "C0"  # run.json's significant: after the run's adjustment
                ax.plot(r["ci95"], [i, i], color=color, lw=2)
                ax.plot([r["delta"]], [i], "o", color=color)
            else:
                ax.plot([r["delta"]], [i], "o", mfc="none", color="gray")
                ax.text(r["delta"], i + 0.25, "n too small", fontsize=6, ha="center", color="gray")
        ax.axvline(0, color="black", lw=0.8)
        # Room for the points and their labels at the edges, and few enough ticks that small deltas stay legible.
        ax.margins(x=0.2)
        ax.xaxis.set_major_locator(_plt().MaxNLocator(4))
        lo, hi = ax.get_xlim()
        if hi - lo < 1e-9:  # every delta and bound is 0: a readable symmetric axis, not one scaled to 1e-16
            ax.set_xlim(-1, 1)
        ax.set_yticks(range(len(report.adapters)), report.adapters, fontsize=7)
        ax.set_ylim(len(report.adapters) - 0.5, -0.7)
        ax.set_title(f"{task}: {metric} {'↑' if hib is not False else '↓'}", fontsize=8)
        ax.tick_params(labelsize=7)
    name = notes.adjustment(report)
    fig.suptitle(f"adapter − base, per-comparison 95% CI\nred: significant after {name} over {notes.family_words(report)}"
                 "; blue: not, even where the CI excludes 0", fontsize=9)
    fig.tight_layout()
    return _save(fig, out, "deltas", formats)


def confusion(report: Report, out: Path, formats) -> list[str]:
    if report.scores.empty or "yelp" not in set(report.scores["task"]):
        return []
    import numpy as np

    plt = _plt()
    arms = [BASE_ARM, *report.adapters]
    fig, axes = plt.subplots(1, len(arms), figsize=(3.3 * len(arms), 3.2), squeeze=False)
    for ax, arm in zip(axes[0], arms):
        m = np.zeros((5, 6), int)
        for r in report.samples(arm, "yelp"):
            pair = (r.get("metrics") or {}).get("accuracy")
            if isinstance(pair, list):
                m[pair[0], pair[1] if pair[1] >= 0 else 5] += 1
        ax.imshow(m, cmap="Blues")
        for i in range(5):
            for j in range(6):
                ax.text(j, i, m[i, j], ha="center", va="center", fontsize=7)
        ax.set_xticks(range(6), ["1", "2", "3", "4", "5", "?"], fontsize=7)
        ax.set_yticks(range(5), ["1", "2", "3", "4", "5"], fontsize=7)
        ax.set_xlabel("predicted stars (? = unparseable)", fontsize=7)
        ax.set_ylabel("true stars", fontsize=7)
        ax.set_title(arm, fontsize=8)
    fig.tight_layout()
    return _save(fig, out, "yelp_confusion", formats)


def context_sweep(report: Report, out: Path, formats) -> list[str]:
    s = report.scores
    if s.empty:
        return []
    sweep = s[s.task.str.startswith("perplexity_ctx") & (s.metric == "token_perplexity")]
    if sweep.empty:
        return []
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for arm in [BASE_ARM, *report.adapters]:
        sel = sweep[sweep.arm == arm].copy()
        sel["ctx"] = sel.task.str.removeprefix("perplexity_ctx").astype(int)
        sel = sel.sort_values("ctx")
        ax.plot(sel["ctx"], sel["value"], "o-", label=arm)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("context window (tokens)")
    ax.set_ylabel("token perplexity")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, out, "perplexity_context", formats)


def training(report: Report, out: Path, formats) -> list[str]:
    written = []
    for arm in report.arms:
        if not arm.training_log:
            continue
        rows = arm.training_log
        plt = _plt()
        fig, axes = plt.subplots(1, 4, figsize=(13, 2.8))
        for ax, key in zip(axes, ("loss", "eval_loss", "grad_norm", "learning_rate")):
            pts = [(int(r["step"]), float(r[key])) for r in rows if r.get(key) is not None]
            if pts:
                ax.plot(*zip(*pts), "-o" if key == "eval_loss" else "-", ms=3)
            ax.set_title(key, fontsize=8)
            ax.set_xlabel("step", fontsize=7)
            ax.tick_params(labelsize=7)
        fig.suptitle(f"training: {arm.name}", fontsize=9)
        fig.tight_layout()
        written += _save(fig, out, f"training_{arm.name}".replace("/", "_").replace("@", "_"), formats)
    return written


def render_all(report: Report, out_dir: Path, formats: set[str]) -> list[str]:
    out = out_dir / "plots"
    written = []
    for fn in (bars, forest, confusion, context_sweep, training):
        written += fn(report, out, formats)
    return written
