"""Merged runs cannot contradict themselves: runs merge per task and document; runs that scored different documents
for a task (or the base differently on the same ones) are refused with one line; each arm's numbers for a task come
from one run; and every delta in every table equals the adapter value minus the base value printed beside it, on a
single run and on merged ones."""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

import pytest

from harness.cli.app import main
from harness.core import comparisons, results
from harness.core.arms import BASE_ARM
from harness.core.errors import HarnessError
from reports import data, markdown, tables

DATA = Path(__file__).resolve().parent / "data"
GOLDEN_RUN = DATA / "golden_run"
ADAPTERS = ("lora_r8", "lora_r16")


def _write(d: Path, run: dict) -> Path:
    results.write_json(d / "run.json", run)
    return d


def _part(tmp_path: Path, name: str, adapters=ADAPTERS, tasks=None) -> Path:
    """A copy of the golden run with only `adapters` (and the base) and only `tasks` (default: all)."""
    run = results.load_run(GOLDEN_RUN)
    d = tmp_path / name
    part = copy.deepcopy(run)
    part["run_id"] += "-" + name
    keep = {BASE_ARM, *adapters}
    tasks = list(run["tasks"]) if tasks is None else tasks
    part["arms"] = [a for a in run["arms"] if a["name"] in keep]
    part["tasks"] = {t: v for t, v in run["tasks"].items() if t in tasks}
    for key in ("scores", "comparisons", "diagnostics", "generation_diagnostics"):
        part[key] = [r for r in run.get(key) or [] if r["arm"] in keep and r["task"] in tasks]
    for arm in keep:
        for task in tasks:
            src = results.samples_path(GOLDEN_RUN, arm, task)
            if src.exists():
                results.samples_path(d, arm, task).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(src, results.samples_path(d, arm, task))
    return _write(d, part)


def _fewer_documents(d: Path, task: str, keep: int) -> None:
    """Drop all but the first `keep` documents of `task` from every arm of run `d`, and recompute its comparisons
    (and the documents hash) as `harness run` would have written them."""
    run = results.load_run(d)
    for a in run["arms"]:
        path = results.samples_path(d, a["name"], task)
        rows = results.read_samples_file(path)
        results.write_jsonl(path, [r for r in rows if r["doc_id"] < keep])
    run["tasks"][task]["n_docs"] = keep
    for s in run["scores"]:
        if s["task"] == task:
            s["n"] = keep
    comparisons.fill(run, d, resamples=200)
    _write(d, run)


def _report_cli(dirs, tmp_path, capsys) -> tuple[int, str]:
    capsys.readouterr()
    rc = main(["report", *map(str, dirs), "--out", str(tmp_path / "out"), "--format", "md"])
    return rc, capsys.readouterr().err


# --- refused ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("order", ["longer-first", "shorter-first"])
def test_runs_of_different_documents_are_refused_with_one_line(tmp_path, capsys, order):
    long, short = _part(tmp_path, "long", ("lora_r8",)), _part(tmp_path, "short", ("lora_r16",))
    _fewer_documents(short, "yelp", 20)
    assert results.load_run(short)["tasks"]["yelp"]["documents"] != results.load_run(long)["tasks"]["yelp"]["documents"]
    dirs = [long, short] if order == "longer-first" else [short, long]
    rc, err = _report_cli(dirs, tmp_path, capsys)
    assert rc == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    line = lines[0]
    assert "different documents for task 'yelp'" in line
    assert str(long) in line and str(short) in line and "40 documents" in line and "20 documents" in line
    assert "--limit" in line  # how to fix it
    assert not (tmp_path / "out" / "report.md").exists()


def _cut_samples(d: Path, task: str, keep: int) -> None:
    """Every arm's samples of `task` cut to `keep` lines, run.json left as it was (an edit after the run)."""
    for path in (d / "samples").glob(f"*/{task}.jsonl"):
        path.write_text("".join(path.read_text().splitlines(keepends=True)[:keep]))


@pytest.mark.parametrize("how", ["alone", "merged"])
def test_samples_cut_after_the_run_are_refused_even_where_run_json_agrees(tmp_path, capsys, how):
    """run.json still says 30 general_qa documents while the samples hold 25: every n and Δ would disagree."""
    cut = _part(tmp_path, "cut", ("lora_r16",))
    _cut_samples(cut, "general_qa", 25)
    dirs = [cut] if how == "alone" else [_part(tmp_path, "whole", ("lora_r8",)), cut]
    rc, err = _report_cli(dirs, tmp_path, capsys)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert "general_qa.jsonl: its documents are not the ones" in lines[0] and "cut or edited" in lines[0]
    assert not (tmp_path / "out" / "report.md").exists()


