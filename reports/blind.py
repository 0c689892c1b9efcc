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

from harness import results
from harness.errors import HarnessError

SHEET_COLUMNS = ["item", "prompt", "reference", "answer_A", "answer_B", "preference"]


def _answer(row: dict) -> str:
    r = row.get("response")
    return r.strip() if isinstance(r, str) else json.dumps(r)


def export(run_dir: Path, task: str, n: int, out: Path, arm: str | None = None, seed: int = 0) -> tuple[Path, Path, Path]:
    run = results.load_run(run_dir)
    adapters = [a["name"] for a in run["arms"][1:]]
    if not adapters:
        raise HarnessError(f"{run_dir}: the run has no adapter arm to compare with the base")
    arm = arm or adapters[0]
    if arm not in adapters:
        raise HarnessError(f"--arm {arm}: not an adapter arm of this run (arms: {', '.join(adapters)})")
    if task not in run["tasks"]:
        raise HarnessError(f"--task {task}: not in this run (tasks: {', '.join(run['tasks'])})")
    base = {r["doc_id"]: r for r in results.read_samples(run_dir, "base", task)}
    tuned = {r["doc_id"]: r for r in results.read_samples(run_dir, arm, task)}
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
        key = json.loads(Path(key_file).read_text())
    except (OSError, ValueError) as e:
        raise HarnessError(f"{key_file}: not a readable key file ({e})") from None
    with open(sheet, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    wins = ties = losses = 0
    for line, row in enumerate(rows, 2):
        pref = (row.get("preference") or "").strip().lower()
        item = str(row.get("item", "")).strip()
        if item not in key["items"]:
            raise HarnessError(f"{sheet}: line {line}: item {item!r} is not in the key {key_file}")
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
