"""--num-fewshot is honoured by every task family or refused in one line before the model loads, and run.json records
the shots each task's prompts really hold (tasks.<task>.num_fewshot)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from harness.cli.app import main
from harness.core import results
from harness.run.config import RunConfig
from tasks.data import DataError
from tasks.general_mc import utils

ENGINE_TASKS = Path(__file__).resolve().parent / "engine_tasks"


def _mmlu(root: Path, dev_rows: int = 5, test_rows: int = 3) -> Path:
    for split, n in (("dev", dev_rows), ("test", test_rows)):
        (root / split).mkdir(parents=True, exist_ok=True)
        for subject in ("astronomy", "virology"):
            with open(root / split / f"{subject}_{split}.csv", "w", newline="", encoding="utf-8") as f:
                csv.writer(f).writerows([f"{subject} {split} {i}?", "w", "x", "y", "z", "ABCD"[i % 4]] for i in range(n))
    return root


@pytest.fixture
def data(tmp_path) -> dict[str, Path]:
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps({"question": f"question number {i}", "answer": [f"answer {i}"]}) + "\n"
                          for i in range(6)))
    reviews = tmp_path / "reviews.csv"
    with open(reviews, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["text", "label"]] + [[f"review {i}: it was fine", i % 5] for i in range(6)])
    return {"general_mc": _mmlu(tmp_path / "mmlu"), "general_qa": qa, "yelp": reviews}


# --- general_mc: exactly N solved dev examples -------------------------------------------------------------------

def test_general_mc_uses_exactly_the_shots_asked(tmp_path):
    root = _mmlu(tmp_path / "mmlu")
    for shots in (0, 1, 3, 5):
        docs = list(utils.load(general_mc_data=str(root), general_mc_shots=shots)["test"])
        for d in docs:
            prompt = utils.doc_to_text(d)
            assert d["num_fewshot"] == shots and prompt.count("Answer:") == shots + 1
            dev = [f"{d['subject']} dev {i}?" for i in range(5)]
            assert [q for q in dev if q in prompt] == dev[:shots]  # the first ones, in file order


def test_general_mc_refuses_shots_it_does_not_have(tmp_path):
    root = _mmlu(tmp_path / "mmlu", dev_rows=3)
    with pytest.raises(DataError, match=r"subject 'astronomy' has 3 dev examples, 4-shot needs 4; add them to "
                                        r"dev/astronomy_dev.csv, or ask for fewer with --num-fewshot N"):
        utils.load(general_mc_data=str(root), general_mc_shots=4)
    with pytest.raises(DataError, match="has 3 dev examples, 5-shot needs 5"):  # the default is exact too
        utils.load(general_mc_data=str(root))
    plain = root / "test"  # a folder of subject files: no dev split
    with pytest.raises(DataError, match=r"no dev split to draw 2 solved examples from"):
        utils.load(general_mc_data=str(plain), general_mc_shots=2)
    docs = list(utils.load(general_mc_data=str(plain))["test"])  # the default falls back to zero-shot, and says so
    assert {d["num_fewshot"] for d in docs} == {0}
    table = tmp_path / "q.jsonl"
    table.write_text(json.dumps({"question": "q", "choices": ["a", "b"], "answer": 0}) + "\n")
    with pytest.raises(DataError, match="no dev split"):
        utils.load(general_mc_data=str(table), general_mc_shots=1)


def test_num_fewshot_sets_general_mc_shots_and_conflicts_are_refused(tmp_path, data):
    cfg = RunConfig(base=str(tmp_path), tasks=["general_mc"], out=tmp_path / "r", num_fewshot=2,
                    data={"general_mc": str(data["general_mc"])})
    assert cfg.task_metadata("m")["general_mc_shots"] == 2
    assert RunConfig(base=str(tmp_path), tasks=["general_qa"], out=tmp_path / "r", num_fewshot=2) \
        .task_metadata("m").get("general_mc_shots") is None  # only when general_mc runs
    cfg.task_meta = {"general_mc_shots": 3}
    assert ("--num-fewshot 2 and --task-meta general_mc_shots=3: two numbers of shots for general_mc; give one of "
            "them") in cfg.validate()
    cfg.task_meta = {"general_mc_shots": 2}
    assert not [p for p in cfg.validate() if "shots" in p]


# --- every family, through `harness run` ------------------------------------------------------------------------

def _run(tiny_model, tmp_path, data, tasks, *extra) -> Path:
    out = tmp_path / ("run" + "".join(extra).replace("-", ""))
    argv = ["run", "--base", str(tiny_model), "--tasks", tasks, "--out", str(out), "--no-registry",
            "--cache-dir", str(tmp_path / "cache"), "--device", "cpu", "--limit", "3", "--max-gen-toks", "4",
            "--resamples", "0", *extra]
    for key in ("general_mc", "general_qa", "yelp"):
        if any(t.startswith(key) for t in tasks.split(",")):
            argv += ["--data", f"{key}={data[key]}"]
    assert main(argv) == 0
    return out


def _examples(task: str, prompt: str) -> int:
    """Solved examples in a prompt, counted independently of the harness: one more marker than the question's own."""
    marker = {"general_mc": "Answer:", "general_qa": "\nA:", "yelp_mc": "Review:"}[task]
    return prompt.count(marker) - 1


