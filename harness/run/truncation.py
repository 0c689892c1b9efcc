"""Which requests an engine cuts to fit the model's context, counted the way the engine itself encodes them."""

from __future__ import annotations


def _distinct_requests(samples: list[dict]) -> list[tuple]:
    """Every request of every document once (a task with several filter pipelines logs each document per filter)."""
    by_doc: dict = {}
    for s in samples:
        by_doc.setdefault(s["doc_id"], s.get("arguments") or [])
    return [tuple(a) for args in by_doc.values() for a in args]


def _loglikelihood_room(lm) -> int:
    """How many context + continuation tokens a loglikelihood request may hold before the engine cuts the context."""
    room = getattr(lm, "loglikelihood_room", None)
    return room() if callable(room) else lm.max_length - 1  # lm-eval's VLLM keeps max_length - 1 prompt tokens


def _over(lm, text: str, limit: int, extra: int = 0) -> bool:
    """Whether `text` (as the engine encodes it) plus `extra` tokens exceeds `limit` tokens. No token covers less than
    a byte, and a tokenizer adds at most a few tokens of its own: text that short is not encoded at all."""
    if len(text.encode("utf-8")) + 4 + extra <= limit:
        return False
    return len(lm.tok_encode(text)) + extra > limit


def is_truncated(lm, output_type: str | None, args) -> bool:
    """Whether the engine cuts this request's prompt to fit the model's context: a generation whose prompt tokens plus
    its generation budget exceed max_length (the prompt is cut from the left to max_length - max_gen_toks); a
    loglikelihood whose context + continuation tokens exceed what the engine keeps. Perplexity windows are built to
    fit, and are never cut."""
    if output_type == "generate_until":
        from lm_eval.models.utils import normalize_gen_kwargs

        gen_kwargs = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
        budget = normalize_gen_kwargs(gen_kwargs, lm.max_gen_toks)["max_gen_toks"]
        return _over(lm, args[0], lm.max_length, budget)
    if output_type in ("loglikelihood", "multiple_choice") and len(args) == 2:
        context, continuation = args
        if not context:  # lm-eval scores it after the prefix token
            return _over(lm, continuation, _loglikelihood_room(lm), 1)
        # lm-eval's _encode_pair splits the encoding of context + continuation: their token count is that encoding's.
        return _over(lm, context + continuation, _loglikelihood_room(lm))
    return False


def count_truncated(lm, output_type: str | None, samples: list[dict]) -> tuple[int, int | None]:
    """(requests, how many of them the engine truncated; None when the engine cannot say)."""
    requests = _distinct_requests(samples)
    try:
        return len(requests), sum(is_truncated(lm, output_type, a) for a in requests)
    except (AttributeError, NotImplementedError, TypeError):  # an engine without max_length / tok_encode
        return len(requests), None
