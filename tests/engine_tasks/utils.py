"""Data for the two tiny lm-eval tasks the engine tests run (no files, no downloads)."""

import datasets

_STORIES = [
    ("Once upon a time, there was a little girl named", "Lily"),
    ("The dog ran to the park and saw a big", "ball"),
    ("Tom liked to play with his red", "car"),
    ("One day, the sun was hot and the bird wanted to", "fly"),
    ("Mom said, \"Let's go to the", "store"),
    ("The cat was sad because it lost its", "toy"),
    ("Sam and Amy went to the beach to build a", "sandcastle"),
    ("The little boy was very", "happy"),
    ("She opened the box and found a shiny", "ring"),
    ("At night, the moon was big and", "bright"),
    ("The frog jumped into the", "pond"),
    ("Ben wanted to eat a big red", "apple"),
]


def load(**kwargs):
    rows = [{"prompt": p, "answer": a} for p, a in _STORIES]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})
