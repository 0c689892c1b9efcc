"""Build tests/data/golden_run: a fixed, synthetic run directory (base + 2 adapters x 4 tasks) for the report tests.

Per-document values are drawn with a fixed seed; scores are aggregated with the tasks' own functions and the
comparisons filled by harness.core.comparisons, exactly as `harness run` does. Rerun only to change the fixture:
    python tests/data/make_golden.py
"""

from __future__ import annotations

import math
import random
import shutil
from pathlib import Path

from harness.core import comparisons, results
from harness.core.aggregations import aggregators
from tasks import metrics

OUT = Path(__file__).resolve().parent / "golden_run"
ARMS = ["base", "lora_r8", "lora_r16"]
SKILL = {"base": 0.25, "lora_r8": 0.55, "lora_r16": 0.6}
TASKS = {
    "yelp": {"accuracy": "accuracy", "f1_micro": "f1_micro", "f1_macro": "f1_macro", "f1_weighted": "f1_weighted",
             "unparseable_rate": "mean", "f1_macro_drop": "f1_macro_drop", "n_parsed": "count"},
    "docqa": {"rouge1": "mean", "rougeL": "mean", "bleu4": "mean", "f1": "mean", "exact_match": "mean",
              "rougeL_corpus": "rougeL_corpus"},
    "perplexity": {"token_perplexity": "weighted_perplexity", "bits_per_byte": "bits_per_byte"},
    "general_qa": {"exact_match": "mean", "f1": "mean"},
}
HIB = {"unparseable_rate": False, "token_perplexity": False, "bits_per_byte": False}
ANSWERS = ["the default limit is 5", "use an IAM role", "you can stop the instance", "EBS volumes are encrypted",
           "数据在传输中加密", "objects live in buckets"]


TASK_YAML = {"yelp": "yelp/yelp.yaml", "docqa": "docqa/docqa.yaml", "perplexity": "perplexity/perplexity.yaml",
             "general_qa": "general_qa/general_qa.yaml"}