def test_a_missing_samples_file_of_a_scored_arm_is_refused(tmp_path, capsys):
    d = _part(tmp_path, "gone", ("lora_r8",))
    (d / "samples" / "lora_r8" / "yelp.jsonl").unlink()
    rc, err = _report_cli([d], tmp_path, capsys)
    assert rc == 2 and "lora_r8/yelp.jsonl: missing, but" in err and "has scores of arm 'lora_r8' on task 'yelp'" in err


def test_documents_are_checked_from_samples_when_run_json_lacks_the_hash(tmp_path):
    long, short = _part(tmp_path, "long", ("lora_r8",)), _part(tmp_path, "short", ("lora_r16",))
    _fewer_documents(short, "docqa", 6)
    for d in (long, short):
        run = results.load_run(d)
        for info in run["tasks"].values():
            info.pop("documents", None)
        _write(d, run)
    with pytest.raises(HarnessError, match="different documents for task 'docqa'"):
        data.load([long, short])


def test_same_documents_but_a_different_base_score_is_refused(tmp_path):
    first, second = _part(tmp_path, "a", ("lora_r8",)), _part(tmp_path, "b", ("lora_r16",))
    run = results.load_run(second)
    row = next(s for s in run["scores"] if s["arm"] == BASE_ARM and s["task"] == "general_qa")
    row["value"] += 0.1
    _write(second, run)
    with pytest.raises(HarnessError, match="base model differently on the same documents of task 'general_qa'") as e:
        data.load([first, second])
    assert "\n" not in str(e.value)


# --- merged -------------------------------------------------------------------------------------------------------

def test_runs_of_the_same_documents_merge(tmp_path, capsys):
    dirs = [_part(tmp_path, "r8", ("lora_r8",)), _part(tmp_path, "r16", ("lora_r16",))]
    rc, err = _report_cli(dirs, tmp_path, capsys)
    assert rc == 0, err
    merged, golden = data.load(dirs), data.load([GOLDEN_RUN])
    assert merged.adapters == list(ADAPTERS)
    cols = ["task", "metric", "n", "base", *ADAPTERS, *[f"{a}:delta" for a in ADAPTERS]]
    assert tables.headline(merged, True)[cols].equals(tables.headline(golden, True)[cols])


def test_base_of_a_task_only_a_later_run_has_is_shown(tmp_path):
    """The base arm's scores, diagnostics and samples of each task come from the first run that has the task."""
    first = _part(tmp_path, "yelp-only", ("lora_r8",), tasks=["yelp"])
    second = _part(tmp_path, "all", ("lora_r16",))
    report = data.load([first, second])
    head = tables.headline(report, True)
    assert set(head["task"]) == set(results.load_run(GOLDEN_RUN)["tasks"])
    assert head[BASE_ARM].notna().all()
    for task in ("docqa", "general_qa", "perplexity"):
        rows = head[head.task == task]
        assert rows["lora_r8"].isna().all() and rows["lora_r16"].notna().all()
        assert len(report.samples(BASE_ARM, task)) == results.load_run(GOLDEN_RUN)["tasks"][task]["n_docs"]
    header, rows = next(t for t in _md_tables(markdown.render(report, [])) if t[0][:2] == ["task", "metric"]
                        and BASE_ARM in t[0])  # the headline: the base column holds a value on every row
    assert len(rows) >= 15 and all(_number(r[header.index(BASE_ARM)]) for r in rows)


def test_the_same_adapter_in_two_runs_keeps_the_tasks_only_the_later_run_has(tmp_path):
    first = _part(tmp_path, "r8-yelp", ("lora_r8",), tasks=["yelp"])
    second = _part(tmp_path, "r8-all", ("lora_r8",))
    report = data.load([first, second])
    assert report.adapters == ["lora_r8"]
    assert len(report.notes) == 1 and "shown once" in report.notes[0] and "docqa" in report.notes[0]
    head = tables.headline(report, True)
    assert head["lora_r8"].notna().all() and head[head.metric != "n_parsed"]["lora_r8:delta"].notna().all()  # a count is not compared
    golden = tables.headline(data.load([GOLDEN_RUN]), True)
    cols = ["task", "metric", "n", "base", "lora_r8", "lora_r8:delta"]
    key = ["task", "metric"]
    assert head[cols].sort_values(key).reset_index(drop=True).equals(
        golden[cols].sort_values(key).reset_index(drop=True))


