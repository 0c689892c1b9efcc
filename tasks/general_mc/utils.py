"""Helpers for general_mc, the multiple-choice forgetting probe (MMLU and anything shaped like it).

Data, in any of these layouts (`--data general_mc=PATH`; stock lm-eval: --metadata '{"general_mc_data": "PATH"}'):

- the hendrycks MMLU folder: `PATH/{dev,val,test}/<subject>_<split>.csv` (also under `PATH/data/`), headerless rows
  `question, choice A, choice B, choice C, choice D, answer letter`, one file per subject;
- a folder of such headerless CSV files (each file one subject; all scored);
- a table (JSONL / parquet / CSV with a header) with `question`, `choices` (a list, or a JSON list in CSV) and
  `answer` (index 0.. or letter A..), and optionally `subject`.

Few-shot: `general_mc_shots` (default 5) solved examples from the same subject's dev split, in file order, as MMLU's
own evaluation does; none when there is no dev split. `general_mc_split` picks the scored split (test, or val).
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from pathlib import Path

from tasks.data import DataError, hub_dataset, meta_int, pick_column, read_table_lines, read_text_file

LETTERS = "ABCDEFGHIJ"
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
    """One hendrycks file: rows of question, 2+ choices, answer letter; no header."""
    rows = []
    reader = csv.reader(io.StringIO(read_text_file(path), newline=""))
    try:
        for fields in reader:
            if not any(f.strip() for f in fields):
                continue
            where = f"{path}: line {reader.line_num}"
            if len(fields) < 4:
                raise DataError(f"{where}: expected question, at least two choices and an answer letter "
                                f"(hendrycks layout, no header); got {len(fields)} fields")
            question, choices, answer = fields[0].strip(), [c.strip() for c in fields[1:-1]], fields[-1]
            if not question:
                raise DataError(f"{where}: empty question")
            if len(choices) > len(LETTERS):
                raise DataError(f"{where}: {len(choices)} choices; at most {len(LETTERS)} are supported")
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
        out.append({"subject": str(row.get(s_col) or "all") if s_col else "all", "question": q.strip(),
                    "choices": [str(c).strip() for c in choices],
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
    lines = [row["question"]] + [f"{LETTERS[i]}. {c}" for i, c in enumerate(row["choices"])]
    return "\n".join(lines) + "\nAnswer:"


def _header(subject: str) -> str:
    topic = subject.replace("_", " ")
    return f"The following are multiple choice questions (with answers) about {topic}.\n\n" if topic != "all" else \
        "The following are multiple choice questions (with answers).\n\n"


def load(general_mc_data=None, general_mc_split="test", general_mc_shots=5, **metadata):
    import datasets

    shots = meta_int("general_mc_shots", general_mc_shots, 0)
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
    docs = []
    for row in rows:
        examples = dev.get(row["subject"], [])[:shots]
        prefix = "".join(f"{_format(e)} {LETTERS[e['answer']]}\n\n" for e in examples)
        docs.append(dict(row, prompt=_header(row["subject"]) + prefix + _format(row)))
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


def macro_by_group(items) -> float:
    """Mean over groups of each group's mean: items are [group, value] pairs (MMLU's macro average by subject)."""
    groups: dict[str, list[float]] = defaultdict(list)
    for group, value in items:
        groups[group].append(float(value))
    return sum(sum(v) / len(v) for v in groups.values()) / len(groups) if groups else 0.0
