"""Text and classification metrics shared by every task: pure functions, per sample, then aggregate.

The scoring itself is done by the libraries the field uses (rouge-score, nltk, scikit-learn); this module only
decides what they are fed. The one decision that matters most is tokenisation: rouge-score's default tokenizer
keeps only [a-z0-9] and so drops every Chinese character (a Chinese answer scores 0), hence `tokenize()` below.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

# CJK ideographs (+ extension A, compatibility), kana and hangul: scored one character per token, because
# these scripts do not separate words with spaces.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_TOKEN = re.compile(f"[{_CJK}]|(?:(?![{_CJK}])[^\\W_])+")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation) | set("，。！？；：、“”‘’（）《》【】…—·")

STAR_LABELS = [0, 1, 2, 3, 4]
UNPARSEABLE = -1
BLEU_SMOOTHING = "method1"  # nltk SmoothingFunction().method1: epsilon 0.1 added to zero n-gram counts


def tokenize(text: str) -> list[str]:
    """Lower-cased words for alphabetic scripts, single characters for CJK; punctuation dropped."""
    return _TOKEN.findall(text.lower())


class CJKTokenizer:
    """The `tokenize()` above in the interface rouge-score's RougeScorer(tokenizer=...) expects."""

    def tokenize(self, text: str) -> list[str]:
        return tokenize(text)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, drop punctuation and English articles, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, references: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals any normalised reference (alias)."""
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(r) for r in references))


def token_f1(prediction: str, references: Sequence[str]) -> float:
    """SQuAD token F1 against the best-matching reference; tokens from `tokenize()` so CJK works too."""
    pred = tokenize(normalize_answer(prediction))
    best = 0.0
    for ref in references:
        gold = tokenize(normalize_answer(ref))
        if not pred or not gold:
            best = max(best, float(pred == gold))
            continue
        common = sum((Counter(pred) & Counter(gold)).values())
        if common:
            p, r = common / len(pred), common / len(gold)
            best = max(best, 2 * p * r / (p + r))
    return best


# --- ROUGE (rouge-score) --------------------------------------------------------------------------------------

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


def _scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), tokenizer=CJKTokenizer())


def rouge(prediction: str, reference: str) -> dict[str, dict[str, float]]:
    """rouge-score's precision, recall and F-measure for ROUGE-1/2/L, with the CJK-aware tokenizer."""
    scores = _scorer().score(reference, prediction)
    return {k: {"precision": s.precision, "recall": s.recall, "fmeasure": s.fmeasure} for k, s in scores.items()}


def rouge_sample(prediction: str, reference: str) -> dict:
    """What a task keeps per document: the F-measures plus the counts that corpus-level ROUGE needs."""
    scores = rouge(prediction, reference)
    p, r = tokenize(prediction), tokenize(reference)
    lengths = {"rouge1": (len(p), len(r)), "rouge2": (max(len(p) - 1, 0), max(len(r) - 1, 0)), "rougeL": (len(p), len(r))}
    return {k: {"f": scores[k]["fmeasure"], "matches": scores[k]["recall"] * lengths[k][1],
                "pred_len": lengths[k][0], "ref_len": lengths[k][1]} for k in ROUGE_TYPES}


def rouge_corpus(samples: Sequence[dict], rouge_type: str) -> float:
    """Micro-averaged ROUGE F over the corpus: summed matches over summed lengths (not a mean of F-measures).

    Matches per document are rouge-score's recall x reference length (n-gram overlap for ROUGE-N, LCS length for
    ROUGE-L), so the matching itself stays rouge-score's.
    """
    matches = sum(s[rouge_type]["matches"] for s in samples)
    pred = sum(s[rouge_type]["pred_len"] for s in samples)
    ref = sum(s[rouge_type]["ref_len"] for s in samples)
    if not matches or not pred or not ref:
        return 0.0
    p, r = matches / pred, matches / ref
    return 2 * p * r / (p + r)


