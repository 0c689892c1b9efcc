"""general_mc reads MMLU as the references read it: the text byte for byte, stock lm-eval's mmlu prompt request for
request (built here by lm-eval itself from its own mmlu YAML, over the same rows), exactly six fields a row, and the
headline `acc` named as the figure comparable to published MMLU numbers."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tasks import PROJECT_DIR
from tasks.data import DataError
from tasks.general_mc import utils

REPO = Path(__file__).resolve().parent.parent

# Rows as MMLU's files have them: 765 of its 14,079 test rows carry spaces around a choice, some questions too.
SUBJECTS = ("astronomy", "high_school_biology")


def _rows(subject: str, split: str, n: int) -> list[list[str]]:
    out = []
    for i in range(n):
        q = f"{subject} {split} question {i}: which one?" + (" " if i % 2 else "")
        if i % 3 == 0:
            q = "  " + q  # leading spaces: stock lm-eval strips the question
        choices = [f" option {i}a", f"option {i}b ", f"  option, {i}c  ", f"option {i}d"]  # a quoted comma too
        out.append([q, *choices, "ABCD"[(i + len(subject)) % 4]])
    return out


def _write(root: Path, split: str, subject: str, rows: list[list[str]]) -> None:
    (root / split).mkdir(parents=True, exist_ok=True)
    with open(root / split / f"{subject}_{split}.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)


@pytest.fixture
def spaced_mmlu(tmp_path) -> Path:
    root = tmp_path / "mmlu"
    for subject in SUBJECTS:
        _write(root, "dev", subject, _rows(subject, "dev", 5))
        _write(root, "test", subject, _rows(subject, "test", 4))
    return root


def test_question_and_choices_kept_byte_for_byte(spaced_mmlu):
    docs = list(utils.load(general_mc_data=str(spaced_mmlu))["test"])
    for subject in SUBJECTS:
        raw = _rows(subject, "test", 4)
        mine = [d for d in docs if d["subject"] == subject]
        assert [d["question"] for d in mine] == [r[0] for r in raw]
        assert [d["choices"] for d in mine] == [r[1:5] for r in raw]
        assert [d["answer"] for d in mine] == ["ABCD".index(r[5]) for r in raw]


def _stock_mmlu_task(subject: str, root: Path):
    """lm-eval's own mmlu_<subject> task, its config as lm-eval resolves its YAML (the template, the description, the
    first_n sampler over dev), reading the same rows as cais/mmlu holds them instead of the hub."""
    import datasets
    import lm_eval
    from lm_eval.tasks import TaskManager

    def split(name):
        with open(root / name / f"{subject}_{name}.csv", newline="", encoding="utf-8") as f:
            return datasets.Dataset.from_list([{"question": r[0], "subject": subject, "choices": r[1:5],
                                                "answer": "ABCD".index(r[5])} for r in csv.reader(f)])

    tm = TaskManager(include_path=[str(Path(lm_eval.__file__).parent / "tasks" / "mmlu" / "default")],
                     include_defaults=False)
    cfg = {k: v for k, v in tm.task_index[f"mmlu_{subject}"].cfg.items() if k != "tag"}
    assert cfg["doc_to_text"].startswith("{{question.strip()}}\nA. {{choices[0]}}")  # the template compared against
    cfg.update(task=f"stock_mmlu_{subject}", dataset_path=None,
               custom_dataset=lambda **_: datasets.DatasetDict({"test": split("test"), "dev": split("dev")}))
    return tm.load([cfg])["tasks"][cfg["task"]]


def _general_mc_task(root: Path, **meta):
    from lm_eval.tasks import TaskManager

    tm = TaskManager(include_path=[str(PROJECT_DIR)], include_defaults=False,
                     metadata={"general_mc_data": str(root), **meta})
    return tm.load(["general_mc"])["tasks"]["general_mc"]


def _requests(task, num_fewshot: int) -> dict:
    """{(question, choice index): (context, continuation)} as lm-eval builds the task's loglikelihood requests."""
    task.set_config(key="num_fewshot", value=num_fewshot)
    task.set_fewshot_seed(seed=1234)
    task.build_all_requests(rank=0, world_size=1)
    return {(inst.doc["question"], inst.idx): tuple(inst.args) for inst in task.instances}


