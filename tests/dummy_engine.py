"""A third engine, written as a test fixture: deterministic answers from a hash, no model and no weights.

It is what plugging an engine in takes: this one file and one entry in harness.engines.base.ENGINES (the test adds
`"dummy": "dummy_engine:DummyEngine"`). Its answers depend on the arm, so a run through it has real deltas, and they
are reproducible, so a test can recompute every score without it (`choice_score`, `answer`).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

from lm_eval.api.model import LM

from harness.core.arms import BASE_ARM
from harness.core.fingerprint import fingerprint_dir_cached
from harness.models.refs import LoadedBase


def choice_score(arm: str, context: str, continuation: str) -> float:
    """The log-likelihood the dummy gives a continuation: a fixed function of the arm and the request."""
    digest = hashlib.sha256(f"{arm}\x00{context}\x00{continuation}".encode()).digest()
    return -int.from_bytes(digest[:4], "big") / 2**32 * 10


def answer(arm: str, prompt: str) -> str:
    """What the dummy generates: nothing for the base, the prompt's last word for every adapter."""
    return "" if arm == BASE_ARM else " " + prompt.split()[-1]


class _WordTokenizer:
    """Enough of a tokenizer for the harness's token counts: one token per whitespace-separated word."""

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict:
        return {"input_ids": list(range(len(text.split())))}


class DummyLM(LM):
    def __init__(self):
        super().__init__()
        self.arm = BASE_ARM
        self.computed: Counter = Counter()  # the contract: requests that reached the model (not the cache)
        self.tokenizer = _WordTokenizer()

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        self.computed["loglikelihood"] += len(requests)
        return [(choice_score(self.arm, *r.args), False) for r in requests]

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        self.computed["loglikelihood_rolling"] += len(requests)
        return [choice_score(self.arm, "", r.args[0]) for r in requests]

    def generate_until(self, requests, disable_tqdm: bool = False):
        self.computed["generate_until"] += len(requests)
        return [answer(self.arm, r.args[0]) for r in requests]


class DummyEngine:
    """Satisfies harness.engines.base.Engine."""

    name = "dummy"

    @classmethod
    def preflight(cls, cfg, ref, specs) -> list[str]:
        return ["--load-in-4bit --engine dummy: the dummy engine has no weights to quantize"] if cfg.load_in_4bit else []

    def __init__(self, cfg, ref, specs):
        self.lm = DummyLM()
        self.adapters = {s.name for s in specs}
        self.base = LoadedBase(model=None, tokenizer=self.lm.tokenizer, ref=ref,
                               fingerprint=fingerprint_dir_cached(Path(ref.source), cfg.cache_dir / "fingerprints.json"),
                               dtype="none", quantization="none", device="cpu", load_s=0.0)

    @contextmanager
    def activate(self, arm: str):
        assert arm == BASE_ARM or arm in self.adapters, arm
        self.lm.arm = arm
        try:
            yield
        finally:
            self.lm.arm = BASE_ARM

    def provenance(self) -> dict:
        return {"engine": self.name, "answers": "sha256 of arm and request"}

    @property
    def cache_tag(self) -> str:
        return "dummy-1"
