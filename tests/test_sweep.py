"""Checkpoint sweeps: a glob or a folder of checkpoints becomes one arm per checkpoint in step order, run.json
records each step, and the report's Sweep section names the best checkpoint with a selection-aware interval and the
set statistically tied with it."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from harness.cli.app import main
from harness.core import comparisons, results
from harness.core.aggregations import aggregators
from harness.core.errors import HarnessError
from harness.models import checkpoints
from reports import data, markdown, plots, sweep

REPO = Path(__file__).resolve().parents[1]
GOLDEN_RUN = REPO / "tests" / "data" / "golden_run"
BYO = REPO / "examples" / "byo_task"


def _adapter_folders(root: Path, names: list[str], source: Path) -> None:
    for name in names:
        shutil.copytree(source, root / name)


def test_a_glob_expands_in_numeric_step_order(tmp_path, tiny_adapters):
    _adapter_folders(tmp_path / "out", ["checkpoint-1000", "checkpoint-200", "checkpoint-100", "checkpoint-300"],
                     tiny_adapters[0])
    (tmp_path / "out" / "runs").mkdir()  # a folder the trainer writes that is no adapter
    got = checkpoints.expand(None, str(tmp_path / "out" / "checkpoint-*"))
    assert [Path(p).name for _, p in got] == ["checkpoint-100", "checkpoint-200", "checkpoint-300", "checkpoint-1000"]
    assert [n for n, _ in got] == [None] * 4  # named after their folders
    folder = checkpoints.expand("lr2e-4", str(tmp_path / "out"))  # a folder of checkpoints, named with a prefix
    assert [n for n, _ in folder] == ["lr2e-4-checkpoint-100", "lr2e-4-checkpoint-200", "lr2e-4-checkpoint-300",
                                      "lr2e-4-checkpoint-1000"]
    assert checkpoints.expand(None, str(tmp_path / "out" / "checkpoint-100")) is None  # one adapter: not a sweep
    assert checkpoints.expand(None, "") is None and checkpoints.expand(None, "  ") is None  # never the current folder
    with pytest.raises(HarnessError, match="matches no adapter folder"):
        checkpoints.expand(None, str(tmp_path / "nowhere" / "checkpoint-*"))


def test_the_step_and_loss_come_from_the_trainers_state(tmp_path):
    folder = tmp_path / "final"
    folder.mkdir()
    (folder / checkpoints.TRAINER_STATE).write_text(json.dumps({"global_step": 30, "log_history": [
        {"step": 10, "loss": 2.0}, {"step": 20, "loss": 1.5, }, {"step": 20, "eval_loss": 1.7},
        {"step": 30, "loss": 1.2}, {"step": 40, "loss": 0.1}]}))
    assert checkpoints.step_of(folder) == 30
    assert checkpoints.training_at(folder, 30) == {"step": 30, "loss": 1.2, "eval_loss": 1.7}
    assert checkpoints.step_of(tmp_path) is None


def test_run_with_a_quoted_glob_gives_arms_in_step_order_and_a_sweep_section(tmp_path, tiny_model, tiny_adapters,
                                                                            monkeypatch, capsys):
    work = tmp_path / "work"
    _adapter_folders(work / "out", ["checkpoint-1000", "checkpoint-200"], tiny_adapters[0])
    _adapter_folders(work / "out", ["checkpoint-100"], tiny_adapters[1])
    shutil.copytree(BYO, work / "examples" / "byo_task")
    monkeypatch.chdir(work)  # relative paths, as a user types them
    assert main(["run", "--base", str(tiny_model), "--adapter", "out/checkpoint-*", "--include-path",
                 "examples/byo_task", "--tasks", "capitals", "--out", "run", "--cache-dir", "cache", "--device", "cpu",
                 "--registry", "reg.sqlite", "--max-gen-toks", "4"]) == 0
    run = results.load_run(work / "run")
    arms = [a["name"] for a in run["arms"]]
    assert arms == ["base", "checkpoint-100", "checkpoint-200", "checkpoint-1000"]
    assert [a["adapter"]["checkpoint"]["step"] for a in run["arms"][1:]] == [100, 200, 1000]
    capsys.readouterr()
    assert main(["registry", "--registry", "reg.sqlite", "best", "--task", "capitals", "--metric", "exact_match"]) == 0
    table = capsys.readouterr().out
    assert " step " in table  # the registry ranks checkpoints with their training step
    rows = [line.split() for line in table.splitlines() if line.split() and line.split()[0].isdigit()]
    assert {(r[2], int(r[3])) for r in rows} == {("checkpoint-100", 100), ("checkpoint-200", 200), ("checkpoint-1000", 1000)}
    assert main(["report", "run", "--format", "md,png"]) == 0
    md = (work / "run" / "report.md").read_text()
    assert "## Sweep" in md and "Best checkpoint on capitals exact_match" in md
    assert (work / "run" / "plots" / "sweep.png").is_file()


def _sweep_run(tmp_path: Path, correct: dict[str, float]) -> Path:
    """The golden run's base on Yelp, and one checkpoint arm per entry of `correct` (step -> the share of reviews
    it answers right, deterministic: the first share x 40 reviews right, the rest one star off)."""
    run = results.load_run(GOLDEN_RUN)
    out = tmp_path / "sweep"
    base_rows = results.read_samples(GOLDEN_RUN, "base", "yelp")
    aggs = aggregators()
    run["tasks"] = {"yelp": dict(run["tasks"]["yelp"], aggregations={"accuracy": "accuracy"})}
    run["arms"] = [run["arms"][0]]
    run["scores"] = [dict(s) for s in run["scores"] if s["task"] == "yelp" and s["metric"] == "accuracy"
                     and s["arm"] == "base"]
    results.write_jsonl(results.samples_path(out, "base", "yelp"), base_rows)
    for step, share in correct.items():
        name = f"checkpoint-{step}"
        rows = []
        for i, r in enumerate(base_rows):
            gold = r["metrics"]["accuracy"][0]
            pred = gold if i < round(share * len(base_rows)) else (gold + 1) % 5
            rows.append(dict(copy.deepcopy(r), metrics={"accuracy": [gold, pred]}))
        results.write_jsonl(results.samples_path(out, name, "yelp"), rows)
        run["arms"].append({"name": name, "adapter": {"path": f"/out/{name}", "fingerprint": f"sha256:{step:064d}",
                                                      "peft": {"peft_type": "LORA", "r": 8},
                                                      "checkpoint": {"step": step, "loss": 1.0 / step}}})
        run["scores"].append(dict(run["scores"][0], arm=name, ci95=None,
                                  value=float(aggs["accuracy"]([x["metrics"]["accuracy"] for x in rows]))))
    run["scores"][0]["ci95"] = None
    run["comparisons"] = []
    comparisons.fill(run, out, resamples=200, seed=0)
    results.write_json(out / results.RUN_FILE, run)
    return out


def test_ten_checkpoints_that_change_nothing_are_all_tied(tmp_path):
    sel = sweep.select(data.load([_sweep_run(tmp_path, {100 * i: 0.5 for i in range(1, 11)})]))
    assert [r["status"] for r in sel["rows"]].count("best") == 1
    assert sorted(r["status"] for r in sel["rows"]) == ["best"] + ["tied"] * 9
    assert sel["pairs"] == 45 and sel["k"] == 10


def test_one_clearly_better_checkpoint_stands_alone(tmp_path):
    report = data.load([_sweep_run(tmp_path, {100: 0.3, 200: 0.35, 300: 1.0, 400: 0.3, 500: 0.25})])
    sel = sweep.select(report)
    status = {r["step"]: r["status"] for r in sel["rows"]}
    assert status == {100: "worse", 200: "worse", 300: "best", 400: "worse", 500: "worse"}
    best = next(r for r in sel["rows"] if r["status"] == "best")
    # the simultaneous interval is the 95% CI widened, never narrower
    assert best["sim_ci"][0] <= best["ci95"][0] and best["sim_ci"][1] >= best["ci95"][1]
    for r in sel["rows"]:
        if r["status"] == "worse":  # Bonferroni over the 10 pairs: the adjusted p is 10 x the raw one, capped at 1
            assert r["vs_best"]["p_adjusted"] == pytest.approx(min(1.0, 10 * r["vs_best"]["p_value"]))
            assert r["vs_best"]["delta"] == pytest.approx(1.0 - r["value"])
    md = markdown.render(report, [])
    assert "Best checkpoint on yelp accuracy: checkpoint-300 (step 300)" in md and "tied with it: none" in md
    written = plots.checkpoints(report, tmp_path / "plots", {"png"})
    assert written == ["plots/sweep.png"] and "Green star: the best checkpoint" in plots.caption(report, written[0])


def test_no_sweep_section_without_steps():
    assert sweep.table(data.load([GOLDEN_RUN])) is None


def test_the_latex_sweep_table_gives_each_checkpoints_step(tmp_path):
    from reports import latex

    t = latex.sweep_table(data.load([_sweep_run(tmp_path, {100: 0.3, 1000: 0.5})]))
    assert [row[0] for row in t.rows] == ["checkpoint-100", "checkpoint-1000"]
    assert [row[t.header.index("trained")] for row in t.rows] == ["step 100", "step 1000"]
