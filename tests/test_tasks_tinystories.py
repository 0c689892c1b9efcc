"""The five task families end to end on the real TinyStories-656K and the real data samples."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from harness.cli.app import main
from harness.core import results
from tasks import PROJECT_DIR

pytestmark = pytest.mark.slow

STORY = ("Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine. One day, "
         "she saw a big red ball in the park. She ran to the ball and kicked it very high. The ball went up into the "
         "sky and came down in a tree. Lily was sad, but her friend Tom came to help. Tom climbed the tree and got "
         "the ball. Lily said, \"Thank you, Tom!\" They played with the ball all day and were very happy.")


def direct_nll(model_dir, text: str, window: int, stride: int) -> tuple[float, int]:
    """Summed token NLL with plain transformers over explicit windows: the first window scores its `window` tokens
    after the BOS token; each next window scores the next `stride` tokens given the tokens just before them."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    ids = tok(text, add_special_tokens=False)["input_ids"]
    seq = [tok.bos_token_id] + ids  # seq[i + 1] is token i; each token is predicted from what precedes it in seq
    spans, start = [], 0
    while start < len(ids):
        end = min(len(ids), window if start == 0 else start + stride)
        spans.append((start, end))
        start = end
    total = 0.0
    for start, end in spans:
        lo = max(0, end - window)  # the window: seq[lo : end] predicts seq[lo + 1 : end + 1]
        inp = torch.tensor([seq[lo:end]])
        with torch.no_grad():
            logp = torch.log_softmax(model(inp).logits[0].double(), -1)
        for tok_i in range(start, end):
            pos = tok_i - lo  # position in inp whose logits predict token tok_i (= seq[tok_i + 1])
            total -= float(logp[pos, ids[tok_i]])
    return total, len(ids)


@pytest.mark.parametrize("window, stride", [(24, 8), (24, 24), (16, 5)])
def test_perplexity_equals_direct_computation(tinystories, tmp_path, window, stride):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "story.txt").write_text(STORY)
    out = tmp_path / "run"
    assert main(["run", "--base", str(tinystories), "--tasks", "perplexity", "--data", f"perplexity={corpus}",
                 "--task-meta", f"ppl_window={window}", "--task-meta", f"ppl_stride={stride}", "--out", str(out),
                 "--no-cache", "--device", "cpu"]) == 0
    nll, n = direct_nll(tinystories, STORY, window, stride)
    assert n > 2 * window, "the story spans several windows"
    row = results.read_samples(out, "base", "perplexity")[0]
    ll, n_tokens = row["metrics"]["token_perplexity"]
    assert n_tokens == n
    assert -ll == pytest.approx(nll, rel=1e-4)
    scores = {s["metric"]: s["value"] for s in results.load_run(out)["scores"]}
    assert scores["token_perplexity"] == pytest.approx(math.exp(nll / n), rel=1e-4)
    assert scores["bits_per_byte"] == pytest.approx(nll / len(STORY.encode()) / math.log(2), rel=1e-4)
    assert scores["word_perplexity"] == pytest.approx(math.exp(nll / len(STORY.split())), rel=1e-4)
    assert scores["nll_per_token"] == pytest.approx(nll / n, rel=1e-4)  # the log scale: log(token_perplexity)


def test_sliding_window_gives_context_and_lowers_perplexity(tinystories, tmp_path):
    """More context per scored token should not hurt a real language model on a coherent story."""
    disjoint, _ = direct_nll(tinystories, STORY, 32, 32)
    sliding, _ = direct_nll(tinystories, STORY, 32, 8)
    assert sliding < disjoint


def data_args(shared):
    d = shared / "data"
    return ["--data", f"yelp={d / 'yelp_review_full_sample' / 'val.csv'}",
            "--data", f"docqa={d / 'aws_docs_qa' / 'QA_true.csv'}",
            "--data", f"docqa_documents={d / 'aws_docs_qa' / 'documents'}",
            "--data", f"perplexity={d / 'aws_docs_qa' / 'documents'}",
            "--data", f"general_qa={d / 'nq_open' / 'NQ-open.dev.jsonl'}"]


