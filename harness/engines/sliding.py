"""What every engine's lm-eval model adds to stock lm-eval: request counting and sliding-window perplexity.

Stock lm-eval scores loglikelihood_rolling over disjoint windows (context_len=1). Our perplexity tasks ask for a
sliding window: each window after the first scores `stride` new tokens given the `window - stride` tokens before
them. The windows are built here once, and each engine scores them with its own batched loglikelihood call.
"""

from __future__ import annotations

import os
from collections import Counter

from harness.core.errors import HarnessError


def _bars_off() -> bool:
    """tqdm's own switch, TQDM_DISABLE, honoured here too: lm-eval passes `disable=` explicitly to its bars, which
    overrides tqdm's environment default (the demo sets it; so can a user or a CI log)."""
    return os.environ.get("TQDM_DISABLE", "").lower() in ("1", "true", "yes")


class CountingSlidingMixin:
    """Mixed in before an lm-eval LM class (HFLM, VLLM). Counts the requests that reach the model (those the cache
    did not answer) and does the sliding-window perplexity for documents that carry `ppl_window`."""

    engine_name = "?"

    def _init_counting(self) -> None:
        self.computed: Counter = Counter()

    def _max_window(self) -> int:
        return self.max_length

    def _score_windows(self, windows: list[tuple]) -> list[tuple[float, bool]]:
        raise NotImplementedError

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        self.computed["loglikelihood"] += len(requests)
        return super().loglikelihood(requests, disable_tqdm=disable_tqdm or _bars_off())

    def generate_until(self, requests, disable_tqdm: bool = False):
        self.computed["generate_until"] += len(requests)
        return super().generate_until(requests, disable_tqdm=disable_tqdm or _bars_off())

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        self.computed["loglikelihood_rolling"] += len(requests)
        if not requests or not all(isinstance(r.doc, dict) and "ppl_window" in r.doc for r in requests):
            return super().loglikelihood_rolling(requests, disable_tqdm=disable_tqdm or _bars_off())
        return self._sliding_rolling(requests)

    def _sliding_rolling(self, requests) -> list[float]:
        from lm_eval import utils as lm_utils

        windows, owners = [], []
        limit = self._max_window()
        for i, req in enumerate(requests):
            window = req.doc.get("ppl_window") or limit
            stride = req.doc.get("ppl_stride") or max(window // 2, 1)
            if window > limit:
                raise HarnessError(f"perplexity: window {window} is longer than the {self.engine_name} engine's maximum "
                                   f"length {limit}; choose a shorter ppl_window or sweep point")
            (string,) = req.args
            # No special tokens: the prefix token is the context of the first token. (Stock HFLM encodes with the
            # tokenizer's defaults, so with a BOS-adding tokenizer it also scores a BOS token after the BOS prefix.)
            for pair in lm_utils.get_rolling_token_windows(
                token_list=self.tok_encode(string, add_special_tokens=False), prefix_token=self.prefix_token_id,
                max_seq_len=window, context_len=window - stride + 1,
            ):
                windows.append((None,) + lm_utils.make_disjoint_window(pair))
                owners.append(i)
        totals = [0.0] * len(requests)
        for owner, (ll, _) in zip(owners, self._score_windows(windows), strict=True):
            totals[owner] += ll
        for req, total in zip(requests, totals, strict=False):
            self.cache_hook.add_partial("loglikelihood_rolling", req.args, total)
        return totals