def _definitions(rel: str) -> dict:
    """metadata.definitions of a task YAML (following `include`), read as text: lm-eval's !function tags kept as
    strings, nothing imported."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))
    path = Path(__file__).resolve().parents[2] / "tasks" / rel
    doc = yaml.load(path.read_text(), Loader=Loader)
    meta = doc.get("metadata") or {}
    if "definitions" not in meta and doc.get("include"):
        return _definitions(str(Path(rel).parent / doc["include"]))
    return dict(meta.get("definitions") or {})


def yelp_rows(arm, rng):
    rows = []
    for d in range(40):
        gold = d % 5
        r = rng.random()
        pred = gold if r < SKILL[arm] else (-1 if (arm == "base" and r > 0.8) else rng.randrange(5))
        text = "Rating: unclear" if pred == -1 else f"{pred + 1} stars"
        pair = [gold, pred]
        rows.append({"doc_id": d, "doc_hash": f"y{d}", "filter": "extract", "prompt": f"Review {d}: ...\nOutput:",
                     "target": str(gold + 1), "response": text,
                     "filtered": {"star": None if pred == -1 else pred + 1, "rule": "no_rating" if pred == -1 else "n_stars"},
                     "metrics": {"accuracy": pair, "f1_micro": pair, "f1_macro": pair, "f1_weighted": pair,
                                 "unparseable_rate": float(pred == -1), "f1_macro_drop": pair, "n_parsed": float(pred != -1)}})
    return rows


def docqa_rows(arm, rng):
    rows = []
    for d in range(12):
        ref = ANSWERS[d % len(ANSWERS)]
        words = ref.split() if " " in ref else list(ref)
        keep = [w for w in words if rng.random() < SKILL[arm] + 0.2]
        pred = (" " if " " in ref else "").join(keep) or "no idea"
        if arm == "lora_r16" and d == 3:
            pred = "<script>document.title='PWNED'</script><img src=x onerror=\"document.title='PWNED'\"> EBS"
        rs = metrics.rouge_sample(pred, ref)
        rows.append({"doc_id": d, "doc_hash": f"d{d}", "filter": "none", "prompt": f"Question {d}? | a & b\nAnswer:",
                     "target": ref, "response": pred, "filtered": pred,
                     "metrics": {"rouge1": rs["rouge1"]["f"], "rougeL": rs["rougeL"]["f"], "bleu4": metrics.bleu4(pred, ref),
                                 "f1": metrics.token_f1(pred, [ref]), "exact_match": metrics.exact_match(pred, [ref]),
                                 "rougeL_corpus": rs}})
    return rows


def ppl_rows(arm, rng):
    rows = []
    for d in range(6):
        n = 200 + 37 * d
        ll = -n * (3.0 - SKILL[arm] * 0.8 + rng.random() * 0.1)
        rows.append({"doc_id": d, "doc_hash": f"p{d}", "filter": "none", "prompt": "", "target": f"doc {d}", "response": ll,
                     "filtered": ll, "metrics": {"token_perplexity": [ll, n], "bits_per_byte": [ll, n * 4]}})
    return rows


def qa_rows(arm, rng):
    rows = []
    for d in range(30):
        # the adapters forget a little: they lose a few answers the base knew
        correct = rng.random() < (0.5 if arm == "base" else 0.42)
        pred = "Paris" if correct else "London"
        rows.append({"doc_id": d, "doc_hash": f"q{d}", "filter": "none", "prompt": f"Q: question {d}?\nA:",
                     "target": "Paris", "response": pred, "filtered": pred,
                     "metrics": {"exact_match": float(correct), "f1": float(correct)}})
    return rows


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    builders = {"yelp": yelp_rows, "docqa": docqa_rows, "perplexity": ppl_rows, "general_qa": qa_rows}
    aggs = aggregators()
    scores = []
    for arm in ARMS:
        rng = random.Random(f"golden-{arm}")
        for task, build in builders.items():
            rows = build(arm, rng)
            results.write_jsonl(results.samples_path(OUT, arm, task), rows)
            for metric, agg in TASKS[task].items():
                value = aggs[agg]([r["metrics"][metric] for r in rows])
                scores.append({"task": task, "metric": metric, "filter": rows[0]["filter"], "value": float(value),
                               "stderr": None, "ci95": None, "n": len(rows), "higher_is_better": HIB.get(metric, True)})
                scores[-1]["arm"] = arm
    run = {
        "schema": results.SCHEMA, "run_id": "20260101-000000-golden", "created": "2026-01-01T00:00:00+00:00",
        "config": {"base": "tiny-base", "tasks": list(TASKS)}, "environment": {"device": "cpu (golden fixture)"},
        "base": {"name": "tiny-base", "source": "/models/tiny-base", "fingerprint": "sha256:" + "0" * 64,
                 "dtype": "float32", "quantization": "none"},
        "arms": [{"name": "base", "adapter": None}] + [
            {"name": a, "adapter": {"path": f"/adapters/{a}", "fingerprint": "sha256:" + str(i) * 64,
                                    "peft": {"peft_type": "LORA", "r": 8 * i, "lora_alpha": 16 * i, "lora_dropout": 0.05,
                                             "target_modules": ["q_proj", "v_proj"]}}}
            for i, a in enumerate(ARMS[1:], 1)],
        "tasks": {t: {"version": 1.0, "n_docs": {"yelp": 40, "docqa": 12, "perplexity": 6, "general_qa": 30}[t],
                      "config_hash": "sha256:" + "f" * 64, "aggregations": {m: a for m, a in TASKS[t].items()},
                      "output_type": "loglikelihood_rolling" if t == "perplexity" else "generate_until"}
                  for t in TASKS},
        "scores": scores, "comparisons": [], "timing": {"load_s": 0.0, "arms": {}},
        "resources": {"peak_rss_bytes": 0, "peak_gpu_bytes": None},
    }
    run["tasks"]["docqa"]["conventions"] = {"bleu4": "nltk sentence_bleu, SmoothingFunction().method1"}
    for t in TASKS:  # the glossary's words, as `harness run` records them from each task's YAML
        run["tasks"][t]["definitions"] = _definitions(TASK_YAML[t])
    comparisons.fill(run, OUT, resamples=200, seed=0)
    assert not results.validate_run(run), results.validate_run(run)
    results.write_json(OUT / results.RUN_FILE, run)
    assert math.isfinite(run["comparisons"][0]["delta"])


if __name__ == "__main__":
    main()
