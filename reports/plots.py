"""Plots with matplotlib (Agg backend, no display): PNG and PDF under plots/."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from reports import tables
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


def bars(report: Report, out: Path, formats) -> list[str]:
    head = tables.headline(report)
    if head.empty:
        return []
    plt = _plt()
    arms = ["base", *report.adapters]
    n = len(head)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    s = report.scores
    for ax, (_, r) in zip(axes.flat, head.iterrows()):
        vals, errs = [], [[], []]
        for a in arms:
            sel = s[(s.task == r["task"]) & (s.metric == r["metric"]) & (s.arm == a)]
            v = float(sel["value"].iloc[0]) if len(sel) else float("nan")
            ci = sel["ci95"].iloc[0] if len(sel) else None
            vals.append(v)
            lo, hi = (ci if isinstance(ci, list) else [v, v])
            errs[0].append(max(v - lo, 0))
            errs[1].append(max(hi - v, 0))
        ax.bar(range(len(arms)), vals, yerr=errs, capsize=3, color=["#888888"] + [f"C{i}" for i in range(len(arms) - 1)])
        ax.set_xticks(range(len(arms)), arms, rotation=30, ha="right", fontsize=7)
        ax.set_title(f"{r['task']}: {r['metric']}", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle("Scores with 95% CIs", fontsize=9)
    fig.tight_layout()
    return _save(fig, out, "scores", formats)


def forest(report: Report, out: Path, formats) -> list[str]:
    c = report.comparisons
    if c.empty:
        return []
    head = tables.headline(report)
    keep = {(r["task"], r["metric"]) for _, r in head.iterrows()}
    c = c[[(t, m) in keep for t, m in zip(c.task, c.metric)]]
    if c.empty:
        return []
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 0.32 * len(c) + 1.0))
    labels = []
    for i, (_, r) in enumerate(c.iterrows()):
        lo, hi = r["ci95"] if isinstance(r["ci95"], list) else (r["delta"], r["delta"])
        color = "C3" if r.get("significant") else "C0"
        ax.plot([lo, hi], [i, i], color=color, lw=2)
        ax.plot([r["delta"]], [i], "o", color=color)
        labels.append(f"{r['arm']} · {r['task']} {r['metric']}")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("adapter − base (95% CI; red: p < 0.05)", fontsize=8)
    fig.tight_layout()
    return _save(fig, out, "deltas", formats)


def confusion(report: Report, out: Path, formats) -> list[str]:
    if report.scores.empty or "yelp" not in set(report.scores["task"]):
        return []
    import numpy as np

    plt = _plt()
    arms = ["base", *report.adapters]
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
    for arm in ["base", *report.adapters]:
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
        with open(arm.training_log) as f:
            rows = list(csv.DictReader(f))
        plt = _plt()
        fig, axes = plt.subplots(1, 4, figsize=(13, 2.8))
        for ax, key in zip(axes, ("loss", "eval_loss", "grad_norm", "learning_rate")):
            pts = [(int(r["step"]), float(r[key])) for r in rows if r.get(key)]
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
