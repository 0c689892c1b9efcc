"""Prompts cut to fit the model's context are counted per arm and task (run.json timing.arms.<arm>.<task>.truncated),
checked against HFLM's own truncation warnings and against token counts computed here from the samples, and the
report warns about them."""

from __future__ import annotations

import csv
import json
import logging
import random
from pathlib import Path

import pytest

from harness.cli.app import main
from harness.core import results
from harness.run import truncation as engine

MAX_LENGTH = 256  # the tiny model's max_position_embeddings, which HFLM takes as its max_length


@pytest.fixture(scope="module")
def lm(tiny_model):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.engines.hf import make_lm

    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    lm = make_lm(model, AutoTokenizer.from_pretrained(tiny_model), batch_size=1)
    assert lm.max_length == MAX_LENGTH
    return lm


class _Warnings(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def hflm_warnings():
    log = logging.getLogger("lm_eval.models.huggingface")
    handler, level = _Warnings(), log.level
    log.addHandler(handler)
    log.setLevel(logging.WARNING)
    yield handler.messages
    log.removeHandler(handler)
    log.setLevel(level)


def _text(rng, n_chars: int) -> str:
    return "".join(rng.choice("qzjxkvw ") for _ in range(n_chars))  # letters the tiny tokenizer barely merges


def test_loglikelihood_count_equals_hflm_warnings(lm, hflm_warnings):
    from lm_eval.api.instance import Instance

    rng = random.Random(0)
    args = [(_text(rng, n), " A") for n in range(220, 300, 8)]
    lm.loglikelihood([Instance("loglikelihood", {}, a, i) for i, a in enumerate(args)], disable_tqdm=True)
    hflm = sum("exceeds model's maximum length" in m for m in hflm_warnings)
    ours = sum(engine.is_truncated(lm, "multiple_choice", a) for a in args)
    assert 0 < hflm < len(args) and ours == hflm
    # and by the rule written out: context + continuation tokens beyond max_length + 1
    assert ours == sum(len(lm.tok_encode(c + x)) > MAX_LENGTH + 1 for c, x in args)


def test_generation_count_equals_hflm_warnings(lm, hflm_warnings):
    from lm_eval.api.instance import Instance

    rng = random.Random(1)
    gen = {"until": ["\n"], "max_gen_toks": 2, "do_sample": False}
    args = [(_text(rng, n), gen) for n in range(230, 290, 6)]
    lm.generate_until([Instance("generate_until", {}, a, i) for i, a in enumerate(args)], disable_tqdm=True)
    hflm = sum("Left truncation applied" in m for m in hflm_warnings)  # batch size 1: one warning per request
    ours = sum(engine.is_truncated(lm, "generate_until", a) for a in args)
    assert 0 < hflm < len(args) and ours == hflm
    assert ours == sum(len(lm.tok_encode(c)) + 2 > MAX_LENGTH for c, _ in args)


def test_perplexity_and_short_requests_are_never_counted(lm):
    assert not engine.is_truncated(lm, "loglikelihood_rolling", ("x " * 5000,))
    assert not engine.is_truncated(lm, "multiple_choice", ("short", " A"))
    assert engine.is_truncated(lm, "multiple_choice", ("", "qzjx" * 200))  # an empty context: prefix token + text


def _data(tmp_path: Path) -> dict[str, Path]:
    rng = random.Random(2)
    lengths = [20, 150, 240, 260, 300, 400]  # around the room a generation of 4 tokens leaves
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps({"question": _text(rng, n).strip() or "q", "answer": ["lily"]}) + "\n"
                          for n in lengths))
    root = tmp_path / "mmlu" / "test"
    root.mkdir(parents=True)
    with open(root / "misc_test.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([_text(rng, n).strip() or "q", "a", "b", "c", "d", "A"] for n in lengths)
    return {"general_qa": qa, "general_mc": root}


def _independent_count(tokenizer, task: str, rows: list[dict]) -> int:
    """From the samples alone: generation prompts that leave less than the 4 tokens of room asked for; loglikelihood
    requests (each choice) whose context + continuation exceed max_length + 1 tokens (HFLM feeds all but the last)."""
    def n(text):
        return len(tokenizer(text)["input_ids"])

    if task == "general_qa":
        return sum(n(r["prompt"]) + 4 > MAX_LENGTH for r in rows)
    return sum(n(r["prompt"] + " " + c) > MAX_LENGTH + 1 for r in rows for c in r["choices"])


def test_run_records_and_reports_truncation(tiny_model, tiny_adapters, tmp_path, capsys):
    from transformers import AutoTokenizer

    from reports import data, document, html, markdown

    paths = _data(tmp_path)
    out = tmp_path / "run"
    assert main(["run", "--base", str(tiny_model), "--adapter", str(tiny_adapters[0]), "--tasks",
                 "general_qa,general_mc", "--data", f"general_qa={paths['general_qa']}", "--data",
                 f"general_mc={paths['general_mc']}", "--num-fewshot", "0", "--max-gen-toks", "4", "--out", str(out),
                 "--no-registry",
                 "--cache-dir", str(tmp_path / "cache"), "--device", "cpu", "--resamples", "0"]) == 0
    console = capsys.readouterr().out
    run = results.load_run(out)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    adapter = tiny_adapters[0].name
    expected = {}
    for task, per_doc in (("general_qa", 1), ("general_mc", 4)):
        rows = results.read_samples(out, "base", task)
        expected[task] = _independent_count(tokenizer, task, rows)
        assert 0 < expected[task] < len(rows) * per_doc  # some cut, some not
        for arm in ("base", adapter):
            t = run["timing"]["arms"][arm][task]
            assert (t["truncated"], t["requests"], t["max_length"]) == (expected[task], len(rows) * per_doc, MAX_LENGTH)
    report = data.load([out])
    warnings = [w for b in document.build(report) if b.kind == "warnings" for w in b.items]
    md, page = markdown.render(report), html.render(report, tmp_path, [])
    # one line per task naming both arms (they were cut alike), never one box per arm
    n, k = run["timing"]["arms"]["base"]["general_qa"]["requests"], expected["general_qa"]
    assert run["timing"]["arms"][adapter]["general_qa"]["requests"] == n
    text = (f"general_qa: {k} of {n} requests ({100 * k / n:.1f}%) of base, {adapter} did not fit the model's context "
            f"of {MAX_LENGTH} tokens with room for the answer to generate and were cut from the left; their scores "
            "are for prompts the model did not see whole.")
    assert text in warnings and f"warning: {text}" in console
    assert f"> - {markdown.esc(text, 4000)}" in md and f"<li>{html.e(text)}</li>" in page
    k, n = expected["general_mc"], run["timing"]["arms"]["base"]["general_mc"]["requests"]
    assert (f"general_mc: {k} of {n} requests ({100 * k / n:.1f}%) of base, {adapter} did not fit the model's "
            f"context of {MAX_LENGTH} tokens and were cut") in warnings[[w[:10] for w in warnings].index("general_mc")]
    assert sum(w.startswith(("general_qa:", "general_mc:")) for w in warnings) == 2


def test_schema_accepts_the_new_fields_and_checks_their_types():
    golden = json.loads((Path(__file__).parent / "data" / "golden_run" / "run.json").read_text())
    assert results.validate_run(golden) == []  # runs written before these fields stay valid
    golden["timing"]["arms"] = {"base": {"yelp": {"seconds": 1.0, "tokens": 3, "computed_requests": 2, "requests": 2,
                                                  "truncated": 1, "max_length": 256}}}
    golden["tasks"]["yelp"].update(num_fewshot=0, dropped={"a reason": 2})
    assert results.validate_run(golden) == []
    golden["timing"]["arms"]["base"]["yelp"]["truncated"] = "1"
    golden["tasks"]["yelp"]["num_fewshot"] = 1.5
    golden["tasks"]["yelp"]["dropped"] = {"a reason": "2"}
    assert sorted(results.validate_run(golden)) == sorted([
        "timing.arms.base.yelp.truncated: expected a whole number or null, got a string",
        "tasks.yelp.num_fewshot: expected a whole number or null, got a number",
        "tasks.yelp.dropped: expected {reason: count}"])
