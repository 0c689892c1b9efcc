"""The Samples section (every document of every task, base and each adapter side by side) and the page both renderers
walk: document.build's blocks, the plots with their captions, then the samples; each heading's anchor; each table's
caption and the text of each cell.

Everything a reader sees is decided here once, so report.md and report.html print the same words: the same cell text
(a toned cell carries ▲ or ▼, since Markdown has no colour and colour alone fails colour-blind readers; an empty value
reads "∅ (empty)"; a long text is cut at the same place, report.html unfolding the whole of it), the same captions,
and anchors that are the ones GitHub derives from report.md's headings, so a contents link works in both.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from harness.core import results
from harness.core.arms import BASE_ARM
from reports import card_meta, document, numbers, plots, text
from reports.blocks import Block, Prompt, Table
from reports.data import Report

EMPTY = "∅ (empty)"
MARKS = {"good": "▲ ", "bad": "▼ "}
LONG = 300  # characters of a cell shown before it is cut (report.html unfolds the rest)
PROMPT_LINES = 2  # of a prompt's end in a row: the question or review, without the instruction every row repeats
MD_ROWS = 10  # documents per task in report.md; report.html holds them all
PERPLEXITIES = ("token_perplexity", "word_perplexity")  # the per-document perplexity shown: the first a row has
SCORES = ("rougeL", "f1", "acc", "exact_match")  # text.doc_score's order, to name the number it returns
BINARY = ("correct", "acc", "exact_match")  # scores that are 0 or 1, written as such
SAMPLES_INTRO = ("Each task's documents, one row each, with the base model and each adapter side by side (how many "
                 "are shown here, and where every one of them is, is said under each task). "
                 "▲ marks an adapter that did better than the base on that document, ▼ worse.")


@dataclass
class Figure:
    path: str  # relative to the report's folder, as plots.render_all returns it
    caption: str
    kind: str = "figure"


@dataclass
class TaskSamples:
    task: str
    table: Table  # one row per document, all of them
    files: list[Path]  # each arm's samples file, in arm order
    kind: str = "samples"

    @property
    def n(self) -> int:
        return len(self.table.rows)


def showing(s: TaskSamples, k) -> str:
    """`k`: the documents shown (report.html passes an element it updates as the filter changes)."""
    return f"showing {k} of {s.n} documents; all of them:"


def links(s: TaskSamples, out_dir: Path) -> list[str]:
    """Each arm's samples file relative to the report's folder (merged runs keep their arms in other folders)."""
    return [Path(os.path.relpath(f, out_dir)).as_posix() for f in s.files]


# --- what both renderers print for a table -------------------------------------------------------------------------

def cell(t: Table, i: int, j: int) -> tuple[str, str | None]:
    """(the text a cell shows, the whole text where that was cut: report.html unfolds it)."""
    c = t.rows[i][j]
    shown, whole = (c.tail, c.full) if isinstance(c, Prompt) else (str(c), str(c))
    if len(shown) > LONG and j not in t.full_text:
        shown = shown[: LONG - 1] + "…"
    folded = whole if whole.strip() and whole.strip() != shown.strip() else None
    # A number needs the arrow; a word cell ("PASS", "significant drop", "below chance") already says it.
    numeric = j < len(t.numeric) and t.numeric[j]
    mark = MARKS.get(t.tone.get((i, j)), "") if numeric else ""
    return mark + (shown if shown.strip() else EMPTY), folded


def caption(t: Table) -> str:
    """The table's caption, or one that names what the table holds where the document gave none."""
    if t.key.startswith("task-"):
        task = t.key.removeprefix("task-")
        return " ".join(x for x in (f"{task}: every metric, each arm's value with its 95% CI and each adapter's Δ "
                                    "against the base.", t.caption) if x)
    if t.key.startswith("answers-") and not t.caption:
        arm = t.header[4]
        task = t.key.removeprefix("answers-").removesuffix(f"-{arm}")
        return (f"{task}: the documents where the per-document score of {arm} rose most above the base's (win) or "
                "fell most below it (loss).")
    if t.key == "training" and not t.caption:
        return "Each adapter's training: steps, final training and evaluation loss, and whether it overfit."
    return t.caption


# --- the page ------------------------------------------------------------------------------------------------------

DELTAS = "plots/deltas.png"


