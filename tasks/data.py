"""Reading the user's data files for the tasks, with errors that name the file, the line or column, and the fix.

Tables: CSV (UTF-8, a BOM is fine), JSONL (one object a line) or parquet. Text corpora: a folder of .md/.txt files,
a single text file, or a JSONL/CSV/parquet table with a text column.

Where the data comes from: `harness run --data yelp=reviews.csv`, which puts `yelp_data` into the tasks' metadata;
with stock lm-eval the same key goes in `--metadata '{"yelp_data": "reviews.csv"}'`.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from harness.core.errors import HarnessError, first_line

TABLE_SUFFIXES = (".csv", ".jsonl", ".json", ".parquet")
TEXT_SUFFIXES = (".md", ".txt", ".markdown", ".rst")


class DataError(HarnessError):
    """Bad task data: the message names the file and the line or column."""


def _line_of(raw: bytes, offset: int) -> int:
    return raw.count(b"\n", 0, offset) + 1


def _not_regular(p: Path) -> str:
    return ("is a folder" if p.is_dir() else
            "is not a regular file (a pipe, socket or device: reading it could wait forever)")


def read_text_file(path: Path) -> str:
    path = Path(path)
    if not path.is_file():
        if not path.exists():
            raise DataError(f"{path}: no such file; check the path")
        raise DataError(f"{path}: {_not_regular(path)}; give a text file")
    try:
        raw = path.read_bytes()
    except OSError as e:  # permissions, an I/O error: say so, not that something is missing from the hub
        raise DataError(f"{path}: cannot be read ({e.strerror or e}); check the file and its permissions") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: line {_line_of(raw, e.start)}: not UTF-8 text (byte {raw[e.start]:#04x}); "
                        "re-save the file as UTF-8") from None


def _check_file(path: str | Path, key: str) -> Path:
    p = Path(path).expanduser()
    try:
        if not p.exists():
            raise DataError(f"{key}={path}: no such file; check the path")
        if not p.is_file() and not p.is_dir():
            raise DataError(f"{key}={path}: {_not_regular(p)}; give a data file")
        size = p.stat().st_size
    except OSError as e:
        raise DataError(f"{key}={path}: cannot be read ({e.strerror or e}); check the path and its permissions") from None
    if p.is_file() and size == 0:
        raise DataError(f"{p}: the file is empty; it needs a header row (CSV) or one JSON object a line (JSONL)")
    return p


def read_table(path: str | Path, key: str = "data") -> list[dict]:
    """Rows of a CSV / JSONL / parquet file as dicts; raises DataError naming the file and line."""
    return [row for _, row in read_table_lines(path, key)]


def read_table_lines(path: str | Path, key: str = "data") -> list[tuple[int, dict]]:
    """(line number, row) pairs, so that a bad value can be reported with its line (parquet: row number)."""
    p = _check_file(path, key)
    if p.is_dir():
        raise DataError(f"{p}: is a folder; this task needs a table (CSV, JSONL or parquet)")
    suffix = p.suffix.lower()
    if suffix == ".parquet":
        import pandas as pd

        try:
            frame = pd.read_parquet(p)
        except Exception as e:  # pyarrow raises several unrelated types for a bad file (and OSError when unreadable)
            raise DataError(f"{p}: not a readable parquet file ({type(e).__name__}: {e})") from None
        rows = list(enumerate(frame.to_dict("records"), 1))
    elif suffix in (".jsonl", ".json"):
        rows = []
        for n, line in enumerate(read_text_file(p).splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{p}: line {n}: malformed JSON ({e.msg} at column {e.colno}); "
                                "each line must be one JSON object") from None
            if not isinstance(obj, dict):
                raise DataError(f"{p}: line {n}: expected a JSON object, got {type(obj).__name__}")
            rows.append((n, obj))
    elif suffix == ".csv":
        text = read_text_file(p)
        reader = csv.DictReader(io.StringIO(text, newline=""))
        rows = []
        try:
            for row in reader:
                rows.append((reader.line_num, row))
        except csv.Error as e:
            raise DataError(f"{p}: line {reader.line_num}: malformed CSV ({e})") from None
        for n, row in rows:
            if None in row:
                raise DataError(f"{p}: line {n}: more fields than the header has; quote fields that contain commas")
    else:
        raise DataError(f"{p}: unsupported file type '{suffix}'; use .csv, .jsonl or .parquet")
    if not rows:
        raise DataError(f"{p}: no rows; the file has a header but no data")
    return rows


def pick_column(rows: list[dict], path, candidates: tuple[str, ...], required: bool = True) -> str | None:
    """The first of `candidates` present in the table; DataError listing the columns it has otherwise."""
    columns = list(rows[0].keys())
    for c in candidates:
        if c in columns:
            return c
    if required:
        raise DataError(f"{path}: no column '{candidates[0]}'"
                        + (f" (or {', '.join(repr(c) for c in candidates[1:])})" if len(candidates) > 1 else "")
                        + f"; the file has columns {columns}")
    return None


def read_corpus(path: str | Path, key: str = "data") -> list[dict]:
    """Documents as {"name", "text"}: every .md/.txt file under a folder (sorted), one text file, or a table's
    'text' column."""
    p = _check_file(path, key)
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in TEXT_SUFFIXES)
        if not files:
            raise DataError(f"{p}: no .md or .txt files in this folder")
        docs = [{"name": f.relative_to(p).as_posix(), "text": read_text_file(f)} for f in files]
    elif p.suffix.lower() in TABLE_SUFFIXES:
        rows = read_table(p, key)
        col = pick_column(rows, p, ("text", "content", "document"))
        docs = [{"name": f"{p.name}:{i + 1}", "text": r[col]} for i, r in enumerate(rows)]
    else:
        docs = [{"name": p.name, "text": read_text_file(p)}]
    for d in docs:
        if not isinstance(d["text"], str) or not d["text"].strip():
            raise DataError(f"{p}: document {d['name']} is empty")
    return docs


def hub_dataset(name: str, split: str, family: str, key: str, config: str | None = None):
    """A default dataset from the hub (the user asked for this task without giving a file)."""
    import datasets

    try:
        return datasets.load_dataset(name, config, split=split)
    except Exception as e:  # offline, missing, or a network error: all end the same way for the user
        first = first_line(e, 200)
        raise DataError(f"{family}: could not load the default dataset {name} ({first}); give your own file with "
                        f"--data {family}=FILE (stock lm-eval: --metadata '{{\"{key}\": \"FILE\"}}')") from None


def meta_int(key: str, value, minimum: int) -> int:
    """A whole-number task setting from lm-eval metadata (stock lm-eval passes it unchecked)."""
    try:
        n = int(value)
        if n != float(value) or n < minimum:
            raise ValueError
    except (TypeError, ValueError):
        raise DataError(f"{key}={value!r}: must be a whole number >= {minimum}") from None
    return n
