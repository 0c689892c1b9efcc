"""The report's content, once: every table and paragraph as plain data that markdown.py, html.py and latex.py render.

Nothing here formats for a medium: cells are plain text (the renderers escape), numbers go through reports.numbers,
and a long prompt is a `Prompt` the medium may fold. A table a reader sees in report.md is the same object in
report.html and (for the main, Yelp and sweep tables) in tables.tex.
"""

from __future__ import annotations

from harness.core import stats
from harness.core.arms import BASE_ARM
from reports import (
    classes,
    decide,
    glossary,
    notes,
    numbers,
    pairwise,
    stopping,
    sweep,
    tables,
    text,
    verdict,
)
from reports.blocks import Block, Prompt, Table  # noqa: F401  (the renderers name them document.*)
from reports.data import Report
from reports.text import comparison_text, count_text, marker  # noqa: F401  (also the names other renderers use)


def _best(values: list, higher: bool) -> list[int]:
    """Indices of the best value (all of them on a tie); none when there is nothing to choose between."""
    present = [(v, i) for i, v in enumerate(values) if not numbers.missing(v)]
    if len(present) < 2 or len({v for v, _ in present}) < 2:
        return []
    best = (max if higher else min)(v for v, _ in present)
    return [i for v, i in present if v == best]


def p_text(c: dict) -> str:
    """'p 0.003, Holm 0.080': the raw p and the adjusted one; a descriptive row has only the raw one."""
    if c.get("test") == stats.N_TOO_SMALL or numbers.missing(c.get("p_value")):
        return "—"
    raw = f"p {numbers.p_value(c['p_value'])}"
    if tables.descriptive(c):
        return f"{raw} (descriptive)"
    if numbers.missing(c.get("p_adjusted")):
        return raw
    name = notes.ADJUSTMENTS.get(c.get("multiplicity") or "holm", ("adjusted", ""))[0]
    return f"{raw}, {name} {numbers.p_value(c['p_adjusted'])}"


def n_cell(comps: list, fallback=None) -> str:
    """'40 (MDE 0.33)' for the comparisons of one row (one per adapter); where adapters differ, theirs in adapter
    order, joined by ' / ' ('40 (MDE 0.33 / 0.36)'). Without comparisons: the score's n."""
    comps = [c for c in comps if c]
    if not comps:
        return _n_text([fallback])
    text = " / ".join(dict.fromkeys(count_text(c) for c in comps))
    mdes = [numbers.mde(c.get("mde")) for c in comps]
    if any(m != numbers.MISSING for m in mdes):
        text += f" (MDE {' / '.join(mdes if len(set(mdes)) > 1 else mdes[:1])})"
    return text


def with_parsed(n_text: str, report: Report, task: str, metric: str) -> str:
    """The n cell of a *_drop metric with the parsed answers each arm used, inside its parenthesis:
    '40 (MDE 0.32; parsed: base 33, lora 40)'."""
    extra = text.parsed_counts(report, task, metric)
    if not extra:
        return n_text
    return n_text[:-1] + f"; {extra})" if n_text.endswith(")") else f"{n_text} ({extra})"


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
    t = Table("headline", ["task", "metric", "n (MDE)", "base", *arms, *[f"Δ {a} [95% CI]" for a in arms]],
              numeric=[False, False, True, True, *[True] * len(arms), *[True] * len(arms)],
              caption=notes.headline_caption(report))
    for i, (_, r) in enumerate(head.iterrows()):
        hib = r["higher_is_better"] is not False
        values = [r.get(a) for a in [BASE_ARM, *arms]]
        comps = [r.get(f"{a}:comparison") if isinstance(r.get(f"{a}:comparison"), dict) else None for a in arms]
        t.bold.update((i, 3 + j) for j in _best(values, hib))
        cells = [r["task"], f"{r['metric']} {'↑' if hib else '↓'}",
                 with_parsed(n_cell(comps, r.get("n")), report, r["task"], r["metric"]),
                 *[value_text(r["metric"], v) for v in values]]
        for j, a in enumerate(arms):
            cells.append(comparison_text(comps[j]))
            good = tables.better(r, a) if r.get(f"{a}:significant") else None
            if good is not None:
                t.tone[(i, 3 + len(values) + j)] = "good" if good else "bad"
        t.rows.append(cells)
    return t


def forgetting_table(report: Report) -> Table | None:
    verdicts = text.forgetting(report)
    if not verdicts:
        return None
    t = Table("forgetting", ["task", "metric", "adapter", "n", "MDE", "Δ [95% CI]", "p", "verdict"],
              numeric=[False, False, False, True, True, True, True, False], caption=notes.forgetting_caption(report))
    for i, v in enumerate(verdicts):
        t.rows.append([v["task"], v["metric"], v["arm"], count_text(v), numbers.mde(v.get("mde")), comparison_text(v),
                       p_text(v), v["verdict"]])
        if v["loss"]:
            t.tone[(i, 7)] = "bad"
    return t


