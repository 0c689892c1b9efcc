"""The reference engine: transformers + peft in this process, scored through lm-eval's HFLM.

One base load; every adapter attached to it with peft; the base arm runs under `disable_adapter()`, each adapter arm
under `set_adapter(name)`. Nothing is reloaded between arms.
"""

from __future__ import annotations

from lm_eval.models.huggingface import HFLM

from harness.engines.sliding import CountingSlidingMixin
from harness.models import loading


class CountingHFLM(CountingSlidingMixin, HFLM):
    engine_name = "hf"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_counting()

    def loglikelihood_room(self) -> int:
        """Context + continuation tokens HFLM scores uncut: it feeds the model all but the last of them, at most
        max_length (HFLM._loglikelihood_tokens; longer requests lose tokens from the left, with a warning)."""
        return self.max_length + 1

    def _score_windows(self, windows):
        """Summed log-probabilities of each window's continuation tokens: HFLM._loglikelihood_tokens' arithmetic
        (right-padded causal batch, log_softmax over the vocabulary, the continuation's positions) without what a
        perplexity window does not use: the per-window greedy argmax over the vocabulary, the cache hook and the
        progress bar, which cost ~12% of the time. Windows are sorted by length so a batch pads as little as
        possible. Checked equal to a direct transformers computation in tests/test_tasks_tinystories.py."""
        import torch
        import torch.nn.functional as F

        bs = self.batch_size if isinstance(self.batch_size, int) and self.batch_size > 0 else 1
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        order = sorted(range(len(windows)), key=lambda i: -(len(windows[i][1]) + len(windows[i][2])))
        out: list = [None] * len(windows)
        for start in range(0, len(order), bs):
            idx = order[start : start + bs]
            inps = [(windows[i][1] + windows[i][2])[-(self.max_length + 1):][:-1] for i in idx]
            width = max(map(len, inps))
            batch = torch.tensor([x + [pad] * (width - len(x)) for x in inps], device=self.device)
            with torch.no_grad():
                logprobs = F.log_softmax(self._model_call(batch), dim=-1)
            for row, i in enumerate(idx):
                cont = windows[i][2]
                end = len(inps[row])
                target = torch.tensor(cont, device=logprobs.device)[:, None]
                out[i] = (float(logprobs[row, end - len(cont) : end].gather(-1, target).sum()), False)
        return out


def make_lm(model, tokenizer, batch_size: int) -> CountingHFLM:
    return CountingHFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size)


class HFEngine:
    """Satisfies harness.engines.base.Engine."""

    name = "hf"

    @classmethod
    def preflight(cls, cfg, ref, specs) -> list[str]:
        return []  # transformers loads every architecture; its own problems surface as one line at load

    def __init__(self, cfg, ref, specs):
        self.base = loading.load_base(ref, device=cfg.device, dtype=cfg.dtype, load_in_4bit=cfg.load_in_4bit,
                                      trust_remote_code=cfg.trust_remote_code, cache_dir=cfg.cache_dir)
        self.model = loading.attach_adapters(self.base, specs)
        self.lm = make_lm(self.model, self.base.tokenizer, cfg.batch_size)

    def activate(self, arm: str):
        return loading.activate(self.model, arm)

    def provenance(self) -> dict:
        return {"engine": "hf", "batch_size": self.lm.batch_size}

    @property
    def cache_tag(self) -> str:
        return "hf"
