"""The bad-input corpus: every command, fed what users really get wrong, through the real CLI in a subprocess.

Each case must end with the exit code it names (2: bad input or environment), exactly one `error:` line, no
traceback, and nothing new or changed on disk (the whole workspace is compared before and after). Paths under /proc
stand for places that cannot be written (the tests may run as root, which ignores permission bits).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import struct
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import ENGINE_TASKS, build_adapter, build_tiny_llama

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "data" / "golden_run"
UNWRITABLE = "/proc/harness-cannot-write-here"

# (id, argv with {placeholders}, fragment the error line must contain[, exit code])
RUN = "run --base {model} --tasks tiny_gen --include-path {tasks} --limit 2 --cache-dir {ws}/cache --no-registry"
CASES = [
    # --- harness run ------------------------------------------------------------------------------------------
    ("run: missing base", "run --base {ws}/no-model --tasks tiny_gen --include-path {tasks} --out {ws}/r", "no such directory"),
    ("run: base is a file", "run --base {a}/file.txt --tasks tiny_gen --include-path {tasks} --out {ws}/r", "is a file"),
    ("run: base without config.json", "run --base {a}/empty_dir --tasks tiny_gen --include-path {tasks} --out {ws}/r", "config.json is missing"),
    ("run: alias typo", "run --base qwen2.5-3bb --tasks tiny_gen --include-path {tasks} --out {ws}/r", "did you mean"),
    ("run: missing adapter", RUN + " --adapter {ws}/nope --out {ws}/r", "no such directory"),
    ("run: adapter is a file", RUN + " --adapter {a}/file.txt --out {ws}/r", "is a file"),
    ("run: adapter without config", RUN + " --adapter {a}/no_config --out {ws}/r", "adapter_config.json is missing"),
    ("run: adapter config not JSON", RUN + " --adapter {a}/bad_json --out {ws}/r", "not valid JSON"),
    ("run: adapter config without peft_type", RUN + " --adapter {a}/no_peft_type --out {ws}/r", "'peft_type' is missing"),
    ("run: adapter without weights", RUN + " --adapter {a}/no_weights --out {ws}/r", "holds no adapter_model.safetensors"),
    ("run: garbage safetensors", RUN + " --adapter {a}/garbage --out {ws}/r", "not a safetensors file"),
    ("run: truncated safetensors", RUN + " --adapter {a}/truncated --out {ws}/r", "truncated safetensors"),
    ("run: pickle without flag", RUN + " --adapter {a}/pickled --out {ws}/r", "--allow-pickle"),
    ("run: adapter from another model", RUN + " --adapter {a}/foreign --out {ws}/r", "shape mismatch"),
    ("run: two arms one name", RUN + " --adapter x={adapter} --adapter x={adapter} --out {ws}/r", "both be called 'x'"),
    ("run: reserved arm name", RUN + " --adapter base={adapter} --out {ws}/r", "reserved"),
    ("run: unknown task", "run --base {model} --tasks tiny_gn --include-path {tasks} --out {ws}/r --no-registry", "close matches: tiny_gen"),
    ("run: no task", "run --base {model} --tasks , --out {ws}/r --no-registry", "no task given"),
    ("run: limit 0", RUN.replace("--limit 2", "--limit 0") + " --out {ws}/r", "--limit 0"),
    ("run: batch size 0", RUN + " --batch-size 0 --out {ws}/r", "--batch-size 0"),
    ("run: max-gen-toks 0", RUN + " --max-gen-toks 0 --out {ws}/r", "--max-gen-toks 0"),
    ("run: negative few-shot", RUN + " --num-fewshot -1 --out {ws}/r", "--num-fewshot -1"),
    ("run: negative resamples", RUN + " --resamples -1 --out {ws}/r", "--resamples -1"),
    ("run: bad device", RUN + " --device gpu --out {ws}/r", "--device gpu"),
    ("run: bad dtype", RUN + " --dtype fp8 --out {ws}/r", "invalid choice: 'fp8'"),
    ("run: limit not a number", RUN.replace("--limit 2", "--limit five") + " --out {ws}/r", "invalid int value"),
    ("run: flag typo", RUN.replace("--limit 2", "--limt 2") + " --out {ws}/r", "did you mean --limit"),
    ("run: data without =", RUN + " --data yelp --out {ws}/r", "expected KEY=VALUE"),
    ("run: unknown data key", RUN + " --data yelpp={a}/reviews.csv --out {ws}/r", "did you mean yelp"),
    ("run: data file missing", "run --base {model} --tasks yelp --data yelp={ws}/nope.csv --out {ws}/r --no-registry", "no such file"),
    ("run: data for a task not run", "run --base {model} --tasks yelp_mc --data yelp={a}/reviews.csv --data docqa={a}/qa.csv --out {ws}/r --no-registry", "no task in --tasks reads it"),
    ("run: task-meta not a number", "run --base {model} --tasks perplexity --data perplexity={a}/docs --task-meta ppl_window=abc --out {ws}/r --no-registry", "ppl_window=abc: expected a whole number"),
    ("run: task-meta nobody reads", "run --base {model} --tasks yelp_mc --data yelp={a}/reviews.csv --task-meta ppl_windw=512 --out {ws}/r --no-registry", "did you mean ppl_window"),
    ("run: task-meta for a task not run", "run --base {model} --tasks yelp_mc --data yelp={a}/reviews.csv --task-meta ppl_window=512 --out {ws}/r --no-registry", "no task in --tasks reads it"),
    ("run: task-meta bad choice", "run --base {model} --tasks general_mc --data general_mc={a}/mmlu --task-meta general_mc_split=train --out {ws}/r --no-registry", "expected one of test, val"),
    ("run: out is a file", RUN + " --out {a}/file.txt", "is a file"),
    ("run: out under a file", RUN + " --out {a}/file.txt/run", "is a file"),
    ("run: out unwritable", RUN + " --out " + UNWRITABLE, "cannot write"),
    ("run: existing run", RUN + " --out {a}/done_run", "pass --force"),
    ("run: include-path missing", "run --base {model} --tasks tiny_gen --include-path {ws}/nope --out {ws}/r --no-registry", "--include-path"),
    ("run: yelp label out of range", "run --base {model} --tasks yelp --data yelp={a}/bad_label.csv --out {ws}/r --no-registry", "is not a label 0-4"),
    ("run: yelp file empty", "run --base {model} --tasks yelp --data yelp={a}/empty.csv --out {ws}/r --no-registry", "the file is empty"),
    ("run: yelp column missing", "run --base {model} --tasks yelp --data yelp={a}/no_label.csv --out {ws}/r --no-registry", "no column 'label'"),
    ("run: malformed JSONL", "run --base {model} --tasks general_qa --data general_qa={a}/bad.jsonl --out {ws}/r --no-registry", "malformed JSON"),
    ("run: general_mc bad answer", "run --base {model} --tasks general_mc --data general_mc={a}/bad_mmlu --out {ws}/r --no-registry", "is not one of A, B, C, D"),
    ("run: docqa documents missing", "run --base {model} --tasks docqa --data docqa={a}/qa.csv --data docqa_documents={ws}/nodocs --out {ws}/r --no-registry", "no such file or folder"),
    ("run: hub-only task offline", "run --base {model} --tasks mmlu_abstract_algebra --out {ws}/r --no-registry", "is on the Hugging Face hub"),
    ("run: unknown registered name", "run --base {model} --tasks tiny_gen --include-path {tasks} --adapter goood --registry {a}/registry.sqlite --out {ws}/r", "no adapter named 'goood'"),
    ("run: corrupt registry", RUN.replace(" --no-registry", "") + " --registry {a}/corrupt.sqlite --out {ws}/r", "not a readable SQLite file"),
    ("run: vLLM option without --engine vllm", RUN + " --tensor-parallel-size 2 --out {ws}/r", "add --engine vllm"),
    ("run: unknown engine", RUN + " --engine tgi --out {ws}/r", "invalid choice: 'tgi'"),
    ("run: vllm with a batch size", RUN + " --engine vllm --batch-size 8 --out {ws}/r", "schedules its own batches"),
    ("run: registry is a folder", RUN.replace(" --no-registry", "") + " --registry {a}/empty_dir --out {ws}/r", "is a folder"),
    # --- harness train ----------------------------------------------------------------------------------------
    ("train: missing base", "train --base {ws}/nope --data {a}/reviews.csv --format yelp --out {ws}/t --no-registry", "--base"),
    ("train: missing data", "train --base {model} --data {ws}/nope.csv --format yelp --out {ws}/t --no-registry", "no such file"),
    ("train: format typo", "train --base {model} --data {a}/reviews.csv --format yelpp --out {ws}/t --no-registry", "did you mean yelp"),
    ("train: empty data", "train --base {model} --data {a}/empty.csv --format yelp --out {ws}/t --no-registry", "the file is empty"),
    ("train: instruction column missing", "train --base {model} --data {a}/reviews.csv --format instruction --out {ws}/t --no-registry", "no column 'instruction'"),
    ("train: yelp label out of range", "train --base {model} --data {a}/bad_label.csv --format yelp --out {ws}/t --no-registry", "is not a label 0-4"),
    ("train: NQ file as instruction data", "train --base {model} --data {a}/nq.jsonl --format instruction --out {ws}/t --no-registry", "list of aliases"),
    ("train: config file missing", "train --config {ws}/nope.yaml --out {ws}/t --no-registry", "no such file"),
    ("train: config not YAML", "train --config {a}/bad.yaml --out {ws}/t --no-registry", "not valid YAML"),
    ("train: config unknown key", "train --config {a}/unknown_key.yaml --no-registry", "did you mean 'learning_rate'"),
    ("train: out is a file", "train --base {model} --data {a}/reviews.csv --format yelp --out {a}/file.txt --no-registry", "is a file"),
    ("train: out unwritable", "train --base {model} --data {a}/reviews.csv --format yelp --out " + UNWRITABLE + " --no-registry", "cannot write"),
    ("train: learning rate not a number", "train --base {model} --data {a}/reviews.csv --format yelp --out {ws}/t --learning-rate fast", "invalid float value"),
    ("train: rank 0", "train --base {model} --data {a}/reviews.csv --format yelp --out {ws}/t --r 0 --no-registry", "r"),
    ("train: flag typo", "train --base {model} --data {a}/reviews.csv --format yelp --out {ws}/t --epoch 2", "did you mean --epochs"),
    ("train: another run's adapter", "train --base {model} --data {a}/reviews.csv --format yelp --out {a}/other_train --no-registry", "--force"),
    # --- harness report ---------------------------------------------------------------------------------------
    ("report: missing run", "report {ws}/nope --out {ws}/o", "no run.json"),
    ("report: run without run.json", "report {a}/empty_dir --out {ws}/o", "no run.json"),
    ("report: run.json not JSON", "report {a}/broken_run --out {ws}/o", "not valid JSON"),
    ("report: wrong schema", "report {a}/old_schema_run --out {ws}/o", "schema"),
    ("report: out is a file", "report {a}/golden --out {a}/file.txt", "is a file"),
    ("report: out under a file", "report {a}/golden --out {a}/file.txt/o", "is a file"),
    ("report: out unwritable", "report {a}/golden --out " + UNWRITABLE, "cannot write"),
    ("report: unknown format", "report {a}/golden --out {ws}/o --format md,docx", "unknown docx"),
    ("report: two bases", "report {a}/golden {a}/other_base_run --out {ws}/o", "different base models"),
    ("report: resamples 0", "report {a}/golden --out {ws}/o --resamples 0", "--resamples 0"),
    # --- harness gate -----------------------------------------------------------------------------------------
    ("gate: rules missing", "gate {a}/golden --rules {ws}/nope.yaml", "no such file"),
    ("gate: rules not YAML", "gate {a}/golden --rules {a}/bad.yaml", "not valid YAML"),
    ("gate: rules not a list", "gate {a}/golden --rules {a}/rules_mapping.yaml", "non-empty list under 'rules'"),
    ("gate: unknown kind", "gate {a}/golden --rules {a}/rules_kind.yaml", "close matches: floor"),
    ("gate: unknown task", "gate {a}/golden --rules {a}/rules_task.yaml", "unknown task 'yelpp'"),
    ("gate: unknown metric", "gate {a}/golden --rules {a}/rules_metric.yaml", "unknown metric 'f1_macr'"),
    ("gate: missing field", "gate {a}/golden --rules {a}/rules_missing.yaml", "'value' is missing"),
    ("gate: wrong type", "gate {a}/golden --rules {a}/rules_type.yaml", "'value' must be a number"),
    ("gate: no_regression without baseline", "gate {a}/golden --rules {a}/rules_noreg.yaml", "needs a baseline"),
    ("gate: baseline missing", "gate {a}/golden --rules {a}/rules_noreg.yaml --baseline {ws}/nope", "--baseline"),
    ("gate: not_degenerate on a generation task", "gate {a}/golden --rules {a}/rules_degenerate.yaml", "not a classification task"),
    ("gate: junit unwritable", "gate {a}/golden --rules {a}/rules_ok.yaml --junit " + UNWRITABLE + "/gate.xml", "cannot write"),
    ("gate: junit is a folder", "gate {a}/golden --rules {a}/rules_ok.yaml --junit {a}/empty_dir", "is a folder"),
    ("gate: json under a file", "gate {a}/golden --rules {a}/rules_ok.yaml --json {a}/file.txt/gate.json", "is a file"),
    ("gate: run missing", "gate {ws}/nope --rules {a}/rules_ok.yaml", "no run.json"),
    # --- harness registry -------------------------------------------------------------------------------------
    ("registry: add missing path", "registry --registry {ws}/reg.sqlite add {ws}/nope --name x", "registry add"),
    ("registry: add without name", "registry --registry {ws}/reg.sqlite add {adapter}", "required: --name"),
    ("registry: add a non-adapter", "registry --registry {ws}/reg.sqlite add {a}/empty_dir --name x", "adapter_config.json is missing"),
    ("registry: show unknown", "registry --registry {a}/registry.sqlite show nobody", "no adapter named 'nobody'"),
    ("registry: remove unknown", "registry --registry {a}/registry.sqlite remove nobody", "no adapter named 'nobody'"),
    ("registry: accept unknown run", "registry --registry {a}/registry.sqlite accept {ws}/nope", "no run"),
    ("registry: best without scores", "registry --registry {a}/registry.sqlite best --task yelp --metric f1", "no adapter scores"),
    ("registry: corrupt file", "registry --registry {a}/corrupt.sqlite list", "not a readable SQLite file"),
    ("registry: unknown action", "registry --registry {a}/registry.sqlite lst", "invalid choice: 'lst'"),
    # --- harness demo and the top level -----------------------------------------------------------------------
    ("demo: out is a file", "demo --quick --out {a}/file.txt", "is a file"),
    ("demo: out unwritable", "demo --quick --out " + UNWRITABLE, "cannot write"),
    ("demo: seed not a number", "demo --quick --seed one --out {ws}/d", "invalid int value"),
    ("demo: flag typo", "demo --quik --out {ws}/d", "did you mean --quick"),
    ("top: unknown command", "rn --base x", "invalid choice: 'rn'"),
    ("blind: missing run", "blind export {ws}/nope --task docqa --out {ws}/b", "no run.json"),
]

# Cases with a class of their own: (class, id, argv, fragment[, exit code]). Exit 0 means valid input that must work:
# no error line, the fragment in its output (stdout or stderr), outputs allowed. Paths here are typed as users type
# them: relative to the folder the command runs from ({ws}, the case's own working folder), with ~ (HOME is {ws}),
# through symlinks.
RUN_REL = "run --base {model} --tasks tiny_gen --include-path {tasks} --limit 2 --no-registry --cache-dir cache"
CLASSED = [
    # one run, four ways of typing an adapter: relative, ./ with a trailing slash and a NAME= (names with dots, which
    # peft itself refuses), through a symlink; out under ~
    ("relative paths", "run: adapters typed four ways, out under ~",
     RUN_REL + " --adapter adapter --adapter v1.0=./adapter/ --adapter linked --adapter lr-1.5e-4=../{wsname}/adapter --out ~/runs/r",
     "run directory: {ws}/runs/r", 0),
    ("relative paths", "registry: add a relative adapter", "registry --registry reg.sqlite add adapter --name a1", "registered 'a1'", 0),
    ("relative paths", "run: duplicate tasks, relative data with include-path",
     RUN_REL.replace("tiny_gen", "tiny_gen,tiny_gen") + " --data yelp=reviews.csv --out r", "none of the project's tasks", 0),
    ("relative paths", "run: --debug after the command", RUN_REL + " --limit 0 --out r --debug", "--limit 0"),
    ("relative paths", "run: missing relative adapter", RUN_REL + " --adapter ./nope --out r", "no such directory"),
    ("relative paths", "run: empty adapter", RUN_REL + " --adapter= --out r", "empty path"),
    ("out folder", "run: out empty (unset variable)", RUN_REL + " --out=", "empty path"),
    ("out folder", "run: out is the current folder", RUN_REL + " --out .", "is the current folder"),
    ("out folder", "run: out is a parent of the current folder", RUN_REL + " --out ..", "is the current folder"),
    ("out folder", "run: out holds user files", RUN_REL + " --out {a}/user_files", "holds files that are not a run"),
    ("out folder", "run: out holds user files, forced into the base", RUN_REL + " --out {model} --force", "inside the base model folder"),
    ("out folder", "run: out is the adapter folder", RUN_REL + " --adapter {a}/adapter_copy --out {a}/adapter_copy --force", "inside adapter"),
    ("out folder", "run: out inside the adapter folder", RUN_REL + " --adapter {a}/adapter_copy --out {a}/adapter_copy/run", "inside adapter"),
    ("out folder", "run: out inside the base folder", RUN_REL + " --out {model}/runs/r", "inside the base model folder"),
    ("out folder", "train: out is the base folder", "train --base {model} --data {a}/reviews.csv --format yelp --out {model} --force --no-registry", "inside the base model folder"),
    ("out folder", "train: out inside the base folder", "train --base {model} --data {a}/reviews.csv --format yelp --out {model}/adapter --no-registry", "inside the base model folder"),
    ("out folder", "train: out holds user files", "train --base {model} --data {a}/reviews.csv --format yelp --out {a}/user_files --no-registry", "holds files that are not a training run"),
    ("out folder", "train: out empty", "train --base {model} --data {a}/reviews.csv --format yelp --out= --no-registry", "empty path"),
    ("out folder", "train: out is the current folder", "train --base {model} --data {a}/reviews.csv --format yelp --out . --no-registry", "is the current folder"),
    ("out folder", "demo: out is the current folder", "demo --quick --out .", "is the current folder"),
    ("out folder", "demo: out holds user files", "demo --quick --out {a}/user_files", "holds files that are not a demo"),
    ("out folder", "report: out empty", "report {a}/golden --out=", "empty path"),
    ("out folder", "report: out is another run's folder", "report {a}/golden --out {a}/done_run", "holds another run"),
    ("out folder", "gate: junit into the base model folder", "gate {a}/golden_local --rules {a}/rules_ok.yaml --junit {model}/junit.xml", "inside the base model folder"),
    ("out folder", "gate: json into an adapter folder", "gate {a}/golden_local --rules {a}/rules_ok.yaml --json {a}/adapter_copy/gate.json", "inside adapter 'lora_r8'"),
    ("out folder", "report: out inside the base model folder", "report {a}/golden_local --out {model}/report", "inside the base model folder"),
    ("out folder", "blind: out inside an adapter folder", "blind export {a}/golden_local --task docqa --out {a}/adapter_copy/sheet", "inside adapter 'lora_r8'"),
    ("out folder", "gate: json onto the run's run.json", "gate {a}/golden --rules {a}/rules_ok.yaml --json {a}/golden/run.json", "an input of this gate"),
    ("out folder", "gate: junit onto the rules file", "gate {a}/golden --rules {a}/rules_ok.yaml --junit {a}/rules_ok.yaml", "an input of this gate"),
    ("out folder", "run: out holds only hidden files", RUN_REL + " --out {a}/dotfiles_only", "holds files that are not a run"),
    ("messages", "run: include-path task with an unknown YAML field", "run --base {model} --tasks capitals --include-path {a}/in_bad_task --out r --no-registry", "cannot build this task from its YAML"),
    ("out folder", "blind: a sheet already there", "blind export {a}/golden --task docqa --out {a}/sheet_done", "already holds a rating sheet"),
    ("messages", "run: adapter config is a JSON list", RUN_REL + " --adapter {a}/list_config --out r", "expected a JSON object of peft settings"),
    ("messages", "gate: not_degenerate asks for more classes than exist", "gate {a}/golden --rules {a}/rules_nine_classes.yaml", "has only 5 classes"),
    ("messages", "top: no command", "", "no command given"),
    ("out folder", "report: into its own run folder", "report {a}/golden_copy --format md", "wrote 1 file to", 0),
    ("out folder", "report: into the run's samples folder", "report {a}/golden_copy --out {a}/golden_copy/samples", "is inside the run directory"),
    ("messages", "report: an empty --format", "report {a}/golden_copy --format ,", "names no format"),
    ("inputs", "report: a run's samples cut after it ran", "report {a}/cut_samples --out cut_report", "cut or edited"),
    ("registry", "run: registry cannot be created", RUN_REL.replace(" --no-registry", "") + " --registry " + UNWRITABLE + "/reg.sqlite --out r", "harness registry --registry " + UNWRITABLE + "/reg.sqlite record", 0),
    ("registry", "registry: record a run", "registry --registry reg.sqlite record {a}/golden", "recorded run", 0),
    ("registry", "registry: record a folder that is not a run", "registry --registry reg.sqlite record {a}/empty_dir", "no run.json"),
]


def _write_assets(a: Path, model: Path, adapter: Path) -> None:
    """Every bad (and good) input the cases point at, written once."""
    a.mkdir()
    (a / "file.txt").write_text("not a folder\n")
    (a / "empty_dir").mkdir()
    cfg = (adapter / "adapter_config.json").read_text()
    weights = (adapter / "adapter_model.safetensors").read_bytes()
    for name, files in {
        "no_config": {"adapter_model.safetensors": weights},
        "bad_json": {"adapter_config.json": "{not json", "adapter_model.safetensors": weights},
        "no_peft_type": {"adapter_config.json": "{}", "adapter_model.safetensors": weights},
        "no_weights": {"adapter_config.json": cfg},
        "garbage": {"adapter_config.json": cfg, "adapter_model.safetensors": os.urandom(4096)},
        "truncated": {"adapter_config.json": cfg, "adapter_model.safetensors": b"\x01\x02\x03"},
        "pickled": {"adapter_config.json": cfg, "adapter_model.bin": b"\x80\x04pickle"},
    }.items():
        (a / name).mkdir()
        for f, content in files.items():
            (a / name / f).write_bytes(content if isinstance(content, bytes) else content.encode())
    # a header claiming far more bytes than the file has
    (a / "garbage" / "adapter_model.safetensors").write_bytes(struct.pack("<Q", 2**40) + b"{}")
    foreign_root = a / "foreign_src"
    base = build_tiny_llama(foreign_root / "base")
    from transformers import LlamaConfig, LlamaForCausalLM

    wide = LlamaConfig(**{**json.loads((base / "config.json").read_text()), "hidden_size": 96, "intermediate_size": 192,
                          "head_dim": 24})
    LlamaForCausalLM(wide).save_pretrained(foreign_root / "wide")
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(base / f, foreign_root / "wide" / f)
    build_adapter(foreign_root / "wide", a / "foreign")
    (a / "reviews.csv").write_text("label,text\n0,awful\n4,great\n2,fine\n")
    (a / "bad_label.csv").write_text("label,text\n0,awful\n9,great\n")
    (a / "empty.csv").write_text("")
    (a / "no_label.csv").write_text("stars,text\n1,awful\n")
    (a / "qa.csv").write_text("question,answer\nWhat is it?,A thing.\n")
    (a / "bad.jsonl").write_text('{"question": "q", "answer": ["a"]}\n{"question": broken\n')
    (a / "nq.jsonl").write_text('{"instruction": "who wrote it", "output": ["Ann", "Ann B."]}\n')
    (a / "docs").mkdir()
    (a / "docs" / "page.md").write_text("Some text to score.\n")
    for folder, answer in (("mmlu", "B"), ("bad_mmlu", "E")):
        (a / folder / "test").mkdir(parents=True)
        (a / folder / "test" / "x_test.csv").write_text(f"q?,a,b,c,d,{answer}\n")
    (a / "bad.yaml").write_text("rules: [unclosed\n")
    (a / "unknown_key.yaml").write_text(f"base: {model}\nlearning_rat: 0.1\n")
    rules = {
        "rules_mapping": {"rules": {"kind": "floor"}},
        "rules_kind": {"rules": [{"kind": "flor", "task": "yelp", "metric": "f1_macro", "value": 0.1}]},
        "rules_task": {"rules": [{"kind": "floor", "task": "yelpp", "metric": "f1_macro", "value": 0.1}]},
        "rules_metric": {"rules": [{"kind": "floor", "task": "yelp", "metric": "f1_macr", "value": 0.1}]},
        "rules_missing": {"rules": [{"kind": "floor", "task": "yelp", "metric": "f1_macro"}]},
        "rules_type": {"rules": [{"kind": "floor", "task": "yelp", "metric": "f1_macro", "value": "high"}]},
        "rules_noreg": {"rules": [{"kind": "no_regression", "task": "yelp", "metric": "f1_macro"}]},
        "rules_degenerate": {"rules": [{"kind": "not_degenerate", "task": "docqa"}]},
        "rules_ok": {"rules": [{"kind": "floor", "task": "yelp", "metric": "f1_macro", "value": 0.1}]},
    }
    for name, doc in rules.items():
        (a / f"{name}.yaml").write_text(json.dumps(doc))
    shutil.copytree(GOLDEN, a / "golden")
    shutil.copytree(GOLDEN, a / "cut_samples")  # run.json says 30 general_qa questions, the samples hold 25
    for path in (a / "cut_samples" / "samples").glob("*/general_qa.jsonl"):
        path.write_text("".join(path.read_text().splitlines(keepends=True)[:25]))
    for name, text in (("broken_run", "{not json"), ("old_schema_run", '{"schema": "harness.run/0"}')):
        (a / name).mkdir()
        (a / name / "run.json").write_text(text)
    other = json.loads((GOLDEN / "run.json").read_text())
    other["base"]["fingerprint"] = "sha256:" + "9" * 64
    shutil.copytree(GOLDEN, a / "other_base_run")
    (a / "other_base_run" / "run.json").write_text(json.dumps(other))
    (a / "done_run").mkdir()
    (a / "done_run" / "run.json").write_text('{"schema": "harness.run/1"}')
    (a / "corrupt.sqlite").write_bytes(b"garbage" * 100)
    from adapters_registry import Registry

    Registry(a / "registry.sqlite").close()
    (a / "other_train").mkdir()
    (a / "other_train" / "train_summary.json").write_text('{"schema": "harness.train/1", "config": {"seed": 99}}')
    (a / "other_train" / "adapter_config.json").write_text(cfg)


def _snapshot(root: Path) -> dict:
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        out[str(p.relative_to(root))] = (p.is_dir(), st.st_size if not p.is_dir() else 0, st.st_mtime_ns if not p.is_dir() else 0)
    return out


def all_cases() -> list[tuple]:
    """(class, id, argv, fragment, exit code) for every case: the unclassed ones take their command as class."""
    out = [(c[0].split(":")[0], *c[:3], c[3] if len(c) > 3 else 2) for c in CASES]
    out += [(c[0], *c[1:4], c[4] if len(c) > 4 else 2) for c in CLASSED]
    import corpus_cases_input

    out += [(c[0], *c[1:4], c[4] if len(c) > 4 else 2) for c in corpus_cases_input.CASES]
    return out


@pytest.fixture(scope="module")
def corpus_root(tmp_path_factory, tiny_model, tiny_adapters) -> Path:
    import corpus_cases_input

    root = tmp_path_factory.mktemp("corpus")
    _write_assets(root / "a", tiny_model, tiny_adapters[0])
    a = root / "a"
    (a / "user_files").mkdir()
    (a / "user_files" / "thesis.tex").write_text("my thesis\n")
    shutil.copytree(tiny_adapters[0], a / "adapter_copy")
    # the golden run as if it had read a real base folder and adapter: outputs derived from it must stay out of them
    shutil.copytree(GOLDEN, a / "golden_local")
    local = json.loads((GOLDEN / "run.json").read_text())
    local["base"]["source"] = str(tiny_model)
    local["arms"][1]["adapter"]["path"] = str(a / "adapter_copy")
    (a / "golden_local" / "run.json").write_text(json.dumps(local))
    (a / "list_config").mkdir()
    (a / "list_config" / "adapter_config.json").write_text("[1, 2]")
    shutil.copy(tiny_adapters[0] / "adapter_model.safetensors", a / "list_config")
    (a / "rules_nine_classes.yaml").write_text(json.dumps({"rules": [{"kind": "not_degenerate", "task": "yelp",
                                                                       "min_classes": 9}]}))
    (a / "sheet_done").mkdir()
    (a / "sheet_done" / "sheet.csv").write_text("item,preference\n1,A\n")
    (a / "dotfiles_only" / ".git").mkdir(parents=True)
    (a / "dotfiles_only" / ".env").write_text("TOKEN=secret\n")
    (a / "in_bad_task").mkdir()
    (a / "in_bad_task" / "capitals.yaml").write_text(
        (REPO / "examples" / "byo_task" / "capitals.yaml").read_text() + "foo_setting: 1\n")
    shutil.copytree(GOLDEN, root / "golden_copy")  # written to by a valid case, so outside the unchanged inputs
    corpus_cases_input.write_assets(a, tiny_model, tiny_adapters[0])
    return root


def _ws(root: Path, name: str) -> Path:
    return root / "ws" / name.replace(" ", "_").replace(":", "").replace("'", "").replace("/", "_")


# Each case runs the real CLI (harness.cli.app.main) in a process of its own, forked from a server that imported the
# libraries every command imports (lm-eval's task machinery, torch, transformers, peft) once: a case then costs its
# own work, not 1-5 s of imports (305 cases). The child gets the case's folder, environment and argv, its own stdout
# and stderr files, and exits with main()'s code, as `python -m harness` does.
SERVER = r"""
import gc, json, os, signal, sys
import harness.cli.app as app
import harness.engines.hf, harness.models.loading, lm_eval.tasks, peft, transformers  # noqa: F401
gc.freeze()  # the imported libraries' objects: a child's gc.collect() then scans only what its case made
for line in sys.stdin:
    req = json.loads(line)
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        signal.alarm(600)  # a hang fails the case (killed by SIGALRM) instead of the suite
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        for fd, path in ((1, req["stdout"]), (2, req["stderr"])):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
        sys.argv = ["harness", *req["argv"]]
        try:
            code = app.main(req["argv"])
        except SystemExit as e:  # argparse's usage errors
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        sys.stdout.flush()
        sys.stderr.flush()
        # what the interpreter's exit would close (SQLite connections, which then remove their WAL files), without
        # its slow teardown of every imported library
        gc.collect()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    print(json.dumps(os.waitstatus_to_exitcode(status)), flush=True)
