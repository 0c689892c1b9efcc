"""Local `evaluate` module for the Yelp rating metrics: `evaluate.load("<path to this folder>")`, offline.

Predictions are model answers (free text), references are labels 0-4 (0 = one star). Each answer goes through the
rule-based extractor (tasks/yelp/extract.py); unparseable answers count as wrong, and the `_drop` variants report
the same metrics with them removed (n_parsed is their n). F1 is scikit-learn's over exactly the five classes.
"""

import datasets
import evaluate

from tasks import metrics
from tasks.yelp.extract import extract_star

_KWARGS = """
Args:
    predictions: list of str, the model's answers.
    references: list of int, labels 0-4.
Returns:
    accuracy, f1_micro, f1_macro, f1_weighted, unparseable_rate, and *_drop variants with n_parsed.
"""


class HarnessRating(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__, citation="", inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("int32")}),
        )

    def _compute(self, predictions, references):
        preds = []
        for p in predictions:
            star = extract_star(p).star
            preds.append(star - 1 if star is not None else metrics.UNPARSEABLE)
        golds = list(references)
        kept = [(g, p) for g, p in zip(golds, preds) if p != metrics.UNPARSEABLE]
        kg, kp = [g for g, _ in kept], [p for _, p in kept]
        out = {"accuracy": metrics.rating_accuracy(golds, preds),
               "unparseable_rate": preds.count(metrics.UNPARSEABLE) / len(preds) if preds else 0.0,
               "accuracy_drop": metrics.rating_accuracy(kg, kp), "n_parsed": len(kept)}
        for avg in ("micro", "macro", "weighted"):
            out[f"f1_{avg}"] = metrics.rating_f1(golds, preds, avg)
            out[f"f1_{avg}_drop"] = metrics.rating_f1(kg, kp, avg)
        return out
