"""Helpers for general_mc, the multiple-choice forgetting probe (MMLU and anything shaped like it).

Data, in any of these layouts (`--data general_mc=PATH`; stock lm-eval: --metadata '{"general_mc_data": "PATH"}'):

- the hendrycks MMLU folder: `PATH/{dev,val,test}/<subject>_<split>.csv` (also under `PATH/data/`), headerless rows
  `question, choice A, choice B, choice C, choice D, answer letter`, one file per subject;
- a folder of such headerless CSV files (each file one subject; all scored);
- a table (JSONL / parquet / CSV with a header) with `question`, `choices` (a list, or a JSON list in CSV) and
  `answer` (index 0.. or letter A..), and optionally `subject`.

Few-shot: `general_mc_shots` (default 5; `harness run --num-fewshot N` sets it) solved examples from the same
subject's dev split, in file order, as MMLU's own evaluation does. A number asked for is used exactly: a subject with
fewer dev examples, or no dev split at all, is an error (the default of 5 falls back to zero-shot only where there is
no dev split). `general_mc_split` picks the scored split (test, or val).

The text is kept byte for byte as the file has it (MMLU's choices carry leading and trailing spaces in 765 test rows);
the prompt is stock lm-eval's mmlu template, `{{question.strip()}}\nA. {{choices[0]}}\n...\nAnswer:`.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from tasks.data import DataError, hub_dataset, meta_int, pick_column, read_table_lines, read_text_file
from tasks.resampling import resampled

LETTERS = "ABCDEFGHIJ"
HENDRYCKS_FIELDS = 6  # question, choices A-D, answer letter
DEFAULT_SHOTS = 5
DEFAULT_DATASET = ("cais/mmlu", "all")
SPLIT_DIRS = {"test": "test", "val": "val", "validation": "val", "dev": "dev"}


def _subject_name(path: Path, split: str) -> str:
    stem = path.stem
    return stem[: -len(split) - 1] if stem.endswith(f"_{split}") else stem


def _answer_index(value, n_choices: int, where: str) -> int:
    text = str(value).strip()
    if text.upper() in LETTERS[:n_choices] and len(text) == 1:
        return LETTERS.index(text.upper())
    try:
        idx = int(float(text))
    except ValueError:
        idx = -1
    if not 0 <= idx < n_choices:
        raise DataError(f"{where}: answer {text!r} is not one of {', '.join(LETTERS[:n_choices])} (or 0-{n_choices - 1})")
    return idx


def read_headerless_csv(path: Path, subject: str) -> list[dict]:
    """One hendrycks file: rows of question, four choices, answer letter; no header. Question and choices are kept
    exactly as the file has them (stock lm-eval's mmlu and hendrycks' evaluate.py keep the choices' spaces)."""
    rows = []
    reader = csv.reader(io.StringIO(read_text_file(path), newline=""))
    end = 0  # the line the previous record ended on: a quoted field may span lines
    try:
        for fields in reader:
            start, end = end + 1, reader.line_num
            if not any(f.strip() for f in fields):
                continue
            where = f"{path}: line {start}"
            if len(fields) != HENDRYCKS_FIELDS:
                raise DataError(f"{where}: {len(fields)} fields, expected {HENDRYCKS_FIELDS} (question, choices A-D, "
                                "answer letter; hendrycks layout, no header); quote a field that contains a comma, or "
                                "give a table with a 'choices' column for another number of choices")
            question, choices, answer = fields[0], fields[1:-1], fields[-1]
            if not question.strip():
                raise DataError(f"{where}: empty question")
            rows.append({"subject": subject, "question": question, "choices": choices,
                         "answer": _answer_index(answer, len(choices), where)})
    except csv.Error as e:
        raise DataError(f"{path}: line {reader.line_num}: malformed CSV ({e})") from None
    if not rows:
        raise DataError(f"{path}: no rows")
    return rows


def _split_folder(root: Path, split: str) -> Path | None:
    for base in (root, root / "data"):
        d = base / SPLIT_DIRS.get(split, split)
        if d.is_dir():
            return d
    return None


def _read_folder(folder: Path, split: str) -> list[dict]:
    files = sorted(folder.glob("*.csv"))
    if not files:
        raise DataError(f"{folder}: no .csv files; expected one headerless CSV per subject (hendrycks MMLU layout)")
    return [row for f in files for row in read_headerless_csv(f, _subject_name(f, SPLIT_DIRS.get(split, split)))]


def _read_table(path: Path) -> list[dict]:
    lines = read_table_lines(path, "general_mc_data")
    rows = [r for _, r in lines]
    q_col = pick_column(rows, path, ("question", "Question", "query"))
    c_col = pick_column(rows, path, ("choices", "options", "Choices"))
    a_col = pick_column(rows, path, ("answer", "label", "Answer"))
    s_col = pick_column(rows, path, ("subject", "category", "Subject"), required=False)
    out = []
    for line, row in lines:
        where = f"{path}: line {line}"
        choices = row.get(c_col)
        if isinstance(choices, str):
            try:
                choices = json.loads(choices)
            except json.JSONDecodeError:
                raise DataError(f"{where}, column '{c_col}': not a JSON list of choices") from None
        if hasattr(choices, "tolist"):
            choices = choices.tolist()
        if not isinstance(choices, list) or len(choices) < 2:
            raise DataError(f"{where}, column '{c_col}': expected a list of at least two choices")
        q = row.get(q_col)
        if not isinstance(q, str) or not q.strip():
            raise DataError(f"{where}, column '{q_col}': empty question")
        if len(choices) > len(LETTERS):
            raise DataError(f"{where}, column '{c_col}': {len(choices)} choices; at most {len(LETTERS)} are supported")
        out.append({"subject": str(row.get(s_col) or "all") if s_col else "all", "question": q,
                    "choices": [str(c) for c in choices],
                    "answer": _answer_index(row.get(a_col), len(choices), f"{where}, column '{a_col}'")})
    return out


def load_rows(path, split: str = "test") -> tuple[list[dict], dict[str, list[dict]]]:
    """(scored questions, dev examples by subject) from a hendrycks folder, a folder of CSVs or a table."""
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"general_mc_data={path}: no such file or folder")
    dev: dict[str, list[dict]] = defaultdict(list)
    if p.is_file():
        return _read_table(p), dev
    scored_dir = _split_folder(p, split)
    if scored_dir is None:
        if split != "test" or any(_split_folder(p, s) for s in ("dev", "val")):
            raise DataError(f"{p}: no '{SPLIT_DIRS.get(split, split)}' folder (hendrycks layout: "
                            f"{p}/{{dev,val,test}}/<subject>_<split>.csv)")
        return _read_folder(p, split), dev  # a plain folder of subject files
    rows = _read_folder(scored_dir, split)
    dev_dir = _split_folder(p, "dev")
    if dev_dir is not None:
        for row in _read_folder(dev_dir, "dev"):
            dev[row["subject"]].append(row)
    return rows, dev


