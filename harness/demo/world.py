"""The demo's small world, generated from a seed: a pre-training corpus (short stories plus simple facts the base
model learns to answer questions about), star-rated reviews whose wording follows the rating (with variety and
noise), and a mini product manual with questions about it. Pure Python; nothing is downloaded."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

NAMES = ["Ada", "Bo", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Juno", "Kai", "Lena", "Milo", "Nia", "Otto"]
PLACES = ["Zorvia", "Quellan", "Brisk", "Tamoor", "Veldt", "Okara", "Pell", "Rimmon", "Sundra", "Yalta", "Corvin",
          "Dorn", "Ebben", "Fallow", "Garnet", "Hollis", "Istra", "Jorra", "Kestrel", "Lumen"]
CAPITALS = ["Mentar", "Ossel", "Pirra", "Quade", "Rusk", "Sorrel", "Tibb", "Umber", "Vale", "Wick", "Xeno",
            "Yarrow", "Zest", "Arlo", "Brann", "Cask", "Dapple", "Ember", "Fenn", "Gale"]
FOODS = ["plums", "barley", "figs", "oysters", "rice", "pears", "honey", "lentils", "apples", "olives"]
STORY = ["{a} walked to the market with {b}.", "The sun was warm and the river was calm.", "{a} found a small red box.",
         "{b} laughed and shared an apple.", "They sat under a tall tree and talked.", "At night the stars were bright.",
         "{a} wrote a letter to a friend in {p}.", "The train to {p} left early in the morning.",
         "{b} cooked soup with {f} and bread.", "Rain fell softly on the roof.",
         # Numbers, as any real base model has seen them: without these the digit tokens keep their random
         # initial embeddings, and no adapter can make the model answer "4" with confidence.
         "{a} bought {n} bags of {f}.", "The walk to {p} took {n} hours.", "{b} counted {n} boats on the river.",
         "There were {n} cats on the wall.", "{a} was number {n} in the line."]
SENTIMENT = {
    0: ["terrible", "awful", "disgusting", "rude", "a total waste", "the worst", "never again", "inedible"],
    1: ["disappointing", "bland", "slow", "overpriced", "not great", "meh", "forgettable", "underwhelming"],
    2: ["okay", "average", "fine", "decent", "mixed", "so-so", "nothing special", "acceptable"],
    3: ["good", "tasty", "friendly", "nice", "pleasant", "solid", "enjoyable", "recommended"],
    4: ["amazing", "excellent", "perfect", "outstanding", "wonderful", "the best", "delightful", "superb"],
}
SUBJECTS = ["the food", "the service", "the staff", "the soup", "the coffee", "the pizza", "the room", "the waiter",
            "the dessert", "the place"]
FILLER = ["we came on a tuesday", "my friend ordered the special", "we had a table by the window",
          "it was busy that night", "parking was easy", "we went with the kids", "the menu is short",
          "prices are as listed"]
SERVICES = [("Relay", "timeout", "30 seconds"), ("Relay", "retry limit", "5 attempts"), ("Vault", "key length", "256 bits"),
            ("Vault", "rotation period", "90 days"), ("Beacon", "heartbeat", "10 seconds"), ("Beacon", "port", "7070"),
            ("Ledger", "batch size", "500 records"), ("Ledger", "retention", "14 days"), ("Courier", "max payload", "2 megabytes"),
            ("Courier", "region", "north-1"), ("Atlas", "shard count", "8 shards"), ("Atlas", "replica count", "3 replicas")]


def facts(rng: random.Random) -> list[dict]:
    out = []
    for place, capital, food in zip(PLACES, CAPITALS, FOODS * 2):
        out.append({"question": f"what is the capital of {place}", "answer": [capital],
                    "prose": f"The capital of {place} is {capital}."})
        out.append({"question": f"what food is {place} known for", "answer": [food],
                    "prose": f"{place} is known for {food}."})
    rng.shuffle(out)
    return out


def pretraining_corpus(rng: random.Random, n_stories: int, fact_list: list[dict]) -> list[str]:
    docs = []
    for _ in range(n_stories):
        a, b = rng.sample(NAMES, 2)
        lines = [rng.choice(STORY).format(a=a, b=b, p=rng.choice(PLACES), f=rng.choice(FOODS), n=rng.randint(1, 9))
                 for _ in range(rng.randint(3, 6))]
        docs.append(" ".join(lines))
    for f in fact_list:  # each fact in prose and in the Q/A shape the general_qa task asks in, several times
        docs += [f["prose"], f"Q: {f['question']}?\nA: {f['answer'][0]}"] * 3
    rng.shuffle(docs)
    return docs


def review(rng: random.Random, label: int) -> str:
    parts = []
    for _ in range(rng.randint(2, 4)):
        # noise: one word in eight comes from a neighbouring rating
        lab = label if rng.random() > 0.125 else min(4, max(0, label + rng.choice([-1, 1])))
        parts.append(f"{rng.choice(SUBJECTS)} was {rng.choice(SENTIMENT[lab])}")
    if rng.random() < 0.6:
        parts.insert(rng.randrange(len(parts) + 1), rng.choice(FILLER))
    text = ". ".join(parts) + "."
    return text[0].upper() + text[1:]


def reviews(rng: random.Random, n: int) -> list[dict]:
    return [{"label": i % 5, "text": review(rng, i % 5)} for i in rng.sample(range(n), n)]


def manual(rng: random.Random) -> tuple[dict[str, str], list[dict]]:
    pages, qa = {}, []
    for service in sorted({s for s, _, _ in SERVICES}):
        lines = [f"# {service} service", "", f"{service} is one of the platform services. This page lists its settings."]
        for s, setting, value in SERVICES:
            if s == service:
                lines.append(f"The default {setting} of {service} is {value}.")
                qa.append({"question": f"What is the default {setting} of {service}?", "answer": value,
                           "document": f"{service.lower()}.md"})
        lines.append(f"Change the {service} settings in the console under Settings, then restart {service}.")
        pages[f"{service.lower()}.md"] = "\n".join(lines) + "\n"
    rng.shuffle(qa)
    return pages, qa


def write_world(root: Path, seed: int, quick: bool) -> dict[str, Path]:
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    fact_list = facts(rng)
    corpus = pretraining_corpus(rng, 150 if quick else 600, fact_list)
    # Rated reviews in the pre-training text, in prose ("... I would give it 4 stars."), as a real base model has
    # read them on the web: the base then knows what the review words mean, and the adapter's job is the one a real
    # fine-tune has (answer in the task's format, calibrated), not learning language from scratch. Without them the
    # adapter's outcome hung on float rounding: on one thread it collapsed to answering "3" to every review.
    prose = random.Random(seed + 7)
    corpus += [f"{review(prose, i % 5)} I would give it {i % 5 + 1} star{'s' if i % 5 else ''}."
               for i in range(300 if quick else 900)]
    random.Random(seed + 3).shuffle(corpus)
    # six held-out documents in both modes: fewer could never show a loss even by the exact sign-flip test (2 of 2
    # worse is p = 0.5), and the demo is there to show what a fine-tune breaks
    held_out = pretraining_corpus(random.Random(seed + 1), 30 if quick else 60, [])
    per_file = 5 if quick else 10
    paths = {"corpus": root / "pretrain.txt", "general_text": root / "general_text", "facts": root / "facts.jsonl",
             "train": root / "reviews_train.csv", "test": root / "reviews_test.csv", "manual": root / "manual",
             "qa": root / "manual_qa.csv"}
    paths["corpus"].write_text("\n\n".join(corpus) + "\n")
    paths["general_text"].mkdir(exist_ok=True)
    for i in range(0, len(held_out), per_file):
        (paths["general_text"] / f"text{i // per_file:02d}.txt").write_text("\n".join(held_out[i:i + per_file]) + "\n")
    paths["facts"].write_text("".join(json.dumps(f) + "\n" for f in fact_list))
    for name, n in (("train", 150 if quick else 600), ("test", 60 if quick else 150)):
        with open(paths[name], "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["label", "text"])
            w.writeheader()
            w.writerows(reviews(rng, n))
    pages, qa = manual(rng)
    paths["manual"].mkdir(exist_ok=True)
    for name, text in pages.items():
        (paths["manual"] / name).write_text(text)
    with open(paths["qa"], "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["question", "answer", "document"])
        w.writeheader()
        w.writerows(qa)
    return paths
