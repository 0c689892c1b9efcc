"""Local `evaluate` module for the harness's text metrics: `evaluate.load("<path to this folder>")`, offline.

The same functions the docqa and general_qa tasks use (tasks.metrics): ROUGE-1/2/L F (rouge-score, CJK-aware
tokenizer) as sample mean and corpus level, BLEU-4 (nltk, smoothing method1) as sample mean and corpus level,
SQuAD exact match and token F1 against one or more references per prediction.
"""

import datasets
import evaluate

from tasks import metrics

_DESCRIPTION = __doc__
_KWARGS = """
Args:
    predictions: list of str.
    references: list of str, or list of list of str (aliases; ROUGE/BLEU use the first).
Returns:
    dict with rouge1, rouge2, rougeL, bleu4 (sample means), rouge1_corpus, rouge2_corpus, rougeL_corpus,
    bleu4_corpus, exact_match, f1 (means), all on a 0-1 scale.
"""


class HarnessText(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="", inputs_description=_KWARGS,
            features=[
                datasets.Features({"predictions": datasets.Value("string"),
                                   "references": datasets.Sequence(datasets.Value("string"))}),
                datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
            ],
        )

    def _compute(self, predictions, references):
        refs = [[r] if isinstance(r, str) else list(r) for r in references]
        n = len(predictions)
        if n == 0:
            return {}
        samples = [metrics.rouge_sample(p, r[0]) for p, r in zip(predictions, refs)]
        out = {k: sum(s[k]["f"] for s in samples) / n for k in metrics.ROUGE_TYPES}
        out.update({f"{k}_corpus": metrics.rouge_corpus(samples, k) for k in metrics.ROUGE_TYPES})
        out["bleu4"] = sum(metrics.bleu4(p, r[0]) for p, r in zip(predictions, refs)) / n
        out["bleu4_corpus"] = metrics.bleu4_corpus([(p, r[0]) for p, r in zip(predictions, refs)])
        out["exact_match"] = sum(metrics.exact_match(p, r) for p, r in zip(predictions, refs)) / n
        out["f1"] = sum(metrics.token_f1(p, r) for p, r in zip(predictions, refs)) / n
        return out