TASKS = ("general_mc", "general_qa", "yelp_mc")
DEFAULT_SHOTS = {"general_mc": 5, "general_qa": 5, "yelp_mc": 0}  # each task's own default


@pytest.mark.parametrize("n", [None, 2, 0])
def test_every_family_honours_num_fewshot(tiny_model, tmp_path, data, n):
    out = _run(tiny_model, tmp_path, data, ",".join(TASKS), *(["--num-fewshot", str(n)] if n is not None else []))
    run = results.load_run(out)
    for task in TASKS:
        expected = DEFAULT_SHOTS[task] if n is None else n
        assert run["tasks"][task]["num_fewshot"] == expected
        rows = results.read_samples(out, "base", task)
        assert rows and all(_examples(task, r["prompt"]) == expected for r in rows), task


def _refused(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "loading base" not in err and "Traceback" not in err
    return lines[0]


def test_perplexity_refuses_shots(tiny_model, tmp_path, capsys):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Once upon a time there was a little girl named Lily. " * 4)
    line = _refused(capsys, ["run", "--base", str(tiny_model), "--tasks", "perplexity", "--data", f"perplexity={docs}",
                             "--num-fewshot", "2", "--out", str(tmp_path / "r"), "--no-registry"])
    assert line == ("error: --num-fewshot 2: task perplexity scores the perplexity of its documents' own text "
                    "(loglikelihood_rolling), where solved examples do not apply; run it in a separate run without "
                    "--num-fewshot")
    assert not (tmp_path / "r").exists()


def test_a_task_pinned_to_zero_shots_is_refused(tiny_model, tmp_path, capsys):
    include = tmp_path / "mine"
    include.mkdir()
    shutil.copy(ENGINE_TASKS / "utils.py", include / "utils.py")
    (include / "pinned.yaml").write_text((ENGINE_TASKS / "tiny_gen.yaml").read_text()
                                         .replace("task: tiny_gen", "task: pinned") + "num_fewshot: 0\n")
    line = _refused(capsys, ["run", "--base", str(tiny_model), "--include-path", str(include), "--tasks", "pinned",
                             "--num-fewshot", "1", "--out", str(tmp_path / "r"), "--no-registry"])
    assert line.startswith("error: --num-fewshot 1: task pinned sets num_fewshot: 0 in its config, so lm-eval would "
                           "ignore the flag for it")


def test_general_mc_without_dev_refuses_num_fewshot(tiny_model, tmp_path, capsys):
    root = _mmlu(tmp_path / "mmlu")
    line = _refused(capsys, ["run", "--base", str(tiny_model), "--tasks", "general_mc", "--data",
                             f"general_mc={root / 'test'}", "--num-fewshot", "1", "--out", str(tmp_path / "r"),
                             "--no-registry"])
    assert "no dev split to draw 1 solved examples from" in line
