"""`harness train` checkpoints: one in OUT/checkpoints/checkpoint-STEP every --save-steps (and at the last step),
every one kept by default so that a checkpoint sweep sees them all; --save-total-limit N (or `save_total_limit: N`
in the YAML) keeps the newest N, and an interrupted run still resumes from the latest. Real (short) training runs on
TinyStories-656K."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_train import CountSteps, StopAt  # Ctrl-C at a step, and the steps run

from harness.cli.app import build_parser, main
from harness.models import checkpoints

ROWS = [{"instruction": f"Say the word number {i % 4}.", "input": "", "output": ["red", "blue", "green", "gold"][i % 4]}
        for i in range(24)]


def _data(tmp_path: Path) -> Path:
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return path


def _argv(base, data, out, *extra) -> list[str]:
    return ["train", "--base", str(base), "--data", str(data), "--format", "instruction", "--out", str(out),
            "--r", "4", "--lora-alpha", "8", "--batch-size", "4", "--gradient-accumulation", "1",
            "--max-seq-length", "128", "--device", "cpu", "--warmup-ratio", "0", "--logging-steps", "1",
            "--save-steps", "2", "--no-registry", *extra]


def _kept(out: Path) -> list[str]:
    return sorted((p.name for p in (out / "checkpoints").iterdir()), key=lambda n: int(n.rsplit("-", 1)[1]))


@pytest.mark.slow
def test_every_checkpoint_is_kept_by_default(tinystories, tmp_path):
    out = tmp_path / "ts"
    assert main(_argv(tinystories, _data(tmp_path), out, "--max-steps", "5")) == 0
    # a save every 2 steps, and one at the last step: every one of them is there
    assert _kept(out) == ["checkpoint-2", "checkpoint-4", "checkpoint-5"]
    assert json.loads((out / "train_summary.json").read_text())["config"]["save_total_limit"] is None
    # the sweep the README shows finds them, in step order
    swept = checkpoints.expand(None, str(out / "checkpoints" / "checkpoint-*"))
    assert [Path(p).name for _, p in swept] == ["checkpoint-2", "checkpoint-4", "checkpoint-5"]




def _config(argv: list[str], yaml_values: dict):
    from harness.train.config import FIELDS, from_sources

    args = build_parser().parse_args(argv)
    return from_sources(yaml_values, {k: getattr(args, k) for k in FIELDS if getattr(args, k, None) is not None})


@pytest.mark.slow
def test_save_total_limit_keeps_the_newest_and_resume_still_works(tinystories, tmp_path):
    from harness.train.trainer import run

    out = tmp_path / "ts"
    argv = _argv(tinystories, _data(tmp_path), out, "--max-steps", "9")
    with pytest.raises(KeyboardInterrupt):
        run(_config(argv, {"save_total_limit": 2}), callbacks=(StopAt(7),), registry=False)  # from the YAML
    assert _kept(out) == ["checkpoint-4", "checkpoint-6"]  # saved at 2, 4, 6: the newest 2 kept
    counter = CountSteps()
    # the same run again, now keeping 1 (how many checkpoints stay on disk does not make it another run)
    run(_config(argv + ["--save-total-limit", "1"], {"save_total_limit": 2}), callbacks=(counter,), registry=False)
    assert counter.steps == [7, 8, 9], "resumes after the latest checkpoint, checkpoint-6"
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["resumed_from"].endswith("checkpoint-6") and summary["steps"] == 9
    assert summary["config"]["save_total_limit"] == 1  # the command line wins over the YAML
    assert _kept(out) == ["checkpoint-9"]


@pytest.mark.parametrize("value, where", [("0", "cli"), ("-3", "cli"), (0, "yaml")])
def test_save_total_limit_below_one_is_one_clear_line(tinystories, tmp_path, capsys, value, where):
    argv = _argv(tinystories, _data(tmp_path), tmp_path / "out", "--max-steps", "1")
    if where == "cli":
        argv += ["--save-total-limit", value]
    else:
        (tmp_path / "train.yaml").write_text(f"save_total_limit: {value}\n")
        argv += ["--config", str(tmp_path / "train.yaml")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: save_total_limit {value}: must be >= 1 (or leave it out to keep every checkpoint)"], err
    assert not (tmp_path / "out").exists()


def test_save_total_limit_is_a_flag_and_not_part_of_the_runs_identity(tinystories, tmp_path):
    from harness.train.config import TrainConfig

    args = build_parser().parse_args(_argv(tinystories, _data(tmp_path), tmp_path / "o", "--save-total-limit", "3"))
    assert args.save_total_limit == 3
    assert build_parser().parse_args(_argv(tinystories, _data(tmp_path), tmp_path / "o")).save_total_limit is None
    assert TrainConfig().save_total_limit is None
    assert "save_total_limit" in TrainConfig().to_json()  # recorded in train_summary.json's config
    assert "save_total_limit" not in TrainConfig().fingerprint_fields()  # a rerun with another N still resumes