def _shareable(b: Block, paths: list[str]) -> Block:
    """A block of the document with every local path the runs recorded (or any absolute path) cut to its last name:
    a report is shared, the machine it was made on is not. Model output (the samples) is evidence and is left as is."""
    b.text, b.note, b.items = card_meta.scrub(b.text, paths), card_meta.scrub(b.note, paths), card_meta.scrub(b.items, paths)
    if b.table is not None:
        b.table.caption = card_meta.scrub(b.table.caption, paths)
        if not b.table.key.startswith(("answers-", "samples-")):
            b.table.rows = [[card_meta.scrub(c, paths) if isinstance(c, str) else c for c in row] for row in b.table.rows]
    return b


def page(report: Report, plot_files: list[str]) -> list:
    """Every block of the page in order: Blocks, then Figures under a Plots heading, then TaskSamples (each after its
    own heading) under a Samples heading."""
    paths = card_meta.local_paths(report)
    out: list = [_shareable(b, paths) for b in document.build(report)]
    pngs = [p for p in plot_files if p.endswith(".png")]
    # the deltas plot right under the headline table, where a reader decides
    at = next((i for i, b in enumerate(out) if b.kind == "table" and b.table.key == "headline"), None)
    if at is not None and DELTAS in pngs:
        out.insert(at + 1, Figure(DELTAS, plots.caption(report, DELTAS)))
        pngs.remove(DELTAS)
    if pngs:
        out += [Block("heading", "Plots")] + [Figure(p, plots.caption(report, p)) for p in pngs]
    sections = [s for s in (task_samples(report, t) for t in dict.fromkeys(report.scores["task"])) if s]
    if sections:
        out += [Block("heading", "Samples"), Block("paragraph", SAMPLES_INTRO)]
        for s in sections:
            out += [Block("heading", f"Samples: {s.task}", level=3), s]
    return out


def anchors(blocks: list) -> dict[int, str]:
    """Index of each heading block -> its anchor, as GitHub makes it from the heading: lower case, punctuation
    dropped, spaces to hyphens, and -1, -2 ... on a repeat (counted over every heading of the page)."""
    seen: dict[str, int] = {}
    out = {}
    for i, b in enumerate(blocks):
        if b.kind != "heading":
            continue
        base = slug = re.sub(r"[^\w\- ]", "", b.text.lower()).replace(" ", "-")
        while slug in seen:
            seen[base] += 1
            slug = f"{base}-{seen[base]}"
        seen[slug] = 0
        out[i] = slug
    return out


def contents(blocks: list) -> list[tuple[str, str]]:
    """(heading, anchor) of every section (level 2) of the page: the table of contents."""
    return [(blocks[i].text, a) for i, a in anchors(blocks).items() if blocks[i].level == 2]


# --- the samples ---------------------------------------------------------------------------------------------------

def samples_file(report: Report, arm: str, task: str) -> Path | None:
    """The file an arm's samples of a task were read from: the first run (in the report's order) that scored the
    task with this arm, or with the same adapter weights under another name (reports.data.load's merge)."""
    a = next(x for x in report.arms if x.name == arm)
    fp = (a.adapter or {}).get("fingerprint")
    for d, run in zip(report.run_dirs, report.runs):
        for r in run["arms"]:
            same = (r["name"] == BASE_ARM == arm or (Path(d) == a.run_dir and r["name"] == a.source_arm)
                    or (fp and (r.get("adapter") or {}).get("fingerprint") == fp))
            path = results.samples_path(Path(d), r["name"], task)
            if same and task in run["tasks"] and path.exists():
                return path
    return None


def _perplexity(row: dict, key: str) -> tuple[float, int] | None:
    """(the document's own perplexity, its tokens or words) from the [log-likelihood, count] pair lm-eval keeps."""
    pair = (row.get("metrics") or {}).get(key)
    if not isinstance(pair, list) or len(pair) != 2 or not pair[1]:
        return None
    return math.exp(-pair[0] / pair[1]), int(pair[1])


def _parsed(task: str, row: dict) -> str | None:
    """The answer the metric scored, where it is not the raw answer: Yelp's star (or why none), a generation's
    filtered text; None for a multiple choice, whose answer already is the choice."""
    f = row.get("filtered")
    if task.startswith("yelp") and isinstance(f, dict):
        return str(f["star"]) if f.get("star") is not None else f"unparseable ({f.get('rule')})"
    if isinstance(f, str) and isinstance(row.get("response"), str) and f.strip() != row["response"].strip():
        return f.strip()
    return None


def _scored(task: str, row: dict) -> str:
    parsed = _parsed(task, row)
    return text.answer_text(row) if parsed is None else parsed