@pytest.mark.parametrize("shots", [5, 0])
def test_prompt_equals_stock_lm_eval_mmlu(spaced_mmlu, shots):
    mine = _requests(_general_mc_task(spaced_mmlu, general_mc_shots=shots), 0)  # general_mc writes its own shots
    for subject in SUBJECTS:
        stock = _requests(_stock_mmlu_task(subject, spaced_mmlu), shots)
        assert len(stock) == 4 * 4
        ours = {k: v for k, v in mine.items() if k[0].startswith(subject) or k[0].lstrip().startswith(subject)}
        assert ours == stock  # every context and every continuation (" A" .. " D"), character for character
        context = next(iter(stock.values()))[0]
        assert context.startswith(f"The following are multiple choice questions (with answers) about "
                                  f"{subject.replace('_', ' ')}.\n\n")
        assert context.count("Answer:") == shots + 1
        assert "\nA.  option 0a\nB. option 0b \nC.   option, 0c  \n" in context  # the spaces reached the prompt


def test_hendrycks_evaluate_py_prompt(spaced_mmlu):
    """hendrycks' evaluate.py (format_example / gen_prompt, written out here) keeps the choices' spaces too; it differs
    from lm-eval only in not stripping the question, and general_mc follows lm-eval there."""
    def format_example(row, include_answer=True):
        prompt = row[0]
        for j, letter in enumerate("ABCD"):
            prompt += f"\n{letter}. {row[j + 1]}"
        prompt += "\nAnswer:"
        return prompt + (f" {row[5]}\n\n" if include_answer else "")

    subject = "astronomy"
    dev, test = _rows(subject, "dev", 5), _rows(subject, "test", 4)
    docs = [d for d in utils.load(general_mc_data=str(spaced_mmlu))["test"] if d["subject"] == subject]
    for row, doc in zip(test, docs):
        header = "The following are multiple choice questions (with answers) about astronomy.\n\n"
        expected = header + "".join(format_example([r[0].strip(), *r[1:]]) for r in dev) \
            + format_example([row[0].strip(), *row[1:]], include_answer=False)
        assert utils.doc_to_text(doc) == expected


@pytest.mark.parametrize("line, fields", [("q,a,b,c,d,e,A", 7), ("q,a,b,c,A", 5), ("q", 1)])
def test_wrong_field_count_names_file_line_and_fix(tmp_path, line, fields):
    (tmp_path / "test").mkdir()
    bad = tmp_path / "test" / "x_test.csv"
    bad.write_text("good,a,b,c,d,A\n\n" + line + "\n")
    with pytest.raises(DataError) as e:
        utils.load_rows(tmp_path)
    msg = str(e.value)
    assert msg == (f"{bad}: line 3: {fields} fields, expected 6 (question, choices A-D, answer letter; hendrycks "
                   "layout, no header); quote a field that contains a comma, or give a table with a 'choices' column "
                   "for another number of choices")
    assert "\n" not in msg


def test_wrong_field_count_in_dev_split_too(spaced_mmlu):
    (spaced_mmlu / "dev" / "astronomy_dev.csv").write_text("q,a,b,c,d,A\nq,a,b,c,d,e,f,A\n")
    with pytest.raises(DataError, match=r"astronomy_dev.csv: line 2: 8 fields, expected 6"):
        utils.load_rows(spaced_mmlu)


def test_cli_refuses_a_bad_row_in_one_line(tiny_model, spaced_mmlu, tmp_path):
    bad = spaced_mmlu / "test" / "astronomy_test.csv"
    bad.write_text(bad.read_text() + "an extra, unquoted comma,a,b,c,d,A\n")
    r = subprocess.run([sys.executable, "-m", "harness", "run", "--base", str(tiny_model), "--tasks", "general_mc",
                        "--data", f"general_mc={spaced_mmlu}", "--out", str(tmp_path / "run"), "--no-registry",
                        "--device", "cpu"], capture_output=True, text=True, timeout=300, cwd=REPO,
                       env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert lines == [f"error: {bad}: line 5: 7 fields, expected 6 (question, choices A-D, answer letter; hendrycks "
                     "layout, no header); quote a field that contains a comma, or give a table with a 'choices' "
                     "column for another number of choices"]
    assert not (tmp_path / "run").exists()


def test_acc_is_named_the_published_figure():
    readme = (PROJECT_DIR / "general_mc" / "README.md").read_text()
    yaml_text = (PROJECT_DIR / "general_mc" / "general_mc.yaml").read_text()
    docs = [(REPO / "README.md").read_text(), *(p.read_text() for p in sorted((REPO / "docs").glob("*.md")))]
    for text in (readme, yaml_text, *docs):
        assert "usual headline" not in text
    acc_row = next(ln for ln in readme.splitlines() if ln.startswith("| `acc` |"))
    macro_row = next(ln for ln in readme.splitlines() if ln.startswith("| `acc_macro` |"))
    assert "comparable to published MMLU numbers" in acc_row
    assert "not the published MMLU figure" in macro_row
    assert "comparable to published MMLU numbers" in yaml_text