# --- BLEU (nltk) ----------------------------------------------------------------------------------------------

def _smoothing(method: str):
    from nltk.translate.bleu_score import SmoothingFunction

    return getattr(SmoothingFunction(), method)


def bleu4(prediction: str, reference: str, method: str = BLEU_SMOOTHING, tokens=tokenize) -> float:
    """Sentence BLEU-4 (uniform weights) from nltk with the named smoothing; 0 for an empty prediction."""
    from nltk.translate.bleu_score import sentence_bleu

    hyp, ref = tokens(prediction), tokens(reference)
    if not hyp or not ref:
        return 0.0
    return float(sentence_bleu([ref], hyp, weights=(0.25,) * 4, smoothing_function=_smoothing(method)))


def bleu4_corpus(pairs: Sequence[tuple[str, str]], method: str = BLEU_SMOOTHING) -> float:
    """nltk corpus_bleu over (prediction, reference) pairs: n-gram counts summed before the geometric mean."""
    from nltk.translate.bleu_score import corpus_bleu

    hyps = [tokenize(p) for p, _ in pairs]
    refs = [[tokenize(r)] for _, r in pairs]
    if not any(hyps):
        return 0.0
    return float(corpus_bleu(refs, hyps, weights=(0.25,) * 4, smoothing_function=_smoothing(method)))


# --- LLaMA-Factory's convention: its ComputeSimilarity (src/llamafactory/train/sft/metric.py), per sample ---------

def llamafactory_scores(prediction: str, reference: str) -> dict[str, float]:
    """The per-sample scores LLaMA-Factory's ComputeSimilarity records before its mean: rouge-1/2/l from the
    `rouge-chinese` package on jieba words, BLEU-4 on characters with nltk smoothing method3, each F x100 rounded to
    4 places. rouge-chinese is used itself, not imitated: it counts each distinct n-gram once (rouge-score counts
    repeats), so on answers that repeat a word or a "，" the two packages differ by many points."""
    try:
        import jieba
        from rouge_chinese import Rouge
    except ImportError:
        raise ImportError("the LLaMA-Factory convention needs jieba and rouge-chinese: pip install 'adapter-harness[zh]'") from None
    from nltk.translate.bleu_score import sentence_bleu

    _quiet_jieba(jieba)
    hypothesis, ref_words = list(jieba.cut(prediction)), list(jieba.cut(reference))
    if len(" ".join(hypothesis).split()) == 0 or len(" ".join(ref_words).split()) == 0:
        result = {"rouge-1": {"f": 0.0}, "rouge-2": {"f": 0.0}, "rouge-l": {"f": 0.0}}
    else:
        result = Rouge().get_scores(" ".join(hypothesis), " ".join(ref_words))[0]
    out = {k: round(v["f"] * 100, 4) for k, v in result.items()}
    bleu = sentence_bleu([list(reference)], list(prediction), smoothing_function=_smoothing("method3"))
    out["bleu-4"] = round(float(bleu) * 100, 4)
    return out


def _quiet_jieba(jieba) -> None:
    # jieba prints "Building prefix dict ..." to stderr on first use; a run's console is ours.
    import logging

    jieba.setLogLevel(logging.CRITICAL)


# --- five-class rating F1 (scikit-learn) ----------------------------------------------------------------------

def rating_f1(golds: Sequence[int], preds: Sequence[int], average: str) -> float:
    """F1 over the five classes exactly (labels=0..4): an unparseable prediction (-1) is a miss for its gold class
    and a false positive for no class, so with unparseables f1_micro is not accuracy."""
    from sklearn.metrics import f1_score

    if not golds:
        return 0.0
    return float(f1_score(list(golds), list(preds), labels=STAR_LABELS, average=average, zero_division=0))


def rating_accuracy(golds: Sequence[int], preds: Sequence[int]) -> float:
    return sum(g == p for g, p in zip(golds, preds, strict=False)) / len(golds) if golds else 0.0