def test_harness_run_all_five_tasks(tinystories, tinystories_adapter, shared, tmp_path):
    out = tmp_path / "run"
    assert main(["run", "--base", str(tinystories), "--adapter", str(tinystories_adapter), "--tasks",
                 "yelp,yelp_mc,docqa,perplexity,general_qa", "--limit", "20", "--out", str(out),
                 "--cache-dir", str(tmp_path / "cache"), "--device", "cpu", *data_args(shared)]) == 0
    run = results.load_run(out)
    got = {(s["task"], s["metric"]) for s in run["scores"] if s["arm"] == "base"}
    expected = {("yelp", m) for m in ("accuracy", "f1_micro", "f1_macro", "f1_weighted", "unparseable_rate",
                                      "accuracy_drop", "f1_micro_drop", "f1_macro_drop", "f1_weighted_drop", "n_parsed")}
    expected |= {("yelp_mc", "acc")} | {("general_qa", m) for m in ("exact_match", "f1")}
    expected |= {("docqa", m) for m in ("rouge1", "rouge2", "rougeL", "bleu4", "exact_match", "f1")}
    expected |= {("perplexity", m) for m in ("token_perplexity", "word_perplexity", "bits_per_byte",
                                                          "nll_per_token")}
    assert expected <= got
    assert all(run["tasks"][t]["n_docs"] == 20 for t in ("yelp", "yelp_mc", "docqa", "general_qa"))
    assert run["tasks"]["perplexity"]["n_docs"] == 20
    assert "bleu4" in run["tasks"]["docqa"]["conventions"]
    # The yelp scores follow from the per-sample records (raw answer, extracted star, rule).
    from sklearn.metrics import f1_score

    for arm in ("base", "ts_lora"):
        rows = results.read_samples(out, arm, "yelp")
        assert all(set(r["filtered"]) == {"star", "rule"} and isinstance(r["response"], str) for r in rows)
        golds = [int(r["target"]) - 1 for r in rows]
        preds = [r["filtered"]["star"] - 1 if r["filtered"]["star"] else -1 for r in rows]
        score = {s["metric"]: s["value"] for s in run["scores"] if s["arm"] == arm and s["task"] == "yelp"}
        assert score["f1_macro"] == pytest.approx(f1_score(golds, preds, labels=[0, 1, 2, 3, 4], average="macro", zero_division=0))
        assert score["unparseable_rate"] == pytest.approx(preds.count(-1) / len(preds))


def test_stock_lm_eval_runs_the_tasks(tinystories, shared, tmp_path):
    d = shared / "data"
    meta = {"yelp_data": str(d / "yelp_review_full_sample" / "test.csv"), "docqa_data": str(d / "aws_docs_qa" / "QA_true.csv"),
            "docqa_documents": str(d / "aws_docs_qa" / "documents"), "perplexity_data": str(d / "aws_docs_qa" / "documents"),
            "general_qa_data": str(d / "nq_open" / "NQ-open.dev.jsonl")}
    r = subprocess.run([sys.executable, "-m", "lm_eval", "run", "--model", "hf", "--model_args", f"pretrained={tinystories}",
                        "--include_path", str(PROJECT_DIR), "--tasks", "yelp,yelp_mc,docqa,perplexity,general_qa",
                        "--limit", "10", "--device", "cpu", "--metadata", json.dumps(meta), "--output_path",
                        str(tmp_path / "out")], capture_output=True, text=True, timeout=600,
                       env={**__import__("os").environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    (result_file,) = list((tmp_path / "out").rglob("results_*.json"))
    res = json.loads(result_file.read_text())["results"]
    assert set(res) == {"yelp", "yelp_mc", "docqa", "perplexity", "general_qa"}
    assert res["yelp"]["unparseable_rate,extract"] >= 0 and res["perplexity"]["token_perplexity,none"] > 1