# --- every delta is the difference of the values beside it --------------------------------------------------------

NUMBER = re.compile(r"[+\-−]?\d+(?:\.(\d+))?(?:e([+\-−]?\d+))?")


def _number(cell: str) -> tuple[float, float] | None:
    """The first number of a cell and half a unit of its last printed digit."""
    m = NUMBER.search(cell.replace("**", ""))
    if m is None:
        return None
    exp = int(m.group(2).replace("−", "-")) if m.group(2) else 0
    return float(m.group(0).replace("−", "-")), 0.5 * 10.0 ** (exp - len(m.group(1) or ""))


def _md_tables(md: str) -> list[tuple[list[str], list[list[str]]]]:
    out, lines = [], md.splitlines()
    for i in range(len(lines) - 1):
        if lines[i].startswith("|") and re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", lines[i + 1].strip()):
            split = lambda ln: [c.strip() for c in re.split(r"(?<!\\)\|", ln.strip().strip("|"))]  # noqa: E731
            rows = []
            for ln in lines[i + 2:]:
                if not ln.startswith("|"):
                    break
                rows.append(split(ln))
            out.append((split(lines[i]), rows))
    return out


def _column(header: list[str], name: str) -> int | None:
    for j, h in enumerate(header):
        if h == name or h.startswith(name + " ["):
            return j
    return None


def _delta_checks(md: str) -> list[tuple[str, float, float, float]]:
    """(where, printed delta, printed minuend - subtrahend, tolerance) for every delta cell with both values beside it."""
    checks = []
    for header, rows in _md_tables(md):
        for j, h in enumerate(header):
            m = re.fullmatch(r"Δ (.+?)(?: \[95% CI\])?", h)
            if not m:
                continue
            pair = re.split(r" (?:−|-|vs\.?) ", m.group(1))
            tuned, ref = (pair[0], BASE_ARM) if len(pair) == 1 else pair
            # the pairwise table names its arms in columns "first"/"second" and its values "first value"/"second value"
            ct, cr = (_column(header, f"{tuned} value") or _column(header, tuned),
                      _column(header, f"{ref} value") or _column(header, ref))
            if ct is None or cr is None:
                continue
            for row in rows:
                d, t, r = (_number(row[k]) for k in (j, ct, cr))
                if d is None or t is None or r is None:
                    continue
                checks.append((f"{row[:2]} {h}", d[0], t[0] - r[0], d[1] + t[1] + r[1] + 1e-12))
    return checks


def _merged_variants(tmp_path):
    return {
        "single": lambda: [GOLDEN_RUN],
        "merged": lambda: [_part(tmp_path, "r8", ("lora_r8",)), _part(tmp_path, "r16", ("lora_r16",))],
        "merged-partial-tasks": lambda: [_part(tmp_path, "y", ("lora_r16",), tasks=["yelp", "docqa"]),
                                         _part(tmp_path, "all", ("lora_r8",))],
        "merged-duplicate": lambda: [_part(tmp_path, "r8-y", ("lora_r8",), tasks=["yelp"]), GOLDEN_RUN],
    }


@pytest.mark.parametrize("which", ["single", "merged", "merged-partial-tasks", "merged-duplicate"])
def test_every_delta_is_the_difference_of_the_values_beside_it(which, tmp_path):
    report = data.load(_merged_variants(tmp_path)[which]())
    counts = {}
    for all_metrics in (False, True):  # the data every medium renders, unrounded
        head = tables.headline(report, all_metrics)
        n = counts[all_metrics] = 0
        for _, row in head.iterrows():
            for a in report.adapters:
                d = row.get(f"{a}:delta")
                if d is None or d != d:
                    continue
                n = counts[all_metrics] = n + 1
                assert d == pytest.approx(row[a] - row[BASE_ARM], abs=1e-9), (row["task"], row["metric"], a)
        assert n >= (26 if which == "merged-partial-tasks" else 2 * 15 if which != "merged-duplicate" else 15)
    md = markdown.render(report, [])
    checks = _delta_checks(md)
    assert len(checks) >= counts[False] + counts[True]  # the headline and the per-task tables
    wrong = [c for c in checks if abs(c[1] - c[2]) > c[3]]
    assert wrong == []
    pairs = [c for c in checks if "second − first" in c[0]]  # adapter vs adapter: one pair, every headline metric
    assert len(pairs) == (11 if which == "merged-partial-tasks" else 15)
