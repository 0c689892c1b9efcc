"""`harness train`: a real (tiny) training run, resume after an interrupt, the overfitting verdict, bad input."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import TrainerCallback

from harness.cli.app import main
from harness.train.log import overfitting_verdict, rows_from_history

ROWS = [{"instruction": f"Say the word number {i % 4}.", "input": "", "output": ["red", "blue", "green", "gold"][i % 4]}
        for i in range(24)]


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def train_argv(base, data, out, *extra):
    return ["train", "--base", str(base), "--data", str(data), "--format", "instruction", "--out", str(out),
            "--r", "8", "--lora-alpha", "16", "--learning-rate", "1e-2", "--batch-size", "4",
            "--gradient-accumulation", "1", "--logging-steps", "1", "--max-seq-length", "128", "--device", "cpu",
            "--warmup-ratio", "0", *extra]


@pytest.fixture(scope="module")
def trained(tiny_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    data = write_jsonl(root / "data.jsonl", ROWS)
    out = root / "adapter"
    assert main(train_argv(tiny_model, data, out, "--max-steps", "20", "--eval-fraction", "0.25", "--eval-steps", "5",
                           "--save-steps", "10", "--lr-scheduler", "constant")) == 0
    return out


def test_loss_decreases_and_outputs_parse(trained, tiny_model):
    with open(trained / "training_log.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["step", "epoch", "loss", "grad_norm", "learning_rate", "eval_loss"]
    losses = [float(r["loss"]) for r in rows if r["loss"]]
    evals = [float(r["eval_loss"]) for r in rows if r["eval_loss"]]
    assert len(losses) >= 15 and sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
    assert len(evals) >= 4 and evals[-1] < evals[0]
    summary = json.loads((trained / "train_summary.json").read_text())
    for key in ("config", "data", "wall_s", "tokens_per_s", "peak_rss_bytes", "peak_gpu_bytes", "final_train_loss",
                "final_eval_loss", "eval_perplexity", "overfitting", "steps"):
        assert key in summary, key
    assert summary["steps"] == 20 and summary["data"]["rows"] == 24
    # the adapter's files follow the umask like every file the harness writes (safetensors alone writes 0600)
    import os

    umask = os.umask(0)
    os.umask(umask)
    for name in ("adapter_model.safetensors", "adapter_config.json", "train_summary.json"):
        assert (trained / name).stat().st_mode & 0o777 == 0o666 & ~umask, name
    assert summary["data"]["train_examples"] == 18 and summary["data"]["eval_examples"] == 6
    assert summary["data"]["fingerprint"].startswith("sha256:") and summary["tokens_per_s"] > 0
    assert summary["eval_perplexity"] == pytest.approx(__import__("math").exp(summary["final_eval_loss"]))
    assert summary["config"]["r"] == 8 and summary["target_modules"] == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert list((trained / "tensorboard").glob("events.out.tfevents.*"))
    # The adapter is a real peft adapter: it loads on the base and changes its outputs.
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert json.loads((trained / "adapter_config.json").read_text())["r"] == 8
    tok = AutoTokenizer.from_pretrained(trained)
    ids = tok("Say the word number 1.", return_tensors="pt")["input_ids"]
    base = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    with torch.no_grad():
        before = base(ids).logits
        after = PeftModel.from_pretrained(base, trained).eval()(ids).logits
    assert not torch.allclose(before, after)


class StopAt(TrainerCallback):
    """Stands in for Ctrl-C at a given step."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt


class CountSteps(TrainerCallback):
    def __init__(self):
        self.steps = []

    def on_step_end(self, args, state, control, **kwargs):
        self.steps.append(state.global_step)


def test_stdout_carries_the_summary_and_the_step_logs_go_to_stderr(tiny_model, tmp_path, capsys):
    """`harness train ... > summary.txt` holds the summary line, not a dict per logging step (those go to stderr with
    the progress bar; training_log.csv keeps the numbers)."""
    data = write_jsonl(tmp_path / "data.jsonl", ROWS)
    assert main(train_argv(tiny_model, data, tmp_path / "adapter", "--max-steps", "4", "--no-registry")) == 0
    out, err = capsys.readouterr()
    assert out.startswith("trained 4 steps") and out.count("\n") == 1, out
    assert err.count("'loss'") == 4


