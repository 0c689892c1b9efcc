"""A checkpoint sweep that finds nothing says where the checkpoints are: `harness train --out out/x` keeps them in
out/x/checkpoints/, so `--adapter 'out/x/checkpoint-*'` gets "did you mean out/x/checkpoints/checkpoint-*?", with
the path written as the user wrote it (relative stays relative), in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.core.errors import HarnessError
from harness.models import checkpoints


def _train_folder(root: Path, steps=(100, 200), final: bool = True) -> Path:
    """What `harness train --out root` leaves: the final adapter, and checkpoints/checkpoint-STEP (adapter files)."""
    for step in steps:
        ckpt = root / "checkpoints" / f"checkpoint-{step}"
        ckpt.mkdir(parents=True)
        (ckpt / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
    (root / "tensorboard").mkdir()
    if final:
        (root / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
    return root


def _error(raw: str) -> str:
    with pytest.raises(HarnessError) as e:
        checkpoints.expand(None, raw)
    message = str(e.value)
    assert "\n" not in message
    return message


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    _train_folder(tmp_path / "out" / "ts-yelp")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("typed, suggested", [
    ("out/ts-yelp/checkpoint-*", "out/ts-yelp/checkpoints/checkpoint-*"),  # the old README's layout
    ("./out/ts-yelp/checkpoint-*", "./out/ts-yelp/checkpoints/checkpoint-*"),
    ("out/ts-yelp/checkpoint-[12]00", "out/ts-yelp/checkpoints/checkpoint-[12]00"),
    ("out/checkpoint-*", "out/ts-yelp/checkpoints/checkpoint-*"),  # the run's folder left out
    ("out/*/checkpoint-*", "out/*/checkpoints/checkpoint-*"),
])
def test_a_pattern_that_matches_nothing_suggests_the_checkpoints_folder(project, typed, suggested):
    message = _error(typed)
    assert message.startswith(f"--adapter {typed}: the pattern matches no adapter folder; "
                              f"did you mean {suggested}?"), message
    assert str(project) not in message  # relative as typed, not made absolute
    assert len(checkpoints.expand(None, suggested)) == 2  # and the suggestion does match


def test_the_suggestion_is_relative_when_the_command_line_made_the_path_absolute(project):
    """`harness run` makes --adapter absolute where it enters; the message still shows the path the user typed."""
    message = _error(str(project / "out" / "ts-yelp" / "checkpoint-*"))
    assert message.startswith("--adapter out/ts-yelp/checkpoint-*: the pattern matches no adapter folder; did you mean "
                              "out/ts-yelp/checkpoints/checkpoint-*?"), message


def test_several_runs_are_all_suggested(project):
    _train_folder(project / "out" / "ts-other")
    message = _error("out/checkpoint-*")
    assert ("did you mean one of out/ts-other/checkpoints/checkpoint-*, out/ts-yelp/checkpoints/checkpoint-*?"
            in message), message


def test_a_pattern_matching_only_other_files_says_so(project):
    message = _error("out/ts-yelp/*")  # adapter_config.json, checkpoints/ and tensorboard/: none an adapter folder
    assert message.startswith("--adapter out/ts-yelp/*: the pattern matches 3 paths but no adapter folder; did you "
                              "mean out/ts-yelp/checkpoints/*?"), message


def test_no_suggestion_keeps_the_plain_message(project):
    message = _error("nowhere/checkpoint-*")
    assert "matches no adapter folder (a folder holding adapter_config.json)" in message
    assert "did you mean" not in message and "quote the pattern" in message


def test_the_adapter_folder_itself_is_one_adapter_not_a_sweep(project):
    """`--adapter out/ts-yelp` is the final adapter (as before), even though it holds checkpoints/ too."""
    assert checkpoints.expand(None, "out/ts-yelp") is None
    assert [Path(p).name for _, p in checkpoints.expand(None, "out/ts-yelp/checkpoints")] == ["checkpoint-100",
                                                                                           "checkpoint-200"]


def test_a_training_folder_without_its_final_adapter_points_at_its_checkpoints(tmp_path, monkeypatch):
    """An interrupted (or running) training: no adapter_config.json at the top, checkpoints below it."""
    _train_folder(tmp_path / "out" / "x", steps=(50,), final=False)
    monkeypatch.chdir(tmp_path)
    expected = ("--adapter out/x: holds no final adapter (adapter_config.json; did its training finish?) but 1 "
                "checkpoint in checkpoints/; to evaluate them give --adapter 'out/x/checkpoints/checkpoint-*' (or "
                "--adapter out/x/checkpoints)")
    assert _error("out/x") == expected
    assert _error(str(tmp_path / "out" / "x")) == expected  # made absolute by the command line: shown as typed
    assert _error("out/x/") == expected.replace("--adapter out/x:", "--adapter out/x/:")


def test_harness_run_prints_the_suggestion_in_one_line(project, tinystories, capsys):
    from harness.cli.app import main

    assert main(["run", "--base", str(tinystories), "--adapter", "out/ts-yelp/checkpoint-*", "--tasks", "yelp",
                 "--out", "r", "--no-registry"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --adapter out/ts-yelp/checkpoint-*: the pattern matches no adapter folder; did you mean "
                   "out/ts-yelp/checkpoints/checkpoint-*? (`harness train --out DIR` keeps its checkpoints in "
                   "DIR/checkpoints/)"], err
