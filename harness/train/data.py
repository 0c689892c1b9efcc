"""Training examples for `harness train`: instruction and yelp pairs tokenised with the loss on the answer only; text
corpora packed into blocks with the loss on every token.

The yelp format renders each review with the yelp task's own prompt (tasks/yelp/prompt.py) and answers with the
star digit after one space, exactly what the yelp task's target is, so the adapter is trained on the prompt it is
evaluated on. The prompt is encoded on its own (with the tokenizer's special tokens, as lm-eval encodes a
generation prompt) and the answer separately, so no tokenizer merge crosses the prompt/answer boundary.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import HarnessError
from harness.core.fingerprint import fingerprint_files
from harness.train.config import Format, TrainConfig
from tasks.data import DataError, pick_column, read_corpus, read_table_lines
from tasks.yelp import utils as yelp_utils
from tasks.yelp.prompt import render_answer, render_prompt

IGNORE = -100
ALPACA = ("Below is an instruction that describes a task. Write a response that appropriately completes the "
          "request.\n\n### Instruction:\n{instruction}\n\n### Response:\n")
ALPACA_INPUT = ("Below is an instruction that describes a task, paired with an input that provides further context. "
                "Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n"
                "### Input:\n{input}\n\n### Response:\n")


@dataclass
class Pair:
    prompt: str
    answer: str
    where: str  # file:line, for errors


def read_pairs(path: str, fmt: Format) -> list[Pair]:
    if fmt is Format.YELP:
        docs = yelp_utils.load_rows(path)
        return [Pair(render_prompt(d["text"]), " " + render_answer(d["label"]), f"{path}: row {i + 1}")
                for i, d in enumerate(docs)]
    lines = read_table_lines(path, "data")
    rows = [r for _, r in lines]
    ins = pick_column(rows, path, ("instruction", "prompt", "question"))
    out = pick_column(rows, path, ("output", "response", "answer"))
    inp = pick_column(rows, path, ("input", "context"), required=False)
    pairs = []
    for line, row in lines:
        instruction, answer = row.get(ins), row.get(out)
        for col, v in ((ins, instruction), (out, answer)):
            if v is not None and not isinstance(v, str):
                raise DataError(f"{path}: line {line}, column '{col}': expected text, got a {type(v).__name__} "
                                f"({str(v)[:60]}); instruction data needs one answer string per row"
                                + (" (an NQ-style list of aliases: keep one, e.g. the first)" if isinstance(v, list) else ""))
            if not isinstance(v, str) or not v.strip():
                raise DataError(f"{path}: line {line}, column '{col}': empty value")
        extra = str(row.get(inp) or "").strip() if inp else ""
        prompt = (ALPACA_INPUT if extra else ALPACA).format(instruction=instruction.strip(), input=extra)
        pairs.append(Pair(prompt, answer.strip(), f"{path}: line {line}"))
    return pairs


def encode_pair(tok, pair: Pair, max_len: int, template_len: int) -> tuple[list[int], list[int], bool]:
    """(input_ids, labels, truncated). Too long: the prompt loses tokens on the left, as lm-eval truncates a
    generation prompt at evaluation; an answer that leaves no room for the prompt template is an error."""
    prompt = tok(pair.prompt)["input_ids"]
    answer = tok(pair.answer, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    if len(answer) + template_len > max_len:
        raise HarnessError(f"max_seq_length {max_len} is shorter than the prompt: {pair.where} needs "
                           f"{template_len} prompt-template tokens + {len(answer)} answer tokens; raise max_seq_length")
    truncated = len(prompt) + len(answer) > max_len
    if truncated:
        prompt = prompt[len(prompt) + len(answer) - max_len:]
    return prompt + answer, [IGNORE] * len(prompt) + answer, truncated


def template_length(tok, fmt: Format) -> int:
    if fmt is Format.YELP:
        return len(tok(render_prompt(""))["input_ids"])
    return len(tok(ALPACA.format(instruction=""))["input_ids"])


def encode_text(tok, path: str, max_len: int) -> list[dict]:
    """Continued pre-training: every document's tokens, EOS between documents, cut into max_len blocks."""
    stream: list[int] = []
    for d in read_corpus(path, "data"):
        stream += tok(d["text"], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    blocks = [stream[i:i + max_len] for i in range(0, len(stream), max_len)]
    blocks = [b for b in blocks if len(b) > 1]
    return [{"input_ids": b, "labels": list(b)} for b in blocks]


@dataclass
class Prepared:
    train: list[dict]
    eval: list[dict]
    rows: int
    truncated: int
    fingerprint: str


def data_fingerprint(path: str) -> str:
    p = Path(path).expanduser()
    if p.is_dir():
        return fingerprint_files([f for f in sorted(p.rglob("*")) if f.is_file()], p)
    return fingerprint_files([p], p.parent)


def prepare(cfg: TrainConfig, tok) -> Prepared:
    def encode(path):
        if cfg.format is Format.TEXT:
            return encode_text(tok, path, cfg.max_seq_length), 0
        tlen = template_length(tok, cfg.format)
        out, cut = [], 0
        for pair in read_pairs(path, cfg.format):
            ids, labels, truncated = encode_pair(tok, pair, cfg.max_seq_length, tlen)
            out.append({"input_ids": ids, "labels": labels})
            cut += truncated
        return out, cut

    train, truncated = encode(cfg.data)
    if not train:
        raise DataError(f"{cfg.data}: no training examples")
    rows = len(train)
    evaluation: list[dict] = []
    if cfg.eval_data:
        evaluation, _ = encode(cfg.eval_data)
    elif cfg.eval_fraction:
        order = list(range(len(train)))
        random.Random(cfg.seed).shuffle(order)
        n_eval = max(1, round(len(train) * cfg.eval_fraction))
        if n_eval >= len(train):
            raise DataError(f"{cfg.data}: {len(train)} examples are too few to hold out eval_fraction {cfg.eval_fraction}")
        held = set(order[:n_eval])
        evaluation = [ex for i, ex in enumerate(train) if i in held]
        train = [ex for i, ex in enumerate(train) if i not in held]
    return Prepared(train=train, eval=evaluation, rows=rows, truncated=truncated, fingerprint=data_fingerprint(cfg.data))
