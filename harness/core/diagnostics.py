"""What a classifier actually answered: the prediction distribution of every classification task, per arm.

A score alone hides a degenerate predictor: an adapter that answers "3 stars" to every review scores accuracy 0.20 on
five balanced classes, and against a base that was 100% unparseable that is a "significant improvement". Here each
(task, arm) gets the distinct classes it predicted, the share of its most frequent answer, the unparseable share and
the chance level from the label distribution, and a verdict in words. Reads samples only; no torch.

Generation tasks that are not classifiers (general_qa, docqa) get the share of empty answers: a model that stops at
once (an answer of nothing but spaces, or a stop string as its first token) scores 0 on every document, and 1,799
empty answers out of 1,800 must not pass as an ordinary low score.
"""

from __future__ import annotations

from collections import Counter

CONSTANT = "constant predictor"
NEAR_CONSTANT = "near-constant predictor"
NEAR_CONSTANT_SHARE = 0.9  # one answer for at least this share of the documents
MOSTLY_UNPARSEABLE = "mostly unparseable"
MOSTLY_UNPARSEABLE_SHARE = 0.5
MOSTLY_EMPTY_SHARE = 0.5  # a generation task warns when more than this share of its answers is empty


def mc_choice(filtered: list) -> int:
    """A multiple-choice answer: the index of the choice with the highest loglikelihood ([loglikelihood, greedy]
    per choice, as lm-eval records them)."""
    return max(range(len(filtered)), key=lambda i: filtered[i][0])


def predictions(task: str, rows: list[dict]) -> tuple[list[int], list[int], list[str] | None] | None:
    """(golds, predictions (-1: unparseable), class names) of a classification task's samples, or None."""
    golds, preds, names = [], [], None
    for r in rows:
        m = r.get("metrics") or {}
        pair = m.get("accuracy")
        f = r.get("filtered")
        if isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, int) for x in pair):
            golds.append(pair[0])  # yelp: [gold label 0-4, extracted label or -1]
            preds.append(pair[1])
            names = [f"{i + 1} stars" if i else "1 star" for i in range(5)]
        elif isinstance(f, list) and f and all(isinstance(x, list) and x for x in f) and isinstance(r.get("target"), int):
            golds.append(r["target"])  # multiple choice: the highest-loglikelihood choice is the answer
            preds.append(mc_choice(f))
            if r.get("choices"):
                names = [str(c).strip() for c in r["choices"]]
        else:
            return None
    return (golds, preds, names) if golds else None


def diagnose(golds: list[int], preds: list[int], names: list[str] | None = None) -> dict:
    n = len(preds)
    parsed = [p for p in preds if p != -1]
    counts = Counter(parsed)
    labels = Counter(golds)
    majority, majority_n = counts.most_common(1)[0] if counts else (None, 0)

    def label(i: int) -> str:
        return names[i] if names and 0 <= i < len(names) else str(i)

    out = {
        "n": n, "classes_predicted": len(counts), "n_classes": max(len(labels), len(names or [])),
        "majority_answer": label(majority) if majority is not None else None,
        "majority_share": majority_n / n if n else 0.0,
        "unparseable_share": (n - len(parsed)) / n if n else 0.0,
        "chance_accuracy": labels.most_common(1)[0][1] / n if n else 0.0,
        "accuracy": sum(g == p for g, p in zip(golds, preds)) / n if n else 0.0,
    }
    if len(counts) == 1 and not (n - len(parsed)):
        out["verdict"] = CONSTANT
    elif len(counts) <= 1 or out["majority_share"] >= NEAR_CONSTANT_SHARE:
        out["verdict"] = NEAR_CONSTANT if counts else "no parseable answer"
    elif out["unparseable_share"] >= MOSTLY_UNPARSEABLE_SHARE:
        out["verdict"] = MOSTLY_UNPARSEABLE
    else:
        out["verdict"] = "ok"
    return out


def describe(d: dict, task: str, arm: str, unit: str = "document") -> str | None:
    """The warning a reader sees, or None when the predictor answers more than one class."""
    if d["verdict"] == "ok":
        return None
    if d["verdict"] == "no parseable answer":
        return f"{arm} on {task}: no answer could be read ({d['n']} {unit}s); its scores say nothing about the task."
    if d["verdict"] == MOSTLY_UNPARSEABLE:
        return (f"{arm} on {task}: {100 * d['unparseable_share']:.1f}% of its {d['n']} answers could not be read; its "
                "scores mostly measure the answer format, not the task.")
    share = f"{100 * d['majority_share']:.1f}%"
    return (f"{arm} on {task} is a {d['verdict']}: it answered {d['majority_answer']} for {share} of {d['n']} {unit}s "
            f"({d['classes_predicted']} of {d['n_classes']} classes ever predicted); its accuracy "
            f"{d['accuracy']:.4f} is to be read against the chance level {d['chance_accuracy']:.4f} of always "
            f"answering the most frequent label.")


def answer_texts(rows: list[dict]) -> list[str] | None:
    """The answer each document got in a generation task (after the task's filters), or None for any other task."""
    out = []
    for r in rows:
        answer = r.get("filtered") if isinstance(r.get("filtered"), str) else r.get("response")
        if not isinstance(answer, str):
            return None
        out.append(answer)
    return out or None


def empty_answers(answers: list[str]) -> dict:
    n = len(answers)
    empty = sum(not a.strip() for a in answers)
    return {"n": n, "empty": empty, "empty_share": empty / n if n else 0.0,
            "verdict": "mostly empty" if n and empty / n > MOSTLY_EMPTY_SHARE else "ok"}


def describe_empty(d: dict, task: str, arm: str, unit: str = "document") -> str | None:
    """The warning a reader sees when most answers of a generation task are empty, or None."""
    if d["verdict"] == "ok":
        return None
    return (f"{arm} on {task}: {d['empty']} of its {d['n']} answers ({100 * d['empty_share']:.1f}%) are empty; its "
            f"scores measure a model that does not answer, not what it knows (check the prompt format and the stop "
            f"strings: an answer that starts with one of them is cut to nothing).")


def fill(run: dict, samples) -> None:
    """run["diagnostics"]: one record per (classification task, arm); run["generation_diagnostics"]: the empty
    answers of every other generation task, per arm."""
    out, gen = [], []
    arms = [a["name"] for a in run["arms"]]
    for task, info in run["tasks"].items():
        unit = info.get("unit", "document")
        for arm in arms:
            rows = samples(arm, task)
            got = predictions(task, rows)
            if got is not None:
                out.append({"task": task, "arm": arm, **diagnose(*got), "unit": unit})
                continue
            answers = answer_texts(rows)
            if answers is not None:
                gen.append({"task": task, "arm": arm, **empty_answers(answers), "unit": unit})
    run["diagnostics"] = out
    run["generation_diagnostics"] = gen