def test_interrupted_run_resumes(tiny_model, tmp_path):
    from harness.cli.app import build_parser
    from harness.train.config import FIELDS, from_sources
    from harness.train.trainer import run

    data = write_jsonl(tmp_path / "data.jsonl", ROWS)
    out = tmp_path / "adapter"
    args = build_parser().parse_args(train_argv(tiny_model, data, out, "--max-steps", "8", "--save-steps", "3"))
    cfg = from_sources({}, {k: getattr(args, k) for k in FIELDS if getattr(args, k, None) is not None})
    with pytest.raises(KeyboardInterrupt):
        run(cfg, callbacks=(StopAt(4),))
    assert (out / "checkpoints" / "checkpoint-3").is_dir() and not (out / "train_summary.json").exists()
    counter = CountSteps()
    run(cfg, callbacks=(counter,))  # the same command again
    assert counter.steps == [4, 5, 6, 7, 8], "continues after checkpoint-3 instead of restarting"
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["steps"] == 8 and summary["resumed_from"].endswith("checkpoint-3")
    with open(out / "training_log.csv") as f:
        steps = [int(r["step"]) for r in csv.DictReader(f)]
    assert steps == sorted(set(steps)) and steps[-1] == 8


def test_yaml_and_cli_override(tiny_model, tmp_path):
    data = write_jsonl(tmp_path / "data.jsonl", ROWS[:8])
    (tmp_path / "train.yaml").write_text("r: 16\nlora_alpha: 32\nmax_steps: 2\ntarget_modules: all-linear\n")
    out = tmp_path / "adapter"
    assert main(train_argv(tiny_model, data, out, "--config", str(tmp_path / "train.yaml"))) == 0
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["config"]["r"] == 8 and summary["config"]["lora_alpha"] == 16  # the command line wins
    assert summary["config"]["max_steps"] == 2 and summary["target_modules"] == "all-linear"  # from the YAML


def _history(evals, trains):
    hist = [{"step": s, "loss": v} for s, v in trains] + [{"step": s, "eval_loss": v} for s, v in evals]
    return rows_from_history(sorted(hist, key=lambda e: e["step"]))


@pytest.mark.parametrize("evals, trains, expected", [
    # eval loss rising 3 times in a row while train loss falls: overfitting
    ([(10, 1.0), (20, 0.9), (30, 0.95), (40, 1.0), (50, 1.1)], [(s, 2.0 - s / 50) for s in range(5, 55, 5)], True),
    # the backwards case: eval loss falling while train loss rises is not overfitting
    ([(10, 1.1), (20, 1.0), (30, 0.95), (40, 0.9), (50, 0.8)], [(s, 1.0 + s / 50) for s in range(5, 55, 5)], False),
    # both rising (a diverging run, not overfitting)
    ([(10, 1.0), (20, 1.1), (30, 1.2), (40, 1.3)], [(s, 1.0 + s / 50) for s in range(5, 45, 5)], False),
    # both falling: healthy
    ([(10, 1.0), (20, 0.9), (30, 0.8), (40, 0.7)], [(s, 2.0 - s / 50) for s in range(5, 45, 5)], False),
    # rising only twice: under the patience of 3
    ([(10, 1.0), (20, 0.9), (30, 1.0), (40, 1.1), (50, 1.0)], [(s, 2.0 - s / 50) for s in range(5, 55, 5)], False),
])
def test_overfitting_verdict(evals, trains, expected):
    verdict = overfitting_verdict(_history(evals, trains), patience=3)
    assert verdict["overfitting"] is expected, verdict
    if expected:
        assert verdict["since_step"] == 20


def test_overfitting_needs_enough_evaluations():
    assert overfitting_verdict(_history([(10, 1.0), (20, 2.0)], [(5, 1.0), (15, 0.5)]), 3)["overfitting"] is False


