"""general_qa scores references as SQuAD's official scorer does: a reference that normalises to nothing is dropped,
and a question left with none is dropped from the scored documents and counted in run.json. Checked against the
SQuAD v2.0 evaluation script's own functions, written out below."""

from __future__ import annotations

import collections
import json
import re
import string

import pytest

from harness.cli.app import main
from harness.core import results
from tasks.general_qa import utils

# --- SQuAD v2.0's official evaluate-v2.0.py, verbatim in substance -------------------------------------------------

def squad_normalize_answer(s):
    """Lower text and remove punctuation, articles and extra whitespace."""
    def remove_articles(text):
        regex = re.compile(r"\b(a|an|the)\b", re.UNICODE)
        return re.sub(regex, " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def squad_get_tokens(s):
    if not s:
        return []
    return squad_normalize_answer(s).split()


def squad_compute_exact(a_gold, a_pred):
    return int(squad_normalize_answer(a_gold) == squad_normalize_answer(a_pred))


def squad_compute_f1(a_gold, a_pred):
    gold_toks = squad_get_tokens(a_gold)
    pred_toks = squad_get_tokens(a_pred)
    common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
    num_same = sum(common.values())
    if len(gold_toks) == 0 or len(pred_toks) == 0:
        # If either is no-answer, then F1 is 1 if they agree, 0 otherwise
        return int(gold_toks == pred_toks)
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(pred_toks)
    recall = 1.0 * num_same / len(gold_toks)
    return (2 * precision * recall) / (precision + recall)


def squad_gold_answers(answers):
    """get_raw_scores: `gold_answers = [a['text'] for a in qa['answers'] if normalize_answer(a['text'])]`."""
    return [a for a in answers if squad_normalize_answer(a)]


def squad_scores(answers, prediction):
    gold = squad_gold_answers(answers)
    return max(squad_compute_exact(a, prediction) for a in gold), max(squad_compute_f1(a, prediction) for a in gold)


# --- tests --------------------------------------------------------------------------------------------------------

QUESTIONS = [
    {"question": "how many breeds of pigs are there in the uk", "answer": ["---"]},  # NQ-open's own
    {"question": "what season does bart bass die in gossip girl", "answer": [")"]},  # NQ-open's own
    {"question": "what is the most common blood type in sweden", "answer": ["A+", "AB+"]},  # "A+" -> "a" -> ""
    {"question": "what is the multiplication sign on the computer", "answer": ["the symbol x", "*"]},
    {"question": "where is the eiffel tower", "answer": ["Paris", ",", "the city of Paris"]},
    {"question": "nothing but an article", "answer": ["The", "an", "  "]},
    {"question": "who wrote hamlet", "answer": ["William Shakespeare", "Shakespeare"]},
]
PREDICTIONS = ["", " ", "a", "A+", "AB", "ab+", "the AB", "Paris", "the Paris.", "city paris", ",", "*", "x",
               "symbol", "William", "shakespeare william", "The"]


@pytest.fixture
def qa_file(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    return path


def test_dropped_questions_are_those_squad_finds_no_gold_for(qa_file):
    ds = utils.load(general_qa_data=str(qa_file))
    kept, dropped = list(ds["test"]), list(ds["dropped"])
    expect_dropped = [q["question"] for q in QUESTIONS if not squad_gold_answers(q["answer"])]
    assert [d["question"] for d in dropped] == expect_dropped and len(expect_dropped) == 3
    assert {d["reason"] for d in dropped} == {utils.NO_REFERENCE}
    assert [d["question"] for d in kept] == [q["question"] for q in QUESTIONS if squad_gold_answers(q["answer"])]
    assert [d["answer"] for d in kept] == [q["answer"] for q in QUESTIONS if squad_gold_answers(q["answer"])]


def test_scores_equal_squad_v2(qa_file):
    kept = list(utils.load(general_qa_data=str(qa_file))["test"])
    for doc in kept:
        for pred in PREDICTIONS:
            got = utils.process_results(doc, [pred])
            em, f1 = squad_scores(doc["answer"], pred)
            assert got["exact_match"] == em, (doc["answer"], pred)
            assert got["f1"] == pytest.approx(f1), (doc["answer"], pred)
    blood = next(d for d in kept if "blood" in d["question"])
    assert utils.process_results(blood, [""])["exact_match"] == 0.0  # "A+" no longer matches an empty answer
    assert utils.process_results(blood, ["a"])["exact_match"] == 0.0
    assert utils.process_results(blood, ["AB+"])["exact_match"] == 1.0


def test_nq_open_dev_against_squad_v2(shared):
    path = shared / "data" / "nq_open" / "NQ-open.dev.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    ds = utils.load(general_qa_data=str(path))
    kept, dropped = list(ds["test"]), list(ds["dropped"])
    assert len(rows) == 3610 and len(dropped) == 2 and len(kept) == 3608
    assert sorted(d["answer"][0] for d in dropped) == sorted(r["answer"][0] for r in rows
                                                             if not squad_gold_answers(r["answer"]))
    empty = [utils.process_results(d, [""])["exact_match"] for d in kept]
    assert sum(empty) == 0  # before: the questions answered "---" and ")" scored 1 for an empty answer
    compared = 0
    for doc in kept:
        for pred in ("", doc["answer"][0], doc["answer"][-1] + " and more", "the " + doc["answer"][0]):
            got = utils.process_results(doc, [pred])
            em, f1 = squad_scores(doc["answer"], pred)
            assert got["exact_match"] == em, (doc["answer"], pred)
            # F1 where SQuAD's whitespace tokens are the same words for ours: ASCII words (ours scores CJK text per
            # character and drops symbols such as "×" from the tokens, by design).
            if all(a.isascii() and all(re.fullmatch(r"[^\W_]+", w) for w in squad_get_tokens(a))
                   for a in [*doc["answer"], pred]):
                compared += 1
                assert got["f1"] == pytest.approx(f1), (doc["answer"], pred)
    assert compared > 0.9 * 4 * len(kept)


def test_run_records_dropped_questions(tiny_model, qa_file, tmp_path):
    from reports import data, document

    out = tmp_path / "run"
    assert main(["run", "--base", str(tiny_model), "--tasks", "general_qa", "--data", f"general_qa={qa_file}",
                 "--num-fewshot", "0", "--max-gen-toks", "4", "--out", str(out), "--no-registry", "--device", "cpu",
                 "--cache-dir", str(tmp_path / "cache"), "--resamples", "0"]) == 0
    run = results.load_run(out)
    info = run["tasks"]["general_qa"]
    assert info["dropped"] == {utils.NO_REFERENCE: 3} and info["n_docs"] == len(QUESTIONS) - 3
    assert len(results.read_samples(out, "base", "general_qa")) == len(QUESTIONS) - 3
    paragraphs = [b.text for b in document.build(data.load([out])) if b.kind == "paragraph"]
    assert f"Documents left out of the scoring: 3 (3: {utils.NO_REFERENCE})." in paragraphs


def test_all_questions_unanswerable_is_an_error(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text(json.dumps({"question": "q", "answer": [",", "the"]}) + "\n")
    with pytest.raises(utils.DataError, match="no question has a usable answer"):
        utils.load(general_qa_data=str(path))
