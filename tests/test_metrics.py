"""Every metric against an independent computation: scikit-learn, rouge-score, nltk, and hand-computed values."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu, sentence_bleu
from rouge_score import rouge_scorer
from sklearn.metrics import f1_score

from tasks import metrics
from tasks.docqa import utils as docqa
from tasks.yelp import utils as yelp


def _pairs(seed: int, n: int = 200, unparseable: float = 0.15):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        gold = rng.randrange(5)
        pred = -1 if rng.random() < unparseable else (gold if rng.random() < 0.5 else rng.randrange(5))
        out.append((gold, pred))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_yelp_f1_equals_sklearn(seed):
    pairs = _pairs(seed)
    golds, preds = [g for g, _ in pairs], [p for _, p in pairs]
    kept = [(g, p) for g, p in pairs if p != -1]
    for avg in ("micro", "macro", "weighted"):
        assert getattr(yelp, f"f1_{avg}")(pairs) == pytest.approx(
            f1_score(golds, preds, labels=[0, 1, 2, 3, 4], average=avg, zero_division=0))
        assert getattr(yelp, f"f1_{avg}_drop")(pairs) == pytest.approx(
            f1_score([g for g, _ in kept], [p for _, p in kept], labels=[0, 1, 2, 3, 4], average=avg, zero_division=0))
    assert yelp.accuracy(pairs) == pytest.approx(sum(g == p for g, p in pairs) / len(pairs))
    assert yelp.accuracy_drop(pairs) == pytest.approx(sum(g == p for g, p in kept) / len(kept))


def test_unparseable_counts_as_wrong_but_is_no_false_positive():
    # gold 0,1 ; predictions: correct, unparseable. Class 0: F1 1. Class 1: one miss, no prediction: F1 0.
    # Macro F1 is over all five classes (labels=0..4), absent classes scoring 0: (1 + 0 + 0 + 0 + 0) / 5.
    pairs = [(0, 0), (1, -1)]
    assert yelp.accuracy(pairs) == 0.5
    assert yelp.f1_macro(pairs) == pytest.approx(1 / 5)
    assert yelp.f1_micro(pairs) == pytest.approx(2 * 1 * 0.5 / 1.5)  # P = 1/1, R = 1/2: not the accuracy
    assert yelp.accuracy_drop(pairs) == 1.0 and yelp.f1_micro_drop(pairs) == 1.0
    assert yelp.f1_macro_drop(pairs) == pytest.approx(1 / 5)


def test_yelp_process_results_and_empty():
    out = yelp.process_results({"label": 3}, [{"star": 4, "rule": "n_stars"}])
    assert out["accuracy"] == (3, 3) and out["unparseable_rate"] == 0.0 and out["n_parsed"] == 1.0
    out = yelp.process_results({"label": 3}, [{"star": None, "rule": "hedge"}])
    assert out["f1_macro"] == (3, -1) and out["unparseable_rate"] == 1.0
    assert yelp.f1_macro([]) == 0.0 and yelp.accuracy_drop([(1, -1)]) == 0.0


ENGLISH = [
    ("the cat sat on the mat", "the cat is on the mat"),
    ("amazon s3 stores objects in buckets", "objects are stored in s3 buckets"),
    ("you can stop an instance at any time", "an instance can be stopped"),
    ("no", "yes you can"),
]


@pytest.mark.parametrize("pred, ref", ENGLISH)
def test_rouge_equals_rouge_score(pred, ref):
    # On lower-case ASCII text rouge-score's own tokenizer splits exactly as ours does: an independent reference.
    expected = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"]).score(ref, pred)
    got = metrics.rouge(pred, ref)
    for k in ("rouge1", "rouge2", "rougeL"):
        assert got[k]["fmeasure"] == pytest.approx(expected[k].fmeasure)
        assert got[k]["precision"] == pytest.approx(expected[k].precision)


@pytest.mark.parametrize("pred, ref", ENGLISH)
def test_bleu_equals_nltk(pred, ref):
    expected = sentence_bleu([ref.split()], pred.split(), smoothing_function=SmoothingFunction().method1)
    assert metrics.bleu4(pred, ref) == pytest.approx(expected)


def test_corpus_bleu_equals_nltk():
    expected = corpus_bleu([[r.split()] for _, r in ENGLISH], [p.split() for p, _ in ENGLISH],
                           smoothing_function=SmoothingFunction().method1)
    assert metrics.bleu4_corpus(ENGLISH) == pytest.approx(expected)
    assert docqa.bleu4_corpus(ENGLISH) == pytest.approx(expected)


def test_chinese_pair_hand_computed():
    pred, ref = "今天天气很好", "今天天气不错"
    # rouge-score's default tokenizer drops every Chinese character: the pair would score 0.
    assert rouge_scorer.RougeScorer(["rouge1"]).score(ref, pred)["rouge1"].fmeasure == 0.0
    r = metrics.rouge(pred, ref)
    assert r["rouge1"]["fmeasure"] == pytest.approx(4 / 6)  # 今 天 天 气 shared of 6 characters each
    assert r["rouge2"]["fmeasure"] == pytest.approx(3 / 5)  # 今天 天天 天气 shared of 5 bigrams each
    assert r["rougeL"]["fmeasure"] == pytest.approx(4 / 6)  # LCS 今天天气
    # BLEU-4: p1 = 4/6, p2 = 3/5, p3 = 2/4, p4 = 1/3, equal lengths (BP = 1), no zero counts (smoothing inert).
    assert metrics.bleu4(pred, ref) == pytest.approx((4 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25)
    assert metrics.token_f1(pred, [ref]) == pytest.approx(4 / 6)


def test_tokenizer_mixed_scripts():
    assert metrics.tokenize("EC2 实例, t3.micro!") == ["ec2", "实", "例", "t3", "micro"]


def test_corpus_rouge_is_summed_counts_not_mean():
    pairs = [("a b c d", "a b c d"), ("x", "y z")]
    samples = [metrics.rouge_sample(p, r) for p, r in pairs]
    # rouge1: matches 4 + 0 over predicted 4 + 1 and reference 4 + 2 tokens.
    p, r = 4 / 5, 4 / 6
    assert metrics.rouge_corpus(samples, "rouge1") == pytest.approx(2 * p * r / (p + r))
    assert docqa.rouge1_corpus(samples) == pytest.approx(2 * p * r / (p + r))
    mean_f = sum(s["rouge1"]["f"] for s in samples) / 2
    assert mean_f == pytest.approx(0.5) and not math.isclose(mean_f, 2 * p * r / (p + r))


@pytest.mark.parametrize("pred, refs, em, f1", [
    ("The Eiffel Tower", ["eiffel tower"], 1.0, 1.0),
    ("Eiffel Tower in Paris", ["Eiffel Tower"], 0.0, 2 * (2 / 4) * 1 / (2 / 4 + 1)),
    ("Paris", ["London", "paris."], 1.0, 1.0),
    ("", ["London"], 0.0, 0.0),
    ("", [""], 1.0, 1.0),
])
def test_squad_exact_match_and_f1(pred, refs, em, f1):
    assert metrics.exact_match(pred, refs) == em
    assert metrics.token_f1(pred, refs) == pytest.approx(f1)


def test_empty_inputs():
    assert metrics.bleu4("", "reference text") == 0.0
    assert metrics.rouge("", "reference")["rouge1"]["fmeasure"] == 0.0
    assert metrics.rouge_corpus([], "rouge1") == 0.0
    assert metrics.bleu4_corpus([("", "x")]) == 0.0
    assert metrics.rating_f1([], [], "macro") == 0.0


def test_docqa_process_results():
    out = docqa.process_results({"answer": "the cat is on the mat"}, [" the cat sat on the mat\n"])
    assert out["rouge1"] == pytest.approx(metrics.rouge("the cat sat on the mat", "the cat is on the mat")["rouge1"]["fmeasure"])
    assert out["bleu4_corpus"] == ("the cat sat on the mat", "the cat is on the mat")


def _llamafactory_compute_similarity(preds: list[str], labels: list[str]) -> dict[str, float]:
    """A separate transcription of LLaMA-Factory's ComputeSimilarity.__call__ (src/llamafactory/train/sft/metric.py):
    per-sample scores appended to score_dict, then the mean of each list."""
    import jieba
    import numpy as np
    from rouge_chinese import Rouge

    score_dict = {"rouge-1": [], "rouge-2": [], "rouge-l": [], "bleu-4": []}
    for pred, label in zip(preds, labels):
        hypothesis = list(jieba.cut(pred))
        reference = list(jieba.cut(label))
        if len(" ".join(hypothesis).split()) == 0 or len(" ".join(reference).split()) == 0:
            result = {"rouge-1": {"f": 0.0}, "rouge-2": {"f": 0.0}, "rouge-l": {"f": 0.0}}
        else:
            rouge = Rouge()
            scores = rouge.get_scores(" ".join(hypothesis), " ".join(reference))
            result = scores[0]
        for k, v in result.items():
            score_dict[k].append(round(v["f"] * 100, 4))
        bleu_score = sentence_bleu([list(label)], list(pred), smoothing_function=SmoothingFunction().method3)
        score_dict["bleu-4"].append(round(bleu_score * 100, 4))
    return {k: float(np.mean(v)) for k, v in score_dict.items()}


# Repeated words and punctuation (where rouge-chinese and rouge-score disagree), mixed zh/en, empty sides.
LF_PAIRS = [
    ("今天天气很好", "今天天气不错"),
    ("的的的的的", "我的书的封面"),
    ("打开控制台，点击存储桶，然后点击上传，再点击确认。", "在控制台中，选择存储桶，然后选择上传。"),
    ("，，，。。。", "，。"),
    ("使用 aws s3 cp 命令复制文件。使用 aws s3 ls 命令列出文件。", "使用 aws s3 cp 命令。"),
    ("Use the AWS CLI to create a bucket.", "Create the bucket with the AWS CLI."),
    ("the the the the", "the cat sat on the mat"),
    ("可以，可以，可以。", "可以。"),
    ("Amazon S3 是对象存储服务，S3 提供高持久性。", "Amazon S3 是一种对象存储服务。"),
    ("", "非空的参考答案"),
    ("非空的预测", ""),
    ("", ""),
    ("   ", "空白的预测"),
    ("IAM 角色 IAM 角色 IAM 角色", "IAM 角色"),
    ("是的。是的。是的。", "是的"),
    ("首先，登录控制台；其次，打开 EC2；最后，启动实例。", "登录控制台，打开 EC2，启动实例。"),
    ("Lambda functions run code without servers; Lambda scales automatically.", "AWS Lambda runs code without provisioning servers."),
    ("不知道", "答案是：使用 CloudFormation 模板。"),
    ("答案是：使用 CloudFormation 模板。", "答案是：使用 CloudFormation 模板。"),
    ("1. 创建用户 2. 创建组 3. 添加用户到组", "创建用户并将用户添加到组"),
    ("？！？！", "？"),
    ("EC2 EC2 EC2 EC2 EC2 实例", "EC2 实例"),
    ("Yes, yes, yes.", "Yes."),
    ("数据被加密。数据被复制。数据被备份。", "数据被加密并复制到多个可用区。"),
]


def test_llamafactory_convention_equals_its_compute_similarity():
    from tasks.docqa import utils as docqa

    assert len(LF_PAIRS) >= 20
    per_sample = [docqa.process_results_llamafactory({"answer": ref}, [pred]) for pred, ref in LF_PAIRS]
    ours = {k: float(np.mean([s[f"lf_{k.replace('-', '')}".replace("rougel", "rougeL")] for s in per_sample]))
            for k in ("rouge-1", "rouge-2", "rouge-l", "bleu-4")}
    theirs = _llamafactory_compute_similarity([p for p, _ in LF_PAIRS], [r for _, r in LF_PAIRS])
    assert ours == pytest.approx(theirs, abs=1e-4)
    for (pred, ref), s in zip(LF_PAIRS, per_sample):  # and per sample, not only on average
        one = _llamafactory_compute_similarity([pred], [ref])
        assert [s["lf_rouge1"], s["lf_rouge2"], s["lf_rougeL"], s["lf_bleu4"]] == pytest.approx(
            [one["rouge-1"], one["rouge-2"], one["rouge-l"], one["bleu-4"]], abs=1e-4), (pred, ref)


def test_llamafactory_rouge_counts_distinct_ngrams():
    """Why rouge-chinese and not rouge-score: "IAM 角色" said three times against "IAM 角色" once is 100 for
    rouge-chinese (each distinct word counted once) and 50 for rouge-score (precision 2/6)."""
    pred, ref = "IAM 角色 IAM 角色 IAM 角色", "IAM 角色"
    assert metrics.llamafactory_scores(pred, ref)["rouge-1"] == 100.0
    import jieba

    class Words:
        def tokenize(self, text):
            return text.split()

    repeats = rouge_scorer.RougeScorer(["rouge1"], tokenizer=Words()).score(
        " ".join(jieba.cut(ref)), " ".join(jieba.cut(pred)))["rouge1"].fmeasure * 100
    assert repeats == pytest.approx(50.0)


def test_local_evaluate_modules_load_offline():
    import evaluate

    from tasks import PROJECT_DIR

    text = evaluate.load(str(PROJECT_DIR / "evaluate_metrics" / "harness_text"))
    got = text.compute(predictions=[p for p, _ in ENGLISH], references=[r for _, r in ENGLISH])
    assert got["bleu4_corpus"] == pytest.approx(metrics.bleu4_corpus(ENGLISH))
    assert got["rougeL"] == pytest.approx(sum(metrics.rouge(p, r)["rougeL"]["fmeasure"] for p, r in ENGLISH) / 4)
    rating = evaluate.load(str(PROJECT_DIR / "evaluate_metrics" / "harness_rating"))
    got = rating.compute(predictions=["4 stars", "meh", "Rating: 1", "5/5"], references=[3, 2, 0, 4])
    golds, preds = [3, 2, 0, 4], [3, -1, 0, 4]
    assert got["f1_macro"] == pytest.approx(f1_score(golds, preds, labels=[0, 1, 2, 3, 4], average="macro"))
    assert got["unparseable_rate"] == 0.25 and got["n_parsed"] == 3
