"""Training settings no training can mean, and `harness blind export --n 0`: refused before anything is written."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from harness.cli.app import main
from harness.core.errors import ConfigError
from harness.train.config import from_sources

GOLDEN = Path(__file__).resolve().parent / "data" / "golden_run"


@pytest.fixture
def good(tiny_model, tmp_path) -> dict:
    data = tmp_path / "reviews.csv"
    data.write_text("label,text\n0,awful\n4,great\n")
    return {"base": str(tiny_model), "data": str(data), "format": "yelp", "out": str(tmp_path / "out")}


@pytest.mark.parametrize("change, message", [
    ({"max_steps": 0}, "max_steps 0: must be >= 1"),
    ({"max_steps": -5}, "max_steps -5: must be >= 1"),
    ({"epochs": 0}, "epochs 0: must be > 0 (or give --max-steps N)"),
    ({"epochs": -2.0}, "epochs -2.0: must be > 0"),
    ({"epochs": float("inf")}, "epochs inf: must be a finite number"),
    ({"learning_rate": 0.0}, "learning_rate 0.0: must be > 0"),
    ({"learning_rate": -1e-4}, "learning_rate -0.0001: must be > 0"),
    ({"learning_rate": float("nan")}, "learning_rate nan: must be a finite number"),
    ({"eval_fraction": 0.0}, "eval_fraction 0.0: must be between 0 and 1"),
    ({"eval_fraction": 1.0}, "eval_fraction 1.0: must be between 0 and 1"),
    ({"eval_fraction": float("nan")}, "eval_fraction nan: must be a finite number"),
    ({"batch_size": 0}, "batch_size 0: must be >= 1"),
    ({"lora_dropout": 1.0}, "lora_dropout 1.0: must be in [0, 1)"),
    ({"lora_dropout": float("nan")}, "lora_dropout nan: must be a finite number"),
    ({"warmup_ratio": float("nan")}, "warmup_ratio nan: must be a finite number"),
    ({"weight_decay": -0.1}, "weight_decay -0.1: must be >= 0"),
    ({"max_grad_norm": -1.0}, "max_grad_norm -1.0: must be >= 0"),
    ({"seed": -1}, "seed -1: must be between 0 and 4294967295"),
    ({"device": "gpu"}, "device 'gpu': expected auto, cpu, cuda, cuda:N or mps"),
    ({"r": 4.5}, "'r': 4.5 is not a whole number"),
    ({"r": float("inf")}, "'r': inf is not a whole number"),
    ({"r": True}, "'r': True is not a whole number"),
    ({"r": "many"}, "'r': 'many' is not a whole number"),
    ({"target_modules": 5}, "'target_modules': 5 is not a list of module names"),
    ({"target_modules": ["q_proj", 3]}, "'target_modules': ['q_proj', 3] is not a list"),
    ({"load_in_4bit": "maybe"}, "'load_in_4bit': 'maybe' is not true or false"),
    ({"lr_scheduler": ["cosine"]}, "'lr_scheduler': ['cosine'] is not a string"),
    ({"learning_rate": list(range(10_000))}, "is not a number"),
    ({"eval_data": "a\0b.csv"}, "eval_data 'a\\x00b.csv': contains a NUL character"),
])
def test_nonsense_is_refused(good, change, message):
    with pytest.raises(ConfigError) as e:
        from_sources(change, good, "train.yaml")
    assert message in str(e.value)
    assert len(str(e.value)) < 600  # a huge value is cut short in the message


@pytest.mark.parametrize("change", [{}, {"max_steps": -1}, {"max_steps": 3, "epochs": 0}, {"r": "16"}, {"r": 8.0},
                                    {"load_in_4bit": "yes"}, {"target_modules": "all-linear"}, {"max_grad_norm": 0},
                                    {"target_modules": ["q_proj", "v_proj"]}, {"eval_fraction": 0.2}, {"data": 2024}])
def test_sensible_settings_pass(good, change, tmp_path):
    if "data" in change:
        (tmp_path / "2024").write_text("label,text\n0,awful\n")
        change = {"data": str(tmp_path / "2024")}
    cfg = from_sources(change, good)
    assert cfg.r in (64, 16, 8)


def test_cli_max_steps_zero_writes_nothing(good, capsys):
    argv = ["train", "--base", good["base"], "--data", good["data"], "--format", "yelp", "--out", good["out"],
            "--no-registry", "--max-steps", "0"]
    assert main(argv) == 2
    assert "max_steps 0: must be >= 1" in capsys.readouterr().err
    assert not Path(good["out"]).exists()


@pytest.mark.parametrize("n", ["0", "-3"])
def test_blind_export_needs_items(tmp_path, capsys, n):
    out = tmp_path / "blind"
    assert main(["blind", "export", str(GOLDEN), "--task", "docqa", "--n", n, "--out", str(out)]) == 2
    assert f"--n {n}: must be >= 1" in capsys.readouterr().err
    assert not out.exists()
    assert main(["blind", "export", str(GOLDEN), "--task", "docqa", "--n", "1", "--out", str(out)]) == 0
    with open(out / "sheet.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 1