"""


class ForkServer:
    def __init__(self, env: dict):
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env)

    def run(self, argv: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
        out, err = cwd.parent / f"{cwd.name}.stdout", cwd.parent / f"{cwd.name}.stderr"
        request = {"argv": argv, "cwd": str(cwd), "env": env, "stdout": str(out), "stderr": str(err)}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        code = json.loads(self.proc.stdout.readline())
        return subprocess.CompletedProcess(argv, code, out.read_text(), err.read_text())

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def _case_env(ws: Path) -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HARNESS_REGISTRY": str(ws / "default.sqlite"),
            "HARNESS_CACHE_DIR": str(ws / "cache"), "HOME": str(ws), "HARNESS_REGISTRY_WAIT": "1"}


def _run_case(case, root: Path, model: Path, adapter: Path, server: ForkServer):
    """Run one case from its own working folder, which holds what relative paths point at: adapter/ (a copy),
    linked -> adapter (a symlink) and reviews.csv. Returns (completed process, names present before the run)."""
    klass, name, argv, fragment, code = case
    ws = _ws(root, name)
    ws.mkdir(parents=True)
    shutil.copytree(adapter, ws / "adapter")
    (ws / "linked").symlink_to(ws / "adapter", target_is_directory=True)
    shutil.copy(root / "a" / "reviews.csv", ws / "reviews.csv")
    present = {p.name for p in ws.iterdir()}
    args = argv.replace("{a}/golden_copy", str(root / "golden_copy")).format(ws=ws, wsname=ws.name, a=root / "a", model=model, adapter=adapter, tasks=ENGINE_TASKS).split()
    import time

    t0 = time.perf_counter()
    r = server.run(args, ws, _case_env(ws))
    r.seconds = time.perf_counter() - t0
    return r, present


def _problems(case, r, ws: Path, present: set[str]) -> list[str]:
    klass, name, argv, fragment, code = case
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    problems = []
    if r.returncode != code:
        problems.append(f"exit {r.returncode}, expected {code}")
    if "Traceback" in r.stderr or "Traceback" in r.stdout:
        problems.append("traceback")
    if code == 0:
        if errors:
            problems.append(f"{len(errors)} error lines")
        fragment = fragment.replace("{ws}", str(ws))
        if fragment not in r.stdout + r.stderr:
            problems.append(f"output lacks {fragment!r}")
        return problems
    if len(errors) != 1:
        problems.append(f"{len(errors)} error lines")
    elif fragment not in errors[0]:
        problems.append(f"error line lacks {fragment!r}")
    # The one thing a failed command may leave: the base model's fingerprint memo in the cache (computed when the
    # base loads, before an adapter's shapes can be checked against it); it is reused, never a result.
    left = [p for p in ws.rglob("*") if p.relative_to(ws).parts[0] not in present
            and str(p.relative_to(ws)) not in ("cache", "cache/fingerprints.json")]
    if left:
        problems.append(f"left behind: {[str(p.relative_to(ws)) for p in left][:5]}")
    return problems


def test_corpus_is_large_and_covers_every_command():
    cases = all_cases()
    commands = {c[1].split(":")[0] for c in cases}
    assert len(cases) >= 200 and {"run", "train", "report", "gate", "registry", "demo", "blind"} <= commands
    assert len({c[1] for c in cases}) == len(cases), "two cases share an id"


@pytest.mark.slow
def test_bad_input_corpus(corpus_root, tiny_model, tiny_adapters):
    cases = all_cases()
    before = _snapshot(corpus_root / "a")
    model_before = _snapshot(tiny_model)
    home = corpus_root / "server-home"  # what the libraries read from HOME at import: a folder of the test's
    home.mkdir(exist_ok=True)
    servers = queue.Queue()
    for _ in range(2):
        servers.put(ForkServer({**_case_env(home), "TQDM_DISABLE": "1"}))

    def one(case):
        server = servers.get()
        try:
            return (case, *_run_case(case, corpus_root, tiny_model, tiny_adapters[0], server))
        finally:
            servers.put(server)

    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            outcomes = list(pool.map(one, cases))
    finally:
        while not servers.empty():
            servers.get().close()
    failures, tally = [], {}
    for case, r, present in outcomes:
        problems = _problems(case, r, _ws(corpus_root, case[1]), present)
        outcome = f"exit {r.returncode}" + (" (wrong)" if problems else "")
        tally.setdefault(case[0], {}).setdefault(outcome, 0)
        tally[case[0]][outcome] += 1
        if problems:
            failures.append(f"{case[1]}: {'; '.join(problems)} | "
                            f"{r.stderr.strip().splitlines()[-1:] if r.stderr.strip() else ''}")
    summary = "; ".join(f"{k}: " + ", ".join(f"{n} {o}" for o, n in sorted(v.items())) for k, v in sorted(tally.items()))
    print(f"\nbad-input corpus, {len(cases)} cases by class and outcome: {summary}")
    slowest = sorted(outcomes, key=lambda o: -o[1].seconds)[:12]
    print("slowest cases: " + "; ".join(f"{c[1]} {r.seconds:.1f}s" for c, r, _ in slowest))
    after = _snapshot(corpus_root / "a")
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert changed == [], f"input files or folders were changed: {changed[:10]}"
    assert _snapshot(tiny_model) == model_before, "the base model folder was changed"
    assert failures == [], "\n".join(failures)