def harness(*argv) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *argv], capture_output=True, text=True, timeout=300)


@pytest.mark.slow  # each case loads the model to check its settings: 7-10 s
@pytest.mark.parametrize("case, fragment", [
    ("empty", "no rows"),
    ("columns", "no column 'instruction'"),
    ("label", "line 3, column 'label': '5' is not a label 0-4"),
    ("max_length", "max_seq_length 16 is shorter than the prompt"),
    ("targets", "target_modules: query_proj not in this model; its linear layers are: down_proj, gate_proj, k_proj, o_proj, q_proj, up_proj, v_proj"),
    ("other_run", "holds a different training run's adapter"),
    ("config", "3 problems in the training config"),
])
def test_bad_input(case, fragment, tiny_model, trained, tmp_path):
    data = write_jsonl(tmp_path / "data.jsonl", ROWS[:4])
    argv = train_argv(tiny_model, data, tmp_path / "out", "--max-steps", "1")
    if case == "empty":
        (tmp_path / "empty.csv").write_text("instruction,output\n")
        argv[argv.index(str(data))] = str(tmp_path / "empty.csv")
    elif case == "columns":
        argv[argv.index(str(data))] = str(write_jsonl(tmp_path / "cols.jsonl", [{"question_text": "q", "reply": "a"}]))
    elif case == "label":
        (tmp_path / "reviews.csv").write_text("label,text\n1,good\n5,great\n")
        argv[argv.index(str(data))] = str(tmp_path / "reviews.csv")
        argv[argv.index("instruction")] = "yelp"
    elif case == "max_length":
        argv[argv.index("--max-seq-length") + 1] = "16"
    elif case == "targets":
        argv += ["--target-modules", "q_proj,query_proj"]
    elif case == "other_run":
        argv[argv.index(str(tmp_path / "out"))] = str(trained)  # holds a finished run with other settings
    elif case == "config":
        argv += ["--r", "0", "--eval-fraction", "1.5", "--lr-scheduler", "cosinus"]
    r = harness(*argv)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error:") and fragment in last, last
    if case != "other_run":
        assert not (tmp_path / "out" / "adapter_model.safetensors").exists()
    else:
        assert (trained / "train_summary.json").exists(), "the other run is left untouched"


def test_yelp_format_uses_the_yelp_task_prompt(tiny_model, tmp_path):
    from transformers import AutoTokenizer

    from harness.train.config import Format
    from harness.train.data import encode_pair, read_pairs, template_length
    from tasks.yelp.prompt import render_prompt

    (tmp_path / "r.csv").write_text('label,text\n3,"Nice place.\\nGood tea."\n')
    (pair,) = read_pairs(str(tmp_path / "r.csv"), Format.YELP)
    assert pair.prompt == render_prompt("Nice place.\\nGood tea.") and pair.answer == " 4"
    tok = AutoTokenizer.from_pretrained(tiny_model)
    ids, labels, truncated = encode_pair(tok, pair, 512, template_length(tok, Format.YELP))
    answer = [t for t, lab in zip(ids, labels) if lab != -100]
    assert tok.decode(answer) == " 4" + tok.eos_token and not truncated
    assert tok.decode(ids[: len(ids) - len(answer)]) == pair.prompt


def test_the_same_command_gives_the_same_adapter_bit_for_bit(tiny_model, tmp_path):
    """The seed reaches LoRA's initial A matrices, not only the Trainer: two runs of one command agree to the bit."""
    from safetensors.numpy import load_file

    data = write_jsonl(tmp_path / "data.jsonl", ROWS)
    weights = []
    for name in ("one", "two"):
        assert main(train_argv(tiny_model, data, tmp_path / name, "--max-steps", "3", "--seed", "7",
                               "--no-registry")) == 0
        weights.append(load_file(str(tmp_path / name / "adapter_model.safetensors")))
    assert weights[0].keys() == weights[1].keys() and weights[0]
    assert all((weights[0][k] == weights[1][k]).all() for k in weights[0])
