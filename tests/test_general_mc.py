"""general_mc, the multiple-choice forgetting probe: MMLU's hendrycks layout (built here), tables, few-shot from the
same subject's dev split, per-subject and macro accuracy, paired statistics, and stock lm-eval."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.cli.app import main
from harness.core import results, stats
from tasks import PROJECT_DIR
from tasks.data import DataError
from tasks.general_mc import utils

# Three subjects of unequal size, so the macro average (subjects weigh the same) differs from the micro one.
SUBJECTS = {"astronomy": 9, "world_religions": 6, "high_school_math": 3}


def _question(subject: str, i: int) -> list[str]:
    answer = "ABCD"[(i * 7 + len(subject)) % 4]
    return [f"{subject.replace('_', ' ')} question {i}: which option is {answer}?", f"option one {i}", f"option two {i}",
            f"option three {i}", f"option four {i}", answer]


def make_hendrycks(root: Path) -> Path:
    """An MMLU-layout folder: {dev,val,test}/<subject>_<split>.csv, headerless, one file per subject."""
    for split, n in (("dev", lambda s: 5), ("val", lambda s: 2), ("test", lambda s: SUBJECTS[s])):
        (root / split).mkdir(parents=True, exist_ok=True)
        for subject in SUBJECTS:
            with open(root / split / f"{subject}_{split}.csv", "w", newline="", encoding="utf-8") as f:
                csv.writer(f).writerows(_question(subject, 100 * ("dtv".index(split[0])) + i) for i in range(n(subject)))
    return root


@pytest.fixture
def mmlu(tmp_path) -> Path:
    return make_hendrycks(tmp_path / "mmlu")


def _docs(**meta):
    return list(utils.load(**meta)["test"])


def test_hendrycks_folder(mmlu):
    docs = _docs(general_mc_data=str(mmlu))
    assert len(docs) == sum(SUBJECTS.values())
    assert {d["subject"] for d in docs} == set(SUBJECTS)
    first = next(d for d in docs if d["subject"] == "astronomy")
    gold = _question("astronomy", 100)  # test rows are numbered from 100
    assert first["question"] == gold[0] and first["choices"] == gold[1:5] and first["answer"] == "ABCD".index(gold[5])
    # MMLU's prompt: the subject header, 5 solved dev examples of the same subject (in file order), the question.
    prompt = utils.doc_to_text(first)
    assert prompt.startswith("The following are multiple choice questions (with answers) about astronomy.\n\n")
    assert prompt.count("Answer:") == 6 and "world religions" not in prompt
    dev0 = _question("astronomy", 0)
    assert f"{dev0[0]}\nA. {dev0[1]}\nB. {dev0[2]}\nC. {dev0[3]}\nD. {dev0[4]}\nAnswer: {dev0[5]}\n\n" in prompt
    assert prompt.endswith(f"D. {gold[4]}\nAnswer:")
    assert utils.doc_to_choice(first) == ["A", "B", "C", "D"]


def test_shots_split_and_plain_folder(mmlu, tmp_path):
    zero = _docs(general_mc_data=str(mmlu), general_mc_shots=0)
    assert all(utils.doc_to_text(d).count("Answer:") == 1 for d in zero)
    val = _docs(general_mc_data=str(mmlu), general_mc_split="val")
    assert len(val) == 2 * len(SUBJECTS)
    plain = _docs(general_mc_data=str(mmlu / "test"))  # a folder of subject files, no dev split: zero-shot
    assert len(plain) == sum(SUBJECTS.values()) and all(utils.doc_to_text(d).count("Answer:") == 1 for d in plain)


def test_table_formats(tmp_path):
    rows = [{"question": "2+2?", "choices": ["3", "4", "5"], "answer": 1, "subject": "math"},
            {"question": "Capital of France?", "choices": ["Paris", "Rome"], "answer": "A", "subject": "geo"}]
    jsonl = tmp_path / "q.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    import pandas as pd

    parquet = tmp_path / "q.parquet"
    pd.DataFrame(rows[:1]).to_parquet(parquet)
    for path, n in ((jsonl, 2), (parquet, 1)):
        docs = _docs(general_mc_data=str(path))
        assert len(docs) == n and docs[0]["answer"] == 1 and utils.doc_to_choice(docs[0]) == ["A", "B", "C"]
    assert _docs(general_mc_data=str(jsonl))[1]["answer"] == 0


@pytest.mark.parametrize("content, message", [
    ("q,a,b,c,d,E\n", "line 1: answer 'E' is not one of A, B, C, D"),
    ("q,a,B\n", "line 1: 3 fields, expected 6 (question, choices A-D, answer letter"),
    ("q,a,b,c,d,A\nq2,a,b,c,d,e,A\n", "line 2: 7 fields, expected 6"),  # an unquoted comma in a choice
    ('q,a,b,c,d,A\n"multi\nline q",a,b,c,A\n', "line 2: 5 fields, expected 6"),  # the line the record starts on
    (",a,b,c,d,A\n", "line 1: empty question"),
])
def test_bad_hendrycks_rows(tmp_path, content, message):
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "x_test.csv").write_text(content)
    with pytest.raises(DataError, match=message.replace("(", r"\(")):
        utils.load_rows(tmp_path)


def test_missing_split_folder(mmlu):
    with pytest.raises(DataError, match="no 'val' folder"):
        utils.load_rows(mmlu / "test", "val")


def test_macro_by_group_against_pandas():
    import pandas as pd

    rng = np.random.default_rng(0)
    groups = rng.choice(["a", "b", "c", "d"], size=200, p=[0.6, 0.2, 0.15, 0.05])
    values = rng.integers(0, 2, size=200).astype(float)
    expected = pd.DataFrame({"g": groups, "v": values}).groupby("g")["v"].mean().mean()
    assert utils.macro_by_group(list(zip(groups, values))) == pytest.approx(expected)


def test_grouped_bootstrap_is_the_metric_on_each_resample():
    """The vectorised per-resample macro average equals macro_by_group applied to the same resampled documents."""
    rng = np.random.default_rng(1)
    items = [[str(g), float(v)] for g, v in zip(rng.integers(0, 5, 60), rng.integers(0, 2, 60))]
    arr = utils.group_array(items)
    idx = rng.integers(0, 60, size=(50, 60))
    vec = utils.group_macro(arr[idx])
    loop = [utils.macro_by_group([items[j] for j in row]) for row in idx]
    assert vec == pytest.approx(loop)


def test_harness_run_per_subject_and_macro(tiny_model, tiny_adapters, mmlu, tmp_path):
    out = tmp_path / "run"
    assert main(["run", "--base", str(tiny_model), "--adapter", str(tiny_adapters[0]), "--tasks", "general_mc",
                 "--data", f"general_mc={mmlu}", "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
                 "--device", "cpu", "--no-registry", "--resamples", "200"]) == 0
    run = results.load_run(out)
    arms = [a["name"] for a in run["arms"]]
    for arm in arms:
        rows = results.read_samples(out, arm, "general_mc")
        assert len(rows) == sum(SUBJECTS.values())
        score = {s["metric"]: s for s in run["scores"] if s["arm"] == arm}
        per = {}
        for r in rows:
            subject, correct = r["metrics"]["acc_macro"]
            assert correct == r["metrics"]["acc"]
            per.setdefault(subject, []).append(correct)
        for subject, vals in per.items():
            assert score[f"acc[{subject}]"]["value"] == pytest.approx(np.mean(vals))
            assert score[f"acc[{subject}]"]["n"] == SUBJECTS[subject]
        assert score["acc_macro"]["value"] == pytest.approx(np.mean([np.mean(v) for v in per.values()]))
        assert score["acc"]["value"] == pytest.approx(np.mean([r["metrics"]["acc"] for r in rows]))
    compared = {c["metric"] for c in run["comparisons"]}
    assert {"acc", "acc_macro"} | {f"acc[{s}]" for s in SUBJECTS} <= compared
    tests = {c["metric"]: c["test"] for c in run["comparisons"]}
    assert tests["acc"] == "tango-score" and tests["acc_macro"] == stats.N_TOO_SMALL  # 18 questions < 20
    assert tests["acc[high_school_math]"] == stats.N_TOO_SMALL  # 3 questions: no CI, no p-value
    assert all(c["ci95"] is None and c["p_value"] is None for c in run["comparisons"] if c["test"] == stats.N_TOO_SMALL)
    for c in run["comparisons"]:  # the delta is the difference of the two arms' scores
        base = next(s["value"] for s in run["scores"] if s["arm"] == "base" and s["metric"] == c["metric"])
        tuned = next(s["value"] for s in run["scores"] if s["arm"] == c["arm"] and s["metric"] == c["metric"])
        assert c["delta"] == pytest.approx(tuned - base)


@pytest.mark.slow
def test_stock_lm_eval_runs_general_mc(tiny_model, mmlu, tmp_path):
    r = subprocess.run([sys.executable, "-m", "lm_eval", "run", "--model", "hf", "--model_args", f"pretrained={tiny_model}",
                        "--include_path", str(PROJECT_DIR), "--tasks", "general_mc", "--device", "cpu",
                        "--metadata", json.dumps({"general_mc_data": str(mmlu)}), "--output_path", str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=600,
                       env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    (result_file,) = list((tmp_path / "out").rglob("results_*.json"))
    res = json.loads(result_file.read_text())["results"]["general_mc"]
    assert 0 <= res["acc,none"] <= 1 and 0 <= res["acc_macro,none"] <= 1


@pytest.mark.slow  # over 10 s on the 2-core CPU: runs in CI, not in -m 'not slow'
def test_hub_only_task_offline_fails_in_one_line(tmp_path, tiny_model):
    """A stock lm-eval task whose data is on the hub: exit 2 before any model loads, one line naming the dataset."""
    r = subprocess.run([sys.executable, "-m", "harness", "run", "--base", str(tiny_model), "--tasks",
                        "mmlu_abstract_algebra", "--out", str(tmp_path / "run"), "--no-registry"],
                       capture_output=True, text=True, timeout=300,
                       env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --tasks mmlu_abstract_algebra: its dataset cais/mmlu")
    assert "general_mc" in lines[0] and "Traceback" not in r.stderr and "loading base" not in r.stderr
    assert not (tmp_path / "run").exists()


REPO = Path(__file__).resolve().parent.parent
BYO = REPO / "examples" / "byo_task"


def test_readme_shows_the_byo_task_example():
    # the README's Documentation section points to docs/tasks.md, "Bring your own task", which shows it whole
    page = (REPO / "docs" / "tasks.md").read_text()
    assert "```yaml\n" + (BYO / "capitals.yaml").read_text() + "```" in page
    assert "(docs/tasks.md#bring-your-own-task)" in (REPO / "README.md").read_text()


def test_byo_task_example_runs(tiny_model, tiny_adapters, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)  # data_files is relative to the folder the command runs from, as the README says
    out = tmp_path / "run"
    assert main(["run", "--base", str(tiny_model), "--adapter", str(tiny_adapters[0]), "--include-path", str(BYO),
                 "--tasks", "capitals", "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--device", "cpu",
                 "--no-registry", "--max-gen-toks", "4"]) == 0
    run = results.load_run(out)
    # the YAML's words reach run.json, for the report's Metrics glossary
    assert run["tasks"]["capitals"]["definitions"] == {
        "exact_match": "share of answers equal to the capital, ignoring case and punctuation"}
    gold = [json.loads(line)["capital"] for line in (BYO / "capitals.jsonl").read_text().splitlines()]
    import string

    def norm(text):
        return text.lower().translate(str.maketrans("", "", string.punctuation)).strip()

    for arm in ("base", tiny_adapters[0].name):
        rows = sorted(results.read_samples(out, arm, "capitals"), key=lambda r: r["doc_id"])
        assert len(rows) == len(gold)
        expected = np.mean([norm(r["response"]) == norm(g) for r, g in zip(rows, gold)])
        (score,) = [s for s in run["scores"] if s["arm"] == arm and s["metric"] == "exact_match"]
        assert score["value"] == pytest.approx(expected) and score["n"] == len(gold)


def test_definitions_are_recorded_but_leave_the_config_hash_alone():
    """Rewording the glossary changes no score, so it must not make a run incomparable with earlier ones."""
    from harness.run.records import task_facts

    config = {"output_type": "generate_until", "metadata": {"version": 1.0, "unit": "question"}}
    worded = {**config, "metadata": {**config["metadata"], "definitions": {"em": "exact match"}}}
    plain, facts = (task_facts({"configs": {"t": c}}, "t", [{"doc_id": 0}]) for c in (config, worded))
    assert facts["definitions"] == {"em": "exact match"} and "definitions" not in plain
    assert facts["config_hash"] == plain["config_hash"]
    changed = {**config, "metadata": {**config["metadata"], "unit": "page"}}
    assert task_facts({"configs": {"t": changed}}, "t", [{"doc_id": 0}])["config_hash"] != plain["config_hash"]