def _format(row: dict) -> str:
    # Stock lm-eval's mmlu doc_to_text: the question stripped, the choices as they are.
    lines = [row["question"].strip()] + [f"{LETTERS[i]}. {c}" for i, c in enumerate(row["choices"])]
    return "\n".join(lines) + "\nAnswer:"


def _header(subject: str) -> str:
    topic = subject.replace("_", " ")
    return f"The following are multiple choice questions (with answers) about {topic}.\n\n" if topic != "all" else \
        "The following are multiple choice questions (with answers).\n\n"


def _shots_for(rows: list[dict], dev: dict[str, list[dict]], shots: int, asked: bool, source: str) -> int:
    """The number of solved examples every scored question gets; DataError when that many are not there."""
    if not dev:
        if asked and shots > 0:
            raise DataError(f"general_mc_data={source}: no dev split to draw {shots} solved examples from (hendrycks "
                            "layout: dev/<subject>_dev.csv beside test/); add one, or ask for zero-shot with "
                            "--num-fewshot 0 (--task-meta general_mc_shots=0)")
        return 0
    for subject in dict.fromkeys(r["subject"] for r in rows):
        have = len(dev.get(subject, []))
        if have < shots:
            raise DataError(f"general_mc_data={source}: subject '{subject}' has {have} dev examples, {shots}-shot "
                            f"needs {shots}; add them to dev/{subject}_dev.csv, or ask for fewer with --num-fewshot N "
                            "(--task-meta general_mc_shots=N)")
    return shots