def gate_table(gate: dict) -> Table:
    """One row per check of every rule in a gate.json (harness.gate.output.as_json): the rule, its result, the
    check's result and its line; a rule that matched nothing gets a row saying so."""
    t = Table(f"gate-{gate['run_id']}", ["rule", "rule result", "adapter", "task / metric", "check", "detail"],
              numeric=[False] * 6, caption=notes.gate_caption(gate), full_text={5})
    for rule in gate["rules"]:
        name = f"{rule.get('index', '')}. {rule['name']}".lstrip(". ")
        verdict = "PASS" if rule["passed"] else "FAIL"
        for c in rule["checks"] or [None]:
            i = len(t.rows)
            if c is None:
                t.rows.append([name, verdict, "—", "—", "—", "nothing matched"])
            else:
                t.rows.append([name, verdict, str(c.get("arm") or "—"), f"{c.get('task')} / {c.get('metric')}",
                               "ok" if c["passed"] else "FAIL", c["detail"]])
                t.tone[(i, 4)] = "good" if c["passed"] else "bad"
            t.tone[(i, 1)] = "good" if rule["passed"] else "bad"
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
                       numbers.value(d["chance_accuracy"]), text.diagnostic_flag(d)])
        if text.diagnostic_flag(d) != "ok":
            t.tone[(i, 9)] = "bad"
    return t


def _value_cell(m: str, r) -> tuple[str, bool]:
    """(an arm's value with its CI, whether the value has no CI it could have had)."""
    if not len(r):
        return numbers.MISSING, False
    v, ci = r["value"].iloc[0], text.ci_of(r["ci95"].iloc[0]) if "ci95" in r else None
    text_ = value_text(m, v)
    if ci and not _is_count(m):
        return text_ + f" [{value_text(m, ci[0])}, {value_text(m, ci[1])}]", False
    return text_, not ci and not _is_count(m) and not numbers.missing(v)


def task_table(report: Report, task: str) -> Table:
    """Every metric of a task: each arm's value with its 95% CI, then each adapter's Δ with its CI and stars (after
    the run's adjustment; per-group rows, descriptive, have none)."""
    arms, adapters = [BASE_ARM, *report.adapters], report.adapters
    index = tables.comparison_index(report)
    sel = report.scores[report.scores.task == task]
    t = Table(f"task-{task}", ["metric", "n (MDE)", *[f"{a} [95% CI]" for a in arms],
                               *[f"Δ {a} [95% CI]" for a in adapters]],
              numeric=[False, True, *[True] * (len(arms) + len(adapters))])
    without_ci, grouped = set(), False  # the reasons some values have no CI; whether per-group rows are shown
    for i, m in enumerate(dict.fromkeys(sel["metric"])):
        rows = {a: sel[(sel.metric == m) & (sel.arm == a)] for a in arms}
        comps = [index.get((task, m, a)) for a in adapters]
        grouped = grouped or any(c and tables.descriptive(c) for c in comps)
        cells = [m, with_parsed(n_cell(comps, rows[BASE_ARM]["n"].iloc[0] if len(rows[BASE_ARM]) and "n" in sel
                                       else None), report, task, m)]
        for a in arms:
            cell, lacks = _value_cell(m, rows[a])
            cells.append(cell)
            if lacks:
                without_ci.add(tables.no_ci_reason(report, rows[a]["n"].iloc[0] if "n" in sel else None, task))
        for j, c in enumerate(comps):
            cells.append("— (a count: not tested)" if c is None and _is_count(m) else comparison_text(c))
            if c and tables.starred(c) and not numbers.missing(c.get("delta")) and c["delta"] != 0:
                better = (c["delta"] > 0) == (c.get("higher_is_better") is not False)
                t.tone[(i, 2 + len(arms) + j)] = "good" if better else "bad"
        t.rows.append(cells)
    captions = ["Values without a CI: " + " / ".join(sorted(without_ci)) + "."] if without_ci else []
    if grouped:
        captions.append("Rows metric[group] are per group and descriptive: each CI holds on its own, and they carry "
                        "no star.")
    t.caption = " ".join(captions)
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
                       overfitting_text(s.get("overfitting") or {})])
    return t


def overfitting_text(v: dict) -> str:
    """'yes, from step 40', 'no (eval loss rose at steps 40-120 and recovered)' or 'no'."""
    if v.get("overfitting"):
        return f"yes, from step {v['since_step']}" if v.get("since_step") is not None else "yes"
    rise = v.get("rise") or {}
    if v.get("recovered") and rise.get("from_step") is not None:
        return f"no (eval loss rose at steps {rise['from_step']}-{rise['to_step']} and recovered)"
    return "no"


def yelp_f1_table(report: Report) -> Table | None:
    s = report.scores
    if s.empty or "yelp" not in set(s["task"]):
        return None
    metrics = ["f1_micro", "f1_macro", "f1_weighted"]
    arms = [BASE_ARM, *report.adapters]
    t = Table("yelp-f1", ["Model", "F1 (micro)", "F1 (macro)", "F1 (weighted)"], numeric=[False, True, True, True],
              caption="Yelp 5-class rating. An unparseable answer is a miss for its true class and no class's "
                      "answer, so F1 (micro) is above accuracy when some answers do not parse.")
    grid = {(a, m): tables.value_of(s, "yelp", m, a) for a in arms for m in metrics}
    for a in arms:
        # one number of decimals for every cell, so that the points line up ("1.0000" beside "0.4125")
        t.rows.append(["Base" if a == BASE_ARM else a,
                       *[numbers.MISSING if numbers.missing(grid[(a, m)]) else f"{grid[(a, m)]:.4f}" for m in metrics]])
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


