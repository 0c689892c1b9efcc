"""The report's content, once: every table and paragraph as plain data that markdown.py, html.py and latex.py render.

Nothing here formats for a medium: cells are plain text (the renderers escape), numbers go through reports.numbers,
and a long prompt is a `Prompt` the medium may fold. A table a reader sees in report.md is the same object in
report.html and (for the main, Yelp and sweep tables) in tables.tex.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.core import stats
from harness.core.arms import BASE_ARM
from reports import numbers, tables, text
from reports.data import Report

MARKERS = "* p < 0.05, ** p < 0.01, *** p < 0.001"


@dataclass
class Prompt:
    """A prompt cell: `tail` is what fits in a table (the last lines: the question), `full` the whole prompt."""

    full: str
    tail: str

    def __str__(self) -> str:
        return self.tail


@dataclass
class Table:
    key: str
    header: list[str]
    rows: list[list] = field(default_factory=list)  # cells: str or Prompt
    numeric: list[bool] = field(default_factory=list)  # right-aligned columns
    bold: set = field(default_factory=set)  # (row, column) of the best value
    tone: dict = field(default_factory=dict)  # (row, column) -> "good" | "bad"
    caption: str = ""


@dataclass
class Block:
    kind: str  # "heading" | "paragraph" | "warning" | "table" | "bullets"
    text: str = ""
    level: int = 2
    table: Table | None = None
    items: list[str] = field(default_factory=list)


def _best(values: list, higher: bool) -> list[int]:
    """Indices of the best value (all of them on a tie); none when there is nothing to choose between."""
    present = [(v, i) for i, v in enumerate(values) if not numbers.missing(v)]
    if len(present) < 2 or len({v for v, _ in present}) < 2:
        return []
    best = (max if higher else min)(v for v, _ in present)
    return [i for v, i in present if v == best]


def _ci(c) -> list | None:
    return c if isinstance(c, list) else None


def comparison_text(delta, ci, p, test, n, min_n=None) -> str:
    """'+0.0312 [+0.0100, +0.0500] **', or '+108.3 (n too small: 2 < 20)'."""
    if numbers.missing(delta):
        return numbers.MISSING
    if test == stats.N_TOO_SMALL:
        return f"{numbers.delta(delta)} (n too small: {numbers.count(n)} < {numbers.count(min_n or stats.MIN_PAIRS)})"
    return f"{numbers.delta(delta, _ci(ci))}{numbers.stars(p)}".strip()


def _n_text(values) -> str:
    ns = sorted({int(v) for v in values if not numbers.missing(v)})
    return "/".join(str(v) for v in ns) if ns else numbers.MISSING


def _is_count(metric: str) -> bool:
    return metric.startswith("n_") or metric in ("n", "count")


def value_text(metric: str, v) -> str:
    return numbers.value(v, integer=_is_count(metric))


# --- the tables ---------------------------------------------------------------------------------------------------

def headline_table(report: Report, all_metrics: bool = False) -> Table:
    head = tables.headline(report, all_metrics)
    arms = report.adapters
    t = Table("headline", ["task", "metric", "n", "base", *arms, *[f"Δ {a} [95% CI]" for a in arms]],
              numeric=[False, False, True, True, *[True] * len(arms), *[True] * len(arms)],
              caption="Base model vs adapters on the same documents. Best value in bold; Δ = adapter − base with its "
                      f"95% CI; {MARKERS}.")
    for i, (_, r) in enumerate(head.iterrows()):
        hib = r["higher_is_better"] is not False
        values = [r.get(a) for a in [BASE_ARM, *arms]]
        t.bold.update((i, 3 + j) for j in _best(values, hib))
        cells = [r["task"], f"{r['metric']} {'↑' if hib else '↓'}", _n_text([r.get("n")]),
                 *[value_text(r["metric"], v) for v in values]]
        for j, a in enumerate(arms):
            cells.append(comparison_text(r.get(f"{a}:delta"), [r.get(f"{a}:lo"), r.get(f"{a}:hi")]
                                         if not numbers.missing(r.get(f"{a}:lo")) else None,
                                         r.get(f"{a}:p"), r.get(f"{a}:test"), r.get(f"{a}:n"), r.get(f"{a}:min_n")))
            good = tables.better(r, a) if r.get(f"{a}:significant") else None
            if good is not None:
                t.tone[(i, 3 + len(values) + j)] = "good" if good else "bad"
        t.rows.append(cells)
    return t


def forgetting_table(report: Report) -> Table | None:
    verdicts = text.forgetting(report)
    if not verdicts:
        return None
    t = Table("forgetting", ["task", "metric", "adapter", "n", "Δ [95% CI]", "p", "test", "verdict"],
              numeric=[False, False, False, True, True, True, False, False])
    for i, v in enumerate(verdicts):
        t.rows.append([v["task"], v["metric"], v["arm"], numbers.count(v["n"]),
                       comparison_text(v["delta"], v["ci95"], v["p_value"], v["test"], v["n"], v.get("min_n")),
                       numbers.p_value(v["p_value"]) if v["test"] != stats.N_TOO_SMALL else "—", v["test"],
                       v["verdict"]])
        if v["verdict"].startswith("forgetting"):
            t.tone[(i, 7)] = "bad"
    return t


def predictions_table(report: Report) -> Table | None:
    diags = report.diagnostics
    if not diags:
        return None
    t = Table("predictions", ["task", "arm", "n", "classes predicted", "most frequent answer", "its share",
                              "unparseable", "accuracy", "chance", "verdict"],
              numeric=[False, False, True, True, False, True, True, True, True, False],
              caption="chance: the accuracy of always answering the most frequent label.")
    for i, d in enumerate(diags):
        t.rows.append([d["task"], d["arm"], numbers.count(d["n"]), f"{d['classes_predicted']} of {d['n_classes']}",
                       str(d["majority_answer"] or "—"), numbers.share(d["majority_share"]),
                       numbers.share(d["unparseable_share"]), numbers.value(d["accuracy"]),
                       numbers.value(d["chance_accuracy"]), d["verdict"]])
        if d["verdict"] != "ok":
            t.tone[(i, 9)] = "bad"
    return t


def task_table(report: Report, task: str) -> Table:
    arms = [BASE_ARM, *report.adapters]
    sel = report.scores[report.scores.task == task]
    t = Table(f"task-{task}", ["metric", "n", *[f"{a} [95% CI]" for a in arms]],
              numeric=[False, True, *[True] * len(arms)])
    without_ci = set()  # the reasons some values have no CI
    for m in dict.fromkeys(sel["metric"]):
        rows = {a: sel[(sel.metric == m) & (sel.arm == a)] for a in arms}
        cells = [m, _n_text([r["n"].iloc[0] for r in rows.values() if len(r) and "n" in r])]
        for a in arms:
            r = rows[a]
            if not len(r):
                cells.append(numbers.MISSING)
                continue
            v, ci = r["value"].iloc[0], _ci(r["ci95"].iloc[0]) if "ci95" in r else None
            text_ = value_text(m, v)
            if ci and not _is_count(m):
                text_ += f" [{value_text(m, ci[0])}, {value_text(m, ci[1])}]"
            elif not ci and not _is_count(m) and not numbers.missing(v):
                without_ci.add(tables.no_ci_reason(report, r["n"].iloc[0] if "n" in r else None))
            cells.append(text_)
        t.rows.append(cells)
    if without_ci:
        t.caption = "Values without a CI: " + " / ".join(sorted(without_ci)) + "."
    return t


def answers_table(report: Report, task: str, arm: str) -> Table | None:
    picked = text.side_by_side(report, task, arm)
    if not picked:
        return None
    t = Table(f"answers-{task}-{arm}", ["which", "doc", "prompt", "base", arm, "reference"],
              numeric=[False, True, False, False, False, False])
    for p in picked:
        t.rows.append([p["kind"], str(p["doc_id"]), prompt_cell(p["prompt"]), p["base"], p["adapter"], p["reference"]])
    return t


def prompt_cell(prompt: str, lines: int = 3, chars: int = 240) -> Prompt:
    """The end of a prompt (the question a few-shot prompt ends with), the whole of it kept for folding."""
    tail = "\n".join(prompt.rstrip().splitlines()[-lines:])
    if len(tail) > chars:
        tail = "…" + tail[-(chars - 1):]
    elif len(tail) < len(prompt.strip()):
        tail = "…" + tail
    return Prompt(prompt, tail)


def training_table(report: Report) -> Table | None:
    trained = [a for a in report.arms if a.train_summary]
    if not trained:
        return None
    t = Table("training", ["adapter", "steps", "train loss", "eval loss", "overfitting"],
              numeric=[False, True, True, True, False])
    for a in trained:
        s = a.train_summary
        t.rows.append([a.name, numbers.count(s.get("steps")), numbers.value(s.get("final_train_loss")),
                       numbers.value(s.get("final_eval_loss")),
                       "yes" if (s.get("overfitting") or {}).get("overfitting") else "no"])
    return t


def yelp_f1_table(report: Report) -> Table | None:
    s = report.scores
    if s.empty or "yelp" not in set(s["task"]):
        return None
    metrics = ["f1_micro", "f1_macro", "f1_weighted"]
    arms = [BASE_ARM, *report.adapters]
    t = Table("yelp-f1", ["Model", "F1 (micro)", "F1 (macro)", "F1 (weighted)"], numeric=[False, True, True, True],
              caption="Yelp 5-class rating (unparseable answers counted as wrong).")
    grid = {(a, m): tables.value_of(s, "yelp", m, a) for a in arms for m in metrics}
    for a in arms:
        t.rows.append(["Base" if a == BASE_ARM else a, *[numbers.value(grid[(a, m)]) for m in metrics]])
    for j, m in enumerate(metrics):
        t.bold.update((i, 1 + j) for i in _best([grid[(a, m)] for a in arms], higher=True))
    return t


def sweep_table(report: Report) -> Table | None:
    arms = [a for a in report.arms if a.name != BASE_ARM]
    if not arms:
        return None
    head = tables.headline(report)
    keys = [(r["task"], r["metric"]) for _, r in head.iterrows()][:4]
    t = Table("sweep", ["Adapter", "r", "α", "dropout", "targets", "lr", "epochs", *[f"{tk} {m}" for tk, m in keys]],
              numeric=[False, True, True, True, False, True, True, *[True] * len(keys)],
              caption="Adapters: hyper-parameters and scores.")
    for a in arms:
        peft = (a.adapter or {}).get("peft", {})
        cfg = (a.train_summary or {}).get("config", {})
        targets = peft.get("target_modules")
        targets = ",".join(targets) if isinstance(targets, list) else (targets or "—")
        t.rows.append([a.name, str(peft.get("r", "—")), str(peft.get("lora_alpha", "—")), str(peft.get("lora_dropout", "—")),
                       targets, str(cfg.get("learning_rate", "—")), str(cfg.get("epochs", "—")),
                       *[value_text(m, tables.value_of(report.scores, tk, m, a.name)) for tk, m in keys]])
    return t


# --- the document -------------------------------------------------------------------------------------------------

def statistics_note(report: Report) -> str:
    info = report.runs[0].get("statistics", {})
    units = sorted({str(v.get("unit", "document")) for v in report.tasks.values()})
    return (f"Δ = adapter − base on the same documents. The unit resampled is the {' / '.join(units)}; n counts them. "
            "For a mean of per-document scores the p-value is the paired sign-flip test (exact McNemar for 0/1 "
            "scores) and the 95% CI is that test inverted; for corpus metrics (F1 over classes, corpus ROUGE/BLEU, "
            "perplexity) the CI is a paired bootstrap over documents with the metric recomputed on each resample "
            f"({info.get('resamples', 'n/a')} resamples), significant only when a paired permutation test agrees. "
            "A CI that excludes 0 and p < 0.05 are the same statement. With fewer than "
            f"{info.get('min_pairs', stats.MIN_PAIRS)} paired documents ({info.get('min_pairs_corpus', stats.MIN_PAIRS_CORPUS)}"
            " for corpus metrics) a comparison reads \"n too small\": no CI, no p-value, no verdict. "
            f"{MARKERS}. ↑ higher is better, ↓ lower is better.")


def build(report: Report) -> list[Block]:
    base = report.runs[0]["base"]
    blocks = [Block("heading", "Adapter evaluation report", level=1),
              Block("paragraph", f"Base model {base['name']} ({base['source']}, {base['dtype']}, quantization "
                                 f"{base['quantization']}, {base['fingerprint'][:19]}…); adapters: "
                                 + (", ".join(report.adapters) or "none") + "."),
              Block("paragraph", "Runs: " + ", ".join(f"{r['run_id']} ({r['created']}, "
                                                     f"{r['environment'].get('device', '')})" for r in report.runs) + ".")]
    blocks += [Block("warning", w) for w in report.notes]
    blocks += [Block("warning", w) for w in text.warnings(report)]
    blocks += [Block("heading", "Headline"), Block("table", table=headline_table(report)),
               Block("paragraph", statistics_note(report))]
    forgetting = forgetting_table(report)
    if forgetting:
        blocks += [Block("heading", "Forgetting"), Block("table", table=forgetting)]
    preds = predictions_table(report)
    if preds:
        blocks += [Block("heading", "What the classifiers answered"), Block("table", table=preds),
                   Block("paragraph", preds.caption)]
    for task in dict.fromkeys(report.scores["task"]):
        table = task_table(report, task)
        blocks += [Block("heading", task), Block("table", table=table)]
        if table.caption:
            blocks.append(Block("paragraph", table.caption))
        info = report.tasks.get(task) or {}
        if info.get("conventions"):
            blocks.append(Block("paragraph", "Conventions: " + "; ".join(f"{k}: {v}" for k, v in info["conventions"].items()) + "."))
        dropped = text.dropped_note(info)
        if dropped:
            blocks.append(Block("paragraph", dropped))
        if task == "yelp":
            for arm in [BASE_ARM, *report.adapters]:
                bad = text.unparseable(report, arm)
                if bad:
                    blocks += [Block("paragraph", f"Unparseable answers of {arm} (first {len(bad)}):"),
                               Block("bullets", items=[f"doc {b['doc_id']} ({b['rule']}): “{b['answer']}”" for b in bad])]
        for arm in report.adapters:
            answers = answers_table(report, task, arm)
            if answers:
                blocks += [Block("heading", f"Biggest wins and losses of {arm} vs base", level=3),
                           Block("table", table=answers)]
    training = training_table(report)
    if training:
        blocks += [Block("heading", "Training"), Block("table", table=training)]
    return blocks


def console(t: Table) -> str:
    """A table as aligned plain text for a terminal."""
    rows = [t.header] + [[str(c) for c in r] for r in t.rows]
    widths = [max(len(r[j]) for r in rows) for j in range(len(t.header))]
    right = t.numeric or [False] * len(t.header)
    return "\n".join("  ".join(c.rjust(w) if right[j] else c.ljust(w) for j, (c, w) in enumerate(zip(r, widths))).rstrip()
                     for r in rows)