def load(general_mc_data=None, general_mc_split="test", general_mc_shots=None, **metadata):
    import datasets

    asked = general_mc_shots is not None
    shots = meta_int("general_mc_shots", general_mc_shots if asked else DEFAULT_SHOTS, 0)
    if general_mc_data:
        rows, dev = load_rows(general_mc_data, str(general_mc_split))
    else:
        ds = hub_dataset(*DEFAULT_DATASET[:1], split=str(general_mc_split), family="general_mc",
                         key="general_mc_data", config=DEFAULT_DATASET[1])
        rows = [{"subject": r["subject"], "question": r["question"], "choices": list(r["choices"]),
                 "answer": int(r["answer"])} for r in ds]
        dev = defaultdict(list)
        for r in hub_dataset(*DEFAULT_DATASET[:1], split="dev", family="general_mc", key="general_mc_data",
                             config=DEFAULT_DATASET[1]):
            dev[r["subject"]].append({"question": r["question"], "choices": list(r["choices"]), "answer": int(r["answer"])})
    shots = _shots_for(rows, dev, shots, asked, str(general_mc_data or DEFAULT_DATASET[0]))
    docs = []
    for row in rows:
        examples = dev.get(row["subject"], [])[:shots]
        prefix = "".join(f"{_format(e)} {LETTERS[e['answer']]}\n\n" for e in examples)
        # num_fewshot: the solved examples this prompt holds (run.json records it as the task's shots).
        docs.append(dict(row, prompt=_header(row["subject"]) + prefix + _format(row), num_fewshot=len(examples)))
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)})


def doc_to_text(doc) -> str:
    return doc["prompt"]


def doc_to_choice(doc) -> list[str]:
    # " A" after "Answer:" (target_delimiter " "): the letter tokens MMLU scores, not the choice texts.
    return list(LETTERS[: len(doc["choices"])])


def process_results(doc, results):
    lls = [r[0] for r in results]
    correct = float(max(range(len(lls)), key=lls.__getitem__) == doc["answer"])
    return {"acc": correct, "acc_macro": [doc["subject"], correct]}


def group_array(items) -> np.ndarray:
    """[group code, value] rows: numpy cannot bincount group names, so each gets a code in order of appearance."""
    codes: dict = {}
    return np.asarray([[codes.setdefault(g, len(codes)), float(v)] for g, v in items], dtype=float)


def group_macro(m: np.ndarray) -> np.ndarray:
    """Mean of per-group means for each of R resamples, from (R, n, 2) [group code, value] arrays; a group absent
    from a resample does not count (as when the metric is computed on that sample directly)."""
    r, n = m.shape[:2]
    codes = m[..., 0].astype(np.int64)
    g = int(codes.max()) + 1 if codes.size else 1
    flat = (np.arange(r)[:, None] * g + codes).ravel()
    sums = np.bincount(flat, weights=m[..., 1].ravel(), minlength=r * g).reshape(r, g)
    counts = np.bincount(flat, minlength=r * g).reshape(r, g)
    means = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    present = (counts > 0).sum(1)
    return np.divide(means.sum(1), present, out=np.zeros(r), where=present > 0)


@resampled(to_array=group_array, reduce=group_macro)
def macro_by_group(items) -> float:
    """Mean over groups of each group's mean: items are [group, value] pairs (MMLU's macro average by subject)."""
    groups: dict[str, list[float]] = defaultdict(list)
    for group, value in items:
        groups[group].append(float(value))
    return sum(sum(v) / len(v) for v in groups.values()) / len(groups) if groups else 0.0