def verdict_blocks(report: Report) -> list[Block]:
    """The Verdict, the report's first section: a mark and at most three short lines per adapter (reports/decide.py),
    the legend, and every warning a reader must see before the numbers, grouped in one box."""
    blocks = [Block("heading", "Verdict")]
    blocks += [Block("mark", arm, mark=m, note=source, items=said) for arm, m, source, said in decide.verdict_rows(report)]
    if not report.adapters:
        blocks.append(Block("paragraph", "No adapter in this run: nothing to judge."))
    blocks.append(Block("paragraph", decide.LEGEND, link=("Terms", "terms")))
    warns = [*report.notes, *text.warnings(report)]
    if warns:
        blocks.append(Block("warnings", items=warns))
    return blocks


def in_full_blocks(report: Report) -> list[Block]:
    """The Verdict in full, under the headline: the primary task, one sentence per adapter (what it gained, what it
    broke, how sure, the gate), what --until-decided did, and each run's settings."""
    blocks = [Block("heading", "The verdict in full", level=3)]
    main = verdict.primary(report)
    if main:
        blocks.append(Block("paragraph", f"Primary task: {main[0]}, metric {main[1]} (the run's first task that is "
                                         "not a forgetting probe, its first headline metric)."))
    blocks += [Block("paragraph", verdict.sentence(report, arm)) for arm in report.adapters]
    blocks += [Block("paragraph", said) for run in report.runs if (said := stopping.paragraph(run))]
    for run in report.runs:
        label = f" ({run.get('run_id')})" if len(report.runs) > 1 else ""
        blocks.append(Block("paragraph", f"Settings{label}: {verdict.settings_line(run)}."))
    return blocks


def base_where(base: dict) -> str:
    """Where the base came from, as a shared page may say it: its hub id, or 'a local folder' (never the path of the
    machine the run was made on)."""
    source = str(base.get("source") or "")
    local = not source or source.startswith(("/", ".", "~", "\\")) or (len(source) > 1 and source[1] == ":")
    return "a local folder" if local else source


# --- the document -------------------------------------------------------------------------------------------------

def build(report: Report) -> list[Block]:
    base = report.runs[0]["base"]
    blocks = [Block("heading", "Adapter evaluation report", level=1),
              Block("paragraph", f"Base model {base['name']} ({base_where(base)}, {base['dtype']}, quantization "
                                 f"{base['quantization']}, {base['fingerprint'][:19]}…); adapters: "
                                 + (", ".join(report.adapters) or "none") + "; runs: "
                                 + ", ".join(f"{r['run_id']} ({r['created']}, {r['environment'].get('device', '')})"
                                             for r in report.runs) + ".")]
    blocks += verdict_blocks(report)
    headline = headline_table(report)
    blocks += [Block("heading", "Headline"), Block("table", table=headline), *in_full_blocks(report)]
    for gate in report.gates:
        blocks += [Block("heading", "Gate" + (f" ({gate['run_id']})" if len(report.gates) > 1 else "")),
                   Block("table", table=gate_table(gate))]
    swept = sweep.table(report)
    if swept:
        blocks += [Block("heading", "Sweep"), Block("paragraph", swept[1]), Block("table", table=swept[0])]
    pairs = pairwise.table(report)
    if pairs:
        blocks += [Block("heading", "Adapter vs adapter"), Block("table", table=pairs)]
    forgetting = forgetting_table(report)
    if forgetting:
        blocks += [Block("heading", "Forgetting"), Block("table", table=forgetting)]
    preds = predictions_table(report)
    if preds:
        blocks += [Block("heading", "What the classifiers answered"), Block("table", table=preds)]
    for task in dict.fromkeys(report.scores["task"]):
        blocks += [Block("heading", task), Block("table", table=task_table(report, task))]
        per_class = classes.table(report, task)
        if per_class:
            blocks += [Block("heading", f"{task}: per class", level=3), Block("table", table=per_class)]
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
    words = glossary.table(report)
    if words:
        blocks += [Block("heading", "Metrics"), Block("table", table=words)]
    blocks += [Block("heading", "Terms"), Block("table", table=decide.terms_table())]
    return blocks + [Block("heading", "Statistics")] + [Block("paragraph", p) for p in notes.statistics_note(report)]


def console(t: Table) -> str:
    """A table as aligned plain text for a terminal."""
    rows = [t.header] + [[str(c) for c in r] for r in t.rows]
    widths = [max(len(r[j]) for r in rows) for j in range(len(t.header))]
    right = t.numeric or [False] * len(t.header)
    return "\n".join("  ".join(c.rjust(w) if right[j] else c.ljust(w) for j, (c, w) in enumerate(zip(r, widths))).rstrip()
                     for r in rows)
