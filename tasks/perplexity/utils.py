"""Helpers for perplexity: a corpus of documents, each scored with lm-eval's loglikelihood_rolling.

Per document the samples keep (loglikelihood, count) pairs, so token perplexity, word perplexity and bits per
byte are corpus-level (summed NLL over summed counts, lm-eval's weighted_perplexity / bits_per_byte) and a delta
between arms can be bootstrapped over documents.

Windows: `harness run` scores with a sliding window (window = `ppl_window`, default the model's maximum length;
stride = `ppl_stride`, default window / 2), so after the first window every scored token has at least
window - stride tokens of context. Stock lm-eval ignores these two fields and scores disjoint windows of the
model's maximum length (stride = window).
"""

from __future__ import annotations

import re

import numpy as np

from tasks.data import DataError, meta_int, read_corpus
from tasks.resampling import resampled


def _tokenizer(tokenizer, pretrained, trust_remote_code):
    source = tokenizer or pretrained
    if not source or not isinstance(source, str):
        raise DataError("perplexity: needs the model's tokenizer to count tokens; `harness run` passes it, with stock "
                        "lm-eval give --model_args pretrained=... (or --metadata '{\"tokenizer\": \"...\"}')")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(source, trust_remote_code=bool(trust_remote_code))


def load(perplexity_data=None, tokenizer=None, pretrained=None, trust_remote_code=False, ppl_window=None,
         ppl_stride=None, sweep_window=None, **metadata):
    import datasets

    if not perplexity_data:
        raise DataError("perplexity: needs your own held-out text (a folder of .md/.txt files, or a JSONL with a "
                        "'text' column); give it with --data perplexity=DIR (stock lm-eval: --metadata "
                        "'{\"perplexity_data\": \"DIR\"}')")
    # Unset (None, "", 0) means the defaults: the model's length, half a window. Stock lm-eval passes them unchecked.
    window = meta_int("ppl_window", sweep_window or ppl_window, 1) if (sweep_window or ppl_window) else None
    stride = meta_int("ppl_stride", ppl_stride, 1) if ppl_stride else None
    tok = _tokenizer(tokenizer, pretrained, trust_remote_code)
    if window is not None and stride is not None and not 1 <= stride <= window:
        raise DataError(f"perplexity: ppl_stride={stride} must be between 1 and the window ({window})")
    docs = []
    for d in read_corpus(perplexity_data, "perplexity_data"):
        text = d["text"]
        docs.append({
            "name": d["name"], "text": text,
            # Counted exactly as lm-eval's HFLM encodes the text for loglikelihood_rolling (no special tokens).
            "n_tokens": len(tok(text, add_special_tokens=False)["input_ids"]),
            "n_words": len(re.split(r"\s+", text)),
            "n_bytes": len(text.encode("utf-8")),
            "ppl_window": window, "ppl_stride": stride,
        })
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)})


def load_general(perplexity_general_data=None, **metadata):
    """perplexity_general: the same measurement on a second corpus (general text, to see what an adapter costs
    outside its domain); data key `perplexity_general`."""
    metadata.pop("perplexity_data", None)
    if not perplexity_general_data:
        raise DataError("perplexity_general: needs a general-text corpus; give it with --data perplexity_general=DIR "
                        "(stock lm-eval: --metadata '{\"perplexity_general_data\": \"DIR\"}')")
    return load(perplexity_data=perplexity_general_data, **metadata)


def process_results(doc, results):
    (ll,) = results
    return {
        "token_perplexity": (ll, doc["n_tokens"]),
        "word_perplexity": (ll, doc["n_words"]),
        "bits_per_byte": (ll, doc["n_bytes"]),
        "nll_per_token": (ll, doc["n_tokens"]),
    }


def _pairs(items) -> np.ndarray:
    return np.asarray(items, dtype=float)


def _nll_per_token(m: np.ndarray) -> np.ndarray:
    return -m[..., 0].sum(-1) / m[..., 1].sum(-1)


@resampled(to_array=_pairs, reduce=_nll_per_token)
def nll_per_token(items) -> float:
    """Negative log-likelihood per token in nats, summed over the corpus: the log of token_perplexity. Differences
    on this scale are relative changes of perplexity (+0.05 is about +5%), the same at any base perplexity."""
    m = _pairs(items)
    return float(_nll_per_token(m)) if len(m) and m[:, 1].sum() else float("nan")