def _score_name(task: str, rows: list[dict]) -> str:
    if task == "yelp":
        return "correct"
    keys = {k for r in rows for k, v in (r.get("metrics") or {}).items() if isinstance(v, (int, float))}
    return next((k for k in SCORES if k in keys), "score")


def _tone(t: Table, i: int, j: int, base, value, higher: bool) -> None:
    if base is not None and value is not None and value != base:
        t.tone[(i, j)] = "good" if (value > base) == higher else "bad"


def _by_doc(report: Report, task: str) -> tuple[list[str], dict, list]:
    """(arms with samples, arm -> doc_id -> row, every doc_id: the base's order, then any only an adapter has)."""
    arms = [a for a in [BASE_ARM, *report.adapters] if report.samples(a, task)]
    rows = {a: {r["doc_id"]: r for r in report.samples(a, task)} for a in arms}
    return arms, rows, list(dict.fromkeys(d for a in arms for d in rows[a]))


def _answers_table(task: str, arms: list[str], rows: dict, docs: list) -> Table:
    all_rows = [r for a in arms for r in rows[a].values()]
    score = _score_name(task, all_rows)
    parsed = any(_parsed(task, r) is not None for r in all_rows)
    binary = score in BINARY
    t = Table(f"samples-{task}", ["doc", "prompt", "reference"], numeric=[True, False, False])
    for a in arms:
        t.header += [f"{a} answer"] + ([f"{a} parsed"] if parsed else []) + [f"{a} {score}"]
        t.numeric += [False] + ([False] if parsed else []) + [True]
    for i, d in enumerate(docs):
        first = next(rows[a][d] for a in arms if d in rows[a])
        cells = [str(d), document.prompt_cell(first.get("prompt") or "", PROMPT_LINES), text.target_text(task, first)]
        base = rows.get(BASE_ARM, {}).get(d)
        base = text.doc_score(task, base) if base else None
        for a in arms:
            r = rows[a].get(d)
            value = text.doc_score(task, r) if r else None
            cells += [text.answer_text(r) if r else numbers.MISSING]
            cells += [_scored(task, r) if r else numbers.MISSING] if parsed else []
            cells += [numbers.value(value, integer=binary)]
            if a != BASE_ARM:
                _tone(t, i, len(cells) - 1, base, value, higher=True)
        t.rows.append(cells)
    choice = any(isinstance(r.get("response"), list) for r in all_rows)  # multiple choice: loglikelihoods
    answer = "the choice the model scored most likely" if choice else "the model's answer"
    what = "the answer the metric scored, " if parsed else ""
    t.caption = (f"{task}: the end of each document's prompt, the reference, and per arm {answer}, {what}and its "
                 f"score on that document ({score}).")
    return t


def _perplexity_table(task: str, key: str, arms: list[str], rows: dict, docs: list) -> Table:
    unit = "words" if key.startswith("word") else "tokens"
    t = Table(f"samples-{task}", ["doc", "text scored", unit, *[f"{a} {key}" for a in arms]],
              numeric=[True, False, True, *[True] * len(arms)])
    for i, d in enumerate(docs):
        first = next(rows[a][d] for a in arms if d in rows[a])
        scored = first.get("target") if isinstance(first.get("target"), str) else first.get("prompt") or ""
        values = [_perplexity(rows[a][d], key) if d in rows[a] else None for a in arms]
        count = next((v[1] for v in values if v), None)
        t.rows.append([str(d), document.prompt_cell(scored, PROMPT_LINES), numbers.count(count),
                       *[numbers.value(v[0] if v else None) for v in values]])
        base = values[0][0] if arms[0] == BASE_ARM and values[0] else None
        for j, v in enumerate(values[1:], start=1):
            _tone(t, i, 3 + j, base, v and v[0], higher=False)
    t.caption = (f"{task}: each document's own {key.replace('_', ' ')}, exp(−log-likelihood / {unit}), lower is "
                 f"better. The task's {key} pools its documents (exp of the summed log-likelihood over the summed "
                 f"{unit}), so it is not the mean of these.")
    return t


def task_samples(report: Report, task: str) -> TaskSamples | None:
    """A task's documents, base and adapters side by side; None when no arm has samples of it."""
    arms, rows, docs = _by_doc(report, task)
    if not docs:
        return None
    first = next(iter(rows[arms[0]].values()))
    key = next((k for k in PERPLEXITIES if _perplexity(first, k)), None)
    table = (_perplexity_table(task, key, arms, rows, docs) if key else _answers_table(task, arms, rows, docs))
    return TaskSamples(task, table, [f for a in arms if (f := samples_file(report, a, task))])
