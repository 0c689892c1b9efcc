"""Blind human evaluation: a rating sheet with base and adapter answers in random A/B order, a separate key,
and scoring of the filled-in preferences (A / B / tie) into win / tie / loss for the adapter with a CI.

The sheet never says which side is the adapter: columns are A and B, items are shuffled and numbered afresh, and
nothing in it (arm names, document ids, run ids) points back; the key file holds that mapping.
"""

from __future__ import annotations

import csv
import html
import io
import json
import random
from pathlib import Path

from harness.core import results
from harness.core.arms import BASE_ARM, adapter_arms
from harness.core.errors import HarnessError

SHEET_COLUMNS = ["item", "prompt", "reference", "answer_A", "answer_B", "preference"]


def _answer(row: dict) -> str:
    r = row.get("response")
    return r.strip() if isinstance(r, str) else json.dumps(r)


def export(run_dir: Path, task: str, n: int, out: Path, arm: str | None = None, seed: int = 0) -> tuple[Path, Path, Path]:
    from harness.core.results import read_samples

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise HarnessError(f"--n {n}: must be >= 1 (the number of items on the rating sheet)")
    run = results.load_run(run_dir)
    adapters = adapter_arms(run)
    if not adapters:
        raise HarnessError(f"{run_dir}: the run has no adapter arm to compare with the base")
    arm = arm or adapters[0]
    if arm not in adapters:
        raise HarnessError(f"--arm {arm}: not an adapter arm of this run (arms: {', '.join(adapters)})")
    if task not in run["tasks"]:
        raise HarnessError(f"--task {task}: not in this run (tasks: {', '.join(run['tasks'])})")
    for a in (BASE_ARM, arm):
        if not results.samples_path(run_dir, a, task).exists():
            raise HarnessError(f"{results.samples_path(run_dir, a, task)}: missing; the run has no samples of arm '{a}' "
                               f"on {task}, so there is nothing to rate (rerun `harness run` to write them)")
    base = {r["doc_id"]: r for r in read_samples(run_dir, BASE_ARM, task)}
    tuned = {r["doc_id"]: r for r in read_samples(run_dir, arm, task)}
    docs = sorted(set(base) & set(tuned))
    if not docs or not isinstance(base[docs[0]].get("response"), str):
        raise HarnessError(f"--task {task}: blind rating needs generated answers (a generate_until task)")
    rng = random.Random(seed)
    rng.shuffle(docs)
    docs = docs[:n]
    sheet, key = [], {"run_id": run["run_id"], "task": task, "adapter": arm, "items": {}}
    for item, doc_id in enumerate(docs, 1):
        adapter_side = rng.choice("AB")
        a, b = (tuned[doc_id], base[doc_id]) if adapter_side == "A" else (base[doc_id], tuned[doc_id])
        sheet.append({"item": item, "prompt": base[doc_id].get("prompt") or "", "reference": str(base[doc_id].get("target", "")),
                      "answer_A": _answer(a), "answer_B": _answer(b), "preference": ""})
        key["items"][str(item)] = {"adapter": adapter_side, "doc_id": doc_id}
    out.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=SHEET_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(sheet)
    sheet_csv, sheet_html, key_file = out / "sheet.csv", out / "sheet.html", out / "key.json"
    results.atomic_write_text(sheet_csv, buf.getvalue())
    rows = "".join(
        f"<tr><td>{s['item']}</td><td class=t>{html.escape(s['prompt'][-800:])}</td><td class=t>{html.escape(s['reference'])}</td>"
        f"<td class=t>{html.escape(s['answer_A'])}</td><td class=t>{html.escape(s['answer_B'])}</td></tr>" for s in sheet)
    results.atomic_write_text(sheet_html, (
        "<!doctype html><html><head><meta charset='utf-8'><title>Rating sheet</title><style>"
        "td,th{border:1px solid #ccc;padding:4px;vertical-align:top}table{border-collapse:collapse}"
        ".t{white-space:pre-wrap;max-width:380px;font-size:13px}</style></head><body><h1>Which answer is better?</h1>"
        "<p>For each item write A, B or tie in the <code>preference</code> column of sheet.csv.</p><table><tr><th>item</th>"
        f"<th>prompt</th><th>reference</th><th>A</th><th>B</th></tr>{rows}</table></body></html>"))
    results.write_json(key_file, key)
    return sheet_csv, sheet_html, key_file


def score(sheet: Path, key_file: Path) -> dict:
    from scipy import stats as sps

    try:
        key = json.loads(Path(key_file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise HarnessError(f"{key_file}: not a readable key file ({e}); give the key.json `harness blind export` wrote") from None
    items = key.get("items") if isinstance(key, dict) else None
    if not isinstance(items, dict) or not all(isinstance(v, dict) and v.get("adapter") in ("A", "B") for v in items.values()) \
            or not isinstance(key.get("task"), str) or not isinstance(key.get("adapter"), str):
        raise HarnessError(f"{key_file}: not a key file of `harness blind export` (it needs task, adapter and items with "
                           "the adapter's side A or B); give the key.json written with the sheet")
    sheet = Path(sheet)
    if not sheet.is_file():
        raise HarnessError(f"{sheet}: " + ("is a folder" if sheet.is_dir() else "no such file") + "; give the filled-in sheet.csv")
    try:
        with open(sheet, encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            rows, starts, end = [], [], 1
            for row in reader:  # a prompt can span lines: each row's line is where it starts
                rows.append(row)
                starts.append(end + 1)
                end = reader.line_num
    except UnicodeDecodeError:
        raise HarnessError(f"{sheet}: not UTF-8 text; save the sheet as CSV UTF-8") from None
    except csv.Error as e:
        raise HarnessError(f"{sheet}: line {reader.line_num}: malformed CSV ({e}); save the sheet as CSV") from None
    if not rows or "preference" not in (reader.fieldnames or []):
        raise HarnessError(f"{sheet}: no rated items (it needs the columns item and preference, one row per item); "
                           "give the sheet.csv `harness blind export` wrote, with preference filled in")
    wins = ties = losses = 0
    seen: dict[str, int] = {}
    for line, row in zip(starts, rows):
        pref = (row.get("preference") or "").strip().lower()
        item = str(row.get("item") or "").strip()
        if item not in key["items"]:
            raise HarnessError(f"{sheet}: line {line}: item {item!r} is not in the key {key_file}")
        if item in seen:
            raise HarnessError(f"{sheet}: line {line}: item {item} is rated twice (also on line {seen[item]}); "
                               "keep one row per item")
        seen[item] = line
        if pref not in ("a", "b", "tie"):
            raise HarnessError(f"{sheet}: line {line}, column 'preference': {row.get('preference')!r}; write A, B or tie")
        if pref == "tie":
            ties += 1
        elif pref.upper() == key["items"][item]["adapter"]:
            wins += 1
        else:
            losses += 1
    decisive = wins + losses
    out = {"task": key["task"], "adapter": key["adapter"], "n": len(rows), "wins": wins, "ties": ties, "losses": losses}
    if decisive:
        test = sps.binomtest(wins, decisive, 0.5)
        ci = test.proportion_ci(confidence_level=0.95, method="exact")
        out.update(win_rate=wins / decisive, win_rate_ci95=[float(ci.low), float(ci.high)], p_value=float(test.pvalue),
                   test="exact binomial (sign test) on decisive items")
    return out
