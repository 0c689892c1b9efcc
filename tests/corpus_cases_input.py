"""Hostile input for the bad-input corpus (tests/test_bad_input_corpus.py): adapter configs and weights that lie,
YAML alias bombs, docqa documents that reach outside their folder, gate thresholds that are not numbers, baselines
that cannot be compared, nonsense training settings, empty rating sheets, damaged samples files and the messages
that used to blame the wrong thing.

CASES rows are (class, name, argv, fragment[, exit code]) in the corpus's format with a leading class label;
write_assets(a, model, adapter) writes the files they point at (every name starts with `in_`).
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "data" / "golden_run"

RUN = "run --base {model} --tasks tiny_gen --include-path {tasks} --limit 2 --cache-dir {ws}/cache --no-registry"
TRAIN = "train --base {model} --data {a}/in_reviews.csv --format yelp --out {ws}/t --no-registry"
DOCQA = ("run --base {model} --tasks docqa --data docqa={a}/in_qa_%s --data docqa_documents={a}/in_docs "
         "--out {ws}/r --no-registry")
GATE = "gate {a}/golden --rules {a}/%s"
OUTSIDE = "points outside the documents folder"

CASES = [
    # --- adapter config: wrong types or values in adapter_config.json, weights that do not match it ------------------
    ("adapter config", "run: adapter r is a string", RUN + " --adapter {a}/in_ad_r_string --out {ws}/r", "the LoRA rank must be a whole number"),
    ("adapter config", "run: adapter r is zero", RUN + " --adapter {a}/in_ad_r_zero --out {ws}/r", "'r' is 0"),
    ("adapter config", "run: adapter r is negative", RUN + " --adapter {a}/in_ad_r_negative --out {ws}/r", "'r' is -4"),
    ("adapter config", "run: adapter r is fractional", RUN + " --adapter {a}/in_ad_r_float --out {ws}/r", "'r' is 4.5"),
    ("adapter config", "run: adapter r is true", RUN + " --adapter {a}/in_ad_r_bool --out {ws}/r", "'r' is true"),
    ("adapter config", "run: adapter lora_alpha not a number", RUN + " --adapter {a}/in_ad_alpha_string --out {ws}/r", "'lora_alpha' is \"sixteen\""),
    ("adapter config", "run: adapter lora_alpha NaN", RUN + " --adapter {a}/in_ad_alpha_nan --out {ws}/r", "'lora_alpha' is NaN"),
    ("adapter config", "run: adapter lora_alpha zero", RUN + " --adapter {a}/in_ad_alpha_zero --out {ws}/r", "'lora_alpha' is 0"),
    ("adapter config", "run: adapter prefix tuning", RUN + " --adapter {a}/in_ad_prefix --out {ws}/r", "says peft_type PREFIX_TUNING, but the weights are LoRA matrices"),
    ("adapter config", "run: adapter IA3", RUN + " --adapter {a}/in_ad_ia3 --out {ws}/r", "says peft_type IA3, but the weights are LoRA matrices"),
    ("adapter config", "run: adapter types mixed", RUN + " --adapter {adapter} --adapter {a}/in_ad_prompt --out {ws}/r",
     "the adapters are of different peft types"),
    ("adapter config", "run: adapter peft_type typo", RUN + " --adapter {a}/in_ad_loraa --out {ws}/r", "did you mean LORA?"),
    ("adapter config", "run: adapter peft_type lower case", RUN + " --adapter {a}/in_ad_lower --out {ws}/r", "did you mean LORA?"),
    ("adapter config", "run: adapter peft_type a number", RUN + " --adapter {a}/in_ad_type_number --out {ws}/r", "peft_type 3 is not a peft adapter type"),
    ("adapter config", "run: adapter target_modules a number", RUN + " --adapter {a}/in_ad_targets_number --out {ws}/r", "'target_modules' is 5"),
    ("adapter config", "run: adapter target_modules empty list", RUN + " --adapter {a}/in_ad_targets_empty --out {ws}/r", "'target_modules' is []"),
    ("adapter config", "run: adapter target_modules bad regex", RUN + " --adapter {a}/in_ad_targets_regex --out {ws}/r", "not a valid regular expression"),
    ("adapter config", "run: adapter target_modules the base lacks", RUN + " --adapter {a}/in_ad_targets_typo --out {ws}/r", "which the base model has no module called"),
    ("adapter config", "run: adapter target_modules a block", RUN + " --adapter {a}/in_ad_targets_block --out {ws}/r", "is a block of layers"),
    ("adapter config", "run: adapter target_modules leave out weights", RUN + " --adapter {a}/in_ad_targets_short --out {ws}/r", "do not select model.layers.0.self_attn.q_proj"),
    ("adapter config", "run: adapter target regex matches nothing", RUN + " --adapter {a}/in_ad_targets_nomatch --out {ws}/r", "matches no module of the base model"),
    ("adapter config", "run: adapter lora_dropout above 1", RUN + " --adapter {a}/in_ad_dropout_high --out {ws}/r", "'lora_dropout' is 1.5"),
    ("adapter config", "run: adapter lora_dropout negative", RUN + " --adapter {a}/in_ad_dropout_negative --out {ws}/r", "'lora_dropout' is -0.1"),
    ("adapter config", "run: adapter lora_dropout a string", RUN + " --adapter {a}/in_ad_dropout_string --out {ws}/r", "'lora_dropout' is \"0.1\""),
    ("adapter config", "run: adapter rank_pattern rank zero", RUN + " --adapter {a}/in_ad_rank_pattern --out {ws}/r", "'rank_pattern' gives"),
    ("adapter config", "run: adapter modules_to_save a string", RUN + " --adapter {a}/in_ad_save_string --out {ws}/r", "'modules_to_save' is \"lm_head\""),
    ("adapter config", "run: adapter use_dora a string", RUN + " --adapter {a}/in_ad_dora_string --out {ws}/r", "'use_dora' is \"yes\""),
    ("adapter config", "run: adapter config r differs from weights", RUN + " --adapter {a}/in_ad_rank_mismatch --out {ws}/r", "says r=8 for"),
    ("adapter config", "run: adapter NaN weights", RUN + " --adapter {a}/in_ad_nan --out {ws}/r", "NaN or infinite values"),
    ("adapter config", "run: adapter infinite weights", RUN + " --adapter {a}/in_ad_inf --out {ws}/r", "NaN or infinite values"),
    ("adapter config", "run: adapter bf16 NaN weights", RUN + " --adapter {a}/in_ad_bf16_nan --out {ws}/r", "NaN or infinite values"),
    ("adapter config", "run: adapter all-zero A and B", RUN + " --adapter {a}/in_ad_all_zero --out {ws}/r", "every lora_A and lora_B weight is zero"),
    ("adapter config", "run: adapter tensor beyond the end", RUN + " --adapter {a}/in_ad_cut --out {ws}/r", "the file is truncated"),
    ("adapter config", "run: adapter no LoRA tensors", RUN + " --adapter {a}/in_ad_not_lora --out {ws}/r", "holds no LoRA weights"),
    ("adapter config", "registry: adapter registry add refuses NaN", "registry --registry {ws}/reg.sqlite add {a}/in_ad_nan --name x", "NaN or infinite values"),
    ("adapter config", "run: adapter untrained (zero B) only warns", RUN + " --adapter {a}/in_ad_zero_b --out {ws}/r", "every lora_B weight is zero", 0),
    # --- yaml bomb: alias expansion, loops, size and depth in gate rules and train configs ------------------------------
    ("yaml bomb", "gate: billion laughs in gate rules", GATE % "in_bomb_rules.yaml", "expands to more than"),
    ("yaml bomb", "train: billion laughs in train config", "train --config {a}/in_bomb_train.yaml --out {ws}/t --no-registry", "expands to more than"),
    ("yaml bomb", "train: mapping bomb in train config", "train --config {a}/in_bomb_mapping.yaml --out {ws}/t --no-registry", "expands to more than"),
    ("yaml bomb", "gate: merge-key bomb in gate rules", GATE % "in_bomb_merge.yaml", "expands to more than"),
    ("yaml bomb", "gate: alias loop in gate rules", GATE % "in_loop_rules.yaml", "a value that contains it"),
    ("yaml bomb", "train: alias loop in train config", "train --config {a}/in_loop_train.yaml --out {ws}/t --no-registry", "a value that contains it"),
    ("yaml bomb", "gate: huge gate rules file", GATE % "in_huge_rules.yaml", "larger than 1024 KB"),
    ("yaml bomb", "train: huge train config", "train --config {a}/in_huge_train.yaml --out {ws}/t --no-registry", "larger than 1024 KB"),
    ("yaml bomb", "gate: deeply nested rules", GATE % "in_deep_rules.yaml", "nested"),
    ("yaml bomb", "train: deeply nested train config", "train --config {a}/in_deep_train.yaml --out {ws}/t --no-registry", "nested"),
    ("yaml bomb", "gate: python tag in rules", GATE % "in_tag_rules.yaml", "not valid YAML"),
    ("yaml bomb", "gate: rules not UTF-8", GATE % "in_latin1_rules.yaml", "not UTF-8"),
    ("yaml bomb", "train: train config not UTF-8", "train --config {a}/in_latin1_train.yaml --out {ws}/t --no-registry", "not UTF-8"),
    ("yaml bomb", "gate: rules is a folder", GATE % "in_docs", "is a folder"),
    ("yaml bomb", "train: train config is a folder", "train --config {a}/in_docs --out {ws}/t --no-registry", "is a folder"),
    ("yaml bomb", "gate: rules is a pipe", GATE % "in_fifo/rules.yaml", "not a regular file"),
    ("yaml bomb", "train: train config a list", "train --config {a}/in_list_train.yaml --out {ws}/t --no-registry", "expected a mapping of setting"),
    ("yaml bomb", "gate: two documents in rules", GATE % "in_two_docs_rules.yaml", "not valid YAML"),
    # --- docqa documents: the document column may only name files inside --data docqa_documents ----------------------
    ("docqa documents", "run: docqa parent traversal", DOCQA % "parent.csv", OUTSIDE),
    ("docqa documents", "run: docqa absolute path", DOCQA % "absolute.csv", OUTSIDE),
    ("docqa documents", "run: docqa traversal through a guide", DOCQA % "guide.csv", OUTSIDE),
    ("docqa documents", "run: docqa traversal names the line", DOCQA % "parent.csv", "line 3, column 'document'"),
    ("docqa documents", "run: docqa traversal in JSONL", DOCQA % "parent.jsonl", OUTSIDE),
    ("docqa documents", "run: docqa symlinked file out", DOCQA % "link.csv", "outside the documents folder"),
    ("docqa documents", "run: docqa symlinked folder out", DOCQA % "linkdir.csv", "outside the documents folder"),
    ("docqa documents", "run: docqa NUL in the name", DOCQA % "nul.jsonl", "NUL character"),
    ("docqa documents", "run: docqa name too long", DOCQA % "long.csv", "cannot be looked up"),
    ("docqa documents", "run: docqa a folder named", DOCQA % "folder.csv", "not found under"),
    ("docqa documents", "run: docqa documents is a file", "run --base {model} --tasks docqa --data docqa={a}/in_qa_ok.csv "
     "--data docqa_documents={a}/in_qa_ok.csv --out {ws}/r --no-registry", "is a file, not a folder"),
    # --- gate rules: thresholds that are not finite numbers, and other values a rule cannot mean ----------------------
    ("gate rules", "gate: value NaN", GATE % "in_rules_nan.yaml", "'value' is nan"),
    ("gate rules", "gate: value infinite", GATE % "in_rules_inf.yaml", "'value' is inf"),
    ("gate rules", "gate: value minus infinity", GATE % "in_rules_ninf.yaml", "'value' is -inf"),
    ("gate rules", "gate: value overflows to infinity", GATE % "in_rules_overflow.yaml", "must be a finite number"),
    ("gate rules", "gate: value a huge integer", GATE % "in_rules_bigint.yaml", "must be a finite number"),
    ("gate rules", "gate: margin NaN", GATE % "in_rules_margin_nan.yaml", "'margin' is nan"),
    ("gate rules", "gate: budget infinite", GATE % "in_rules_budget_inf.yaml", "'budget' is inf"),
    ("gate rules", "gate: budget negative", GATE % "in_rules_budget_negative.yaml", "'budget' is -0.1"),
    ("gate rules", "gate: tolerance NaN", GATE % "in_rules_tolerance_nan.yaml" + " --baseline {a}/golden", "'tolerance' is nan"),
    ("gate rules", "gate: max_majority_share NaN", GATE % "in_rules_share_nan.yaml", "'max_majority_share' is nan"),
    ("gate rules", "gate: max_majority_share above 1", GATE % "in_rules_share_high.yaml", "a share in (0, 1]"),
    ("gate rules", "gate: min_classes zero", GATE % "in_rules_classes_zero.yaml", "whole number >= 1"),
    ("gate rules", "gate: kind a list", GATE % "in_rules_kind_list.yaml", "is not one of"),
    ("gate rules", "gate: name a list", GATE % "in_rules_name_list.yaml", "'name' must be a string"),
    ("gate rules", "gate: NaN with junit asked", GATE % "in_rules_nan.yaml" + " --junit {ws}/gate.xml", "'value' is nan"),
    # --- gate baseline: a no_regression rule needs the baseline to have scored the same thing -------------------------
    ("gate baseline", "gate: baseline lacks the task", GATE % "in_rules_noreg_docqa.yaml" + " --baseline {a}/in_base_no_docqa",
     "the baseline run has no score for docqa/rougeL"),
    ("gate baseline", "gate: baseline lacks the metric", GATE % "in_rules_noreg_docqa.yaml" + " --baseline {a}/in_base_no_rougeL",
     "the baseline run has no score for docqa/rougeL"),
    ("gate baseline", "gate: baseline lacks the metric for a glob", GATE % "in_rules_noreg_glob.yaml" + " --baseline {a}/in_base_no_rougeL",
     "no score for docqa/rougeL"),
    ("gate baseline", "gate: baseline lacks the arm", GATE % "in_rules_noreg_docqa.yaml" + " --baseline {a}/in_base_renamed",
     "the baseline has no arm 'lora_r8'"),
    ("gate baseline", "gate: baseline_arm unknown", GATE % "in_rules_noreg_barm.yaml" + " --baseline {a}/golden",
     "the baseline has no arm 'nobody'"),
    ("gate baseline", "gate: baseline lacks the task, json asked", GATE % "in_rules_noreg_docqa.yaml"
     + " --baseline {a}/in_base_no_docqa --json {ws}/gate.json", "no score for docqa/rougeL"),
    ("gate baseline", "gate: baseline run.json lacks a key", GATE % "in_rules_noreg_docqa.yaml" + " --baseline {a}/in_run_no_timing",
     "run.timing: missing"),
    ("gate baseline", "gate: same baseline passes", GATE % "in_rules_noreg_docqa.yaml" + " --baseline {a}/golden", "no_regression", 0),
    # --- train settings: values no training can mean ------------------------------------------------------------------
    ("train settings", "train: max-steps 0", TRAIN + " --max-steps 0", "max_steps 0: must be >= 1"),
    ("train settings", "train: max-steps negative", TRAIN + " --max-steps -5", "max_steps -5: must be >= 1"),
    ("train settings", "train: max_steps 0 in YAML", "train --config {a}/in_train_max_steps.yaml --out {ws}/t --no-registry", "max_steps 0"),
    ("train settings", "train: epochs 0", TRAIN + " --epochs 0", "epochs 0"),
    ("train settings", "train: epochs negative", TRAIN + " --epochs -1", "epochs -1.0: must be > 0"),
    ("train settings", "train: epochs NaN", TRAIN + " --epochs nan", "epochs nan: must be a finite number"),
    ("train settings", "train: learning rate 0", TRAIN + " --learning-rate 0", "learning_rate 0.0: must be > 0"),
    ("train settings", "train: learning rate negative", TRAIN + " --learning-rate -0.001", "learning_rate -0.001: must be > 0"),
    ("train settings", "train: learning rate NaN", TRAIN + " --learning-rate nan", "learning_rate nan: must be a finite number"),
    ("train settings", "train: learning rate infinite", TRAIN + " --learning-rate inf", "learning_rate inf: must be a finite number"),
    ("train settings", "train: eval fraction 0", TRAIN + " --eval-fraction 0", "eval_fraction 0.0: must be between 0 and 1"),
    ("train settings", "train: eval fraction 1", TRAIN + " --eval-fraction 1", "eval_fraction 1.0: must be between 0 and 1"),
    ("train settings", "train: eval fraction negative", TRAIN + " --eval-fraction -0.2", "eval_fraction -0.2"),
    ("train settings", "train: eval fraction NaN", TRAIN + " --eval-fraction nan", "eval_fraction nan: must be a finite number"),
    ("train settings", "train: batch size 0", TRAIN + " --batch-size 0", "batch_size 0: must be >= 1"),
    ("train settings", "train: gradient accumulation 0", TRAIN + " --gradient-accumulation 0", "gradient_accumulation 0"),
    ("train settings", "train: lora dropout 1", TRAIN + " --lora-dropout 1", "lora_dropout 1.0: must be in [0, 1)"),
    ("train settings", "train: lora dropout negative", TRAIN + " --lora-dropout -0.5", "lora_dropout -0.5"),
    ("train settings", "train: lora dropout NaN", TRAIN + " --lora-dropout nan", "lora_dropout nan"),
    ("train settings", "train: warmup ratio NaN", TRAIN + " --warmup-ratio nan", "warmup_ratio nan"),
    ("train settings", "train: weight decay negative", TRAIN + " --weight-decay -1", "weight_decay -1.0: must be >= 0"),
    ("train settings", "train: seed negative", TRAIN + " --seed -1", "seed -1"),
    ("train settings", "train: device typo", TRAIN + " --device gpu", "device 'gpu'"),
    ("train settings", "train: r fractional in YAML", "train --config {a}/in_train_r_float.yaml --out {ws}/t --no-registry", "'r': 4.5 is not a whole number"),
    ("train settings", "train: r infinite in YAML", "train --config {a}/in_train_r_inf.yaml --out {ws}/t --no-registry", "'r': inf is not a whole number"),
    ("train settings", "train: r true in YAML", "train --config {a}/in_train_r_bool.yaml --out {ws}/t --no-registry", "'r': True is not a whole number"),
    ("train settings", "train: target_modules a number in YAML", "train --config {a}/in_train_targets.yaml --out {ws}/t --no-registry", "'target_modules': 5"),
    ("train settings", "train: boolean not a boolean", "train --config {a}/in_train_bool.yaml --out {ws}/t --no-registry", "'load_in_4bit': 'maybe' is not true or false"),
    ("train settings", "train: scheduler a list", "train --config {a}/in_train_scheduler.yaml --out {ws}/t --no-registry", "'lr_scheduler': ['cosine'] is not a string"),
    ("train settings", "train: NUL in the eval data path", "train --config {a}/in_train_nul.yaml --out {ws}/t --no-registry", "contains a NUL character"),
    ("train settings", "train: numeric key in YAML", "train --config {a}/in_train_int_key.yaml --out {ws}/t --no-registry", "unknown setting '1'"),
    # --- blind: a rating sheet needs items; a key and a sheet must be what export wrote --------------------------------
    ("blind", "blind: n 0", "blind export {a}/golden --task docqa --n 0 --out {ws}/b", "--n 0: must be >= 1"),
    ("blind", "blind: n negative", "blind export {a}/golden --task docqa --n -3 --out {ws}/b", "--n -3: must be >= 1"),
    ("blind", "blind: n 0 into the run folder", "blind export {a}/golden --task docqa --n 0", "--n 0: must be >= 1"),
    ("blind", "blind: key without items", "blind score {a}/in_sheet_ok.csv {a}/in_key_bad.json", "not a key file"),
    ("blind", "blind: key not JSON", "blind score {a}/in_sheet_ok.csv {a}/in_sheet_ok.csv", "not a readable key file"),
    ("blind", "blind: sheet not UTF-8", "blind score {a}/in_sheet_latin1.csv {a}/in_key_ok.json", "not UTF-8"),
    ("blind", "blind: sheet empty", "blind score {a}/in_sheet_empty.csv {a}/in_key_ok.json", "no rated items"),
    ("blind", "blind: sheet without preference column", "blind score {a}/in_sheet_nopref.csv {a}/in_key_ok.json", "no rated items"),
    ("blind", "blind: item rated twice", "blind score {a}/in_sheet_twice.csv {a}/in_key_ok.json", "rated twice"),
    ("blind", "blind: sheet is a folder", "blind score {a}/in_docs {a}/in_key_ok.json", "is a folder"),
    ("blind", "blind: sheet missing", "blind score {ws}/nope.csv {a}/in_key_ok.json", "no such file"),
    ("blind", "blind: a good sheet scores", "blind score {a}/in_sheet_ok.csv {a}/in_key_ok.json", "wins", 0),
    # --- samples file: a damaged samples/<arm>/<task>.jsonl is refused, naming file and line, before anything is written
    ("samples file", "report: samples cut mid-line", "report {a}/in_run_cut --out {ws}/o", "line 40: cut off mid-line"),
    ("samples file", "report: samples cut mid-line, report into the run", "report {a}/in_run_cut", "cut off mid-line"),
    ("samples file", "report: samples non-JSON line", "report {a}/in_run_garbage --out {ws}/o", "line 3: not valid JSON"),
    ("samples file", "report: samples a JSON list line", "report {a}/in_run_list --out {ws}/o", "expected one JSON object per line"),
    ("samples file", "report: samples no doc_id", "report {a}/in_run_no_doc_id --out {ws}/o", "has no 'doc_id'"),
    ("samples file", "report: samples metrics not an object", "report {a}/in_run_bad_metrics --out {ws}/o", "'metrics' is not an object"),
    ("samples file", "report: samples not UTF-8", "report {a}/in_run_latin1 --out {ws}/o", "not UTF-8"),
    ("samples file", "report: samples a folder", "report {a}/in_run_samples_dir --out {ws}/o", "is a folder"),
    ("samples file", "report: samples second run damaged", "report {a}/golden {a}/in_run_cut --out {ws}/o", "cut off mid-line"),
    ("samples file", "report: samples only md asked", "report {a}/in_run_cut --out {ws}/o --format md", "cut off mid-line"),
    ("samples file", "blind: samples blind export", "blind export {a}/in_run_cut_docqa --task docqa --out {ws}/b", "cut off mid-line"),
    ("samples file", "gate: samples gate significance", GATE % "in_rules_noreg_sig.yaml" + " --baseline {a}/in_base_better_cut",
     "cut off mid-line"),
    # --- messages: say what is wrong, not something else ----------------------------------------------------------------
    ("messages", "run: data is a pipe", "run --base {model} --tasks yelp --data yelp={a}/in_fifo/reviews.csv --out {ws}/r --no-registry",
     "not a regular file"),
    ("messages", "run: corpus is a pipe", "run --base {model} --tasks perplexity --data perplexity={a}/in_fifo/corpus.txt "
     "--out {ws}/r --no-registry", "not a regular file"),
    ("messages", "run: subject file is a folder", "run --base {model} --tasks general_mc --data general_mc={a}/in_mmlu_dir "
     "--out {ws}/r --no-registry", "is a folder; give a text file"),
    ("messages", "run: subject file is a pipe", "run --base {model} --tasks general_mc --data general_mc={a}/in_mmlu_fifo "
     "--out {ws}/r --no-registry", "not a regular file"),
    ("messages", "run: docqa document a pipe", DOCQA % "pipe.csv", "is not a regular file"),
    ("messages", "report: run.json lacks timing", "report {a}/in_run_no_timing --out {ws}/o", "run.timing: missing (the required key 'timing'"),
    ("messages", "report: run.json lacks an adapter path", "report {a}/in_run_no_path --out {ws}/o", "arms[1].adapter.path: missing"),
    ("messages", "report: run.json base null", "report {a}/in_run_base_null --out {ws}/o", "run.base: expected an object, got null"),
    ("messages", "report: run.json value a string", "report {a}/in_run_value_string --out {ws}/o", "scores[0].value: expected a number, got a string"),
    ("messages", "report: run.json a list", "report {a}/in_run_list_json --out {ws}/o", "expected an object (with keys schema"),
    ("messages", "gate: gate on run.json lacking a key", GATE.replace("{a}/golden", "{a}/in_run_no_timing") % "in_rules_ok.yaml",
     "run.timing: missing"),
]

_LORA_A = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"


def _safetensors(tensors: dict[str, tuple[str, list[int], bytes]]) -> bytes:
    """A .safetensors file from {name: (dtype, shape, raw bytes)}."""
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    return struct.pack("<Q", len(head)) + head + b"".join(blobs)


def _read_safetensors(raw: bytes) -> dict[str, tuple[str, list[int], bytes]]:
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    return {k: (v["dtype"], v["shape"], data[v["data_offsets"][0]:v["data_offsets"][1]])
            for k, v in header.items() if k != "__metadata__"}


def _adapters(a: Path, adapter: Path) -> None:
    import numpy as np

    cfg = json.loads((adapter / "adapter_config.json").read_text())
    weights = (adapter / "adapter_model.safetensors").read_bytes()
    tensors = _read_safetensors(weights)

    def with_values(fn) -> bytes:
        out = {}
        for k, (dtype, shape, raw) in tensors.items():
            values = np.frombuffer(raw, dtype=np.float32).copy()
            out[k] = (dtype, shape, fn(k, values).astype(np.float32).tobytes())
        return _safetensors(out)

    def nan_first(k, v):
        if k == _LORA_A:
            v[3] = np.nan
        return v

    def inf_first(k, v):
        if k == _LORA_A:
            v[0] = -np.inf
        return v

    bf16 = {k: ("BF16", shape, (np.frombuffer(raw, dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16).tobytes())
            for k, (dtype, shape, raw) in tensors.items()}
    bf16[_LORA_A] = ("BF16", bf16[_LORA_A][1], b"\xc0\x7f" + bf16[_LORA_A][2][2:])  # 0x7FC0: a bfloat16 NaN
    configs = {
        "in_ad_r_string": {"r": "8"}, "in_ad_r_zero": {"r": 0}, "in_ad_r_negative": {"r": -4}, "in_ad_r_float": {"r": 4.5},
        "in_ad_r_bool": {"r": True}, "in_ad_alpha_string": {"lora_alpha": "sixteen"}, "in_ad_alpha_zero": {"lora_alpha": 0},
        "in_ad_prefix": {"peft_type": "PREFIX_TUNING"}, "in_ad_ia3": {"peft_type": "IA3"}, "in_ad_loraa": {"peft_type": "LORAA"},
        "in_ad_lower": {"peft_type": "lora"}, "in_ad_type_number": {"peft_type": 3},
        "in_ad_targets_number": {"target_modules": 5}, "in_ad_targets_empty": {"target_modules": []},
        "in_ad_targets_regex": {"target_modules": "(q_proj"}, "in_ad_targets_typo": {"target_modules": ["q_projj", "v_proj"]},
        "in_ad_targets_block": {"target_modules": ["self_attn"]}, "in_ad_targets_short": {"target_modules": ["v_proj"]},
        "in_ad_targets_nomatch": {"target_modules": r".*\.attention\.(wq|wv)"},
        "in_ad_dropout_high": {"lora_dropout": 1.5}, "in_ad_dropout_negative": {"lora_dropout": -0.1},
        "in_ad_dropout_string": {"lora_dropout": "0.1"}, "in_ad_rank_pattern": {"rank_pattern": {"q_proj": 0}},
        "in_ad_save_string": {"modules_to_save": "lm_head"}, "in_ad_dora_string": {"use_dora": "yes"},
        "in_ad_rank_mismatch": {"r": 8},
    }
    for folder, change in configs.items():
        (a / folder).mkdir()
        (a / folder / "adapter_config.json").write_text(json.dumps({**cfg, **change}))
        (a / folder / "adapter_model.safetensors").write_bytes(weights)
    (a / "in_ad_alpha_nan").mkdir()
    (a / "in_ad_alpha_nan" / "adapter_config.json").write_text(json.dumps(cfg).replace('"lora_alpha": 8', '"lora_alpha": NaN'))
    (a / "in_ad_alpha_nan" / "adapter_model.safetensors").write_bytes(weights)
    assert "NaN" in (a / "in_ad_alpha_nan" / "adapter_config.json").read_text()
    for folder, blob in {
        "in_ad_nan": with_values(nan_first),
        "in_ad_inf": with_values(inf_first),
        "in_ad_bf16_nan": _safetensors(bf16),
        "in_ad_all_zero": with_values(lambda k, v: v * 0),
        "in_ad_zero_b": with_values(lambda k, v: v * 0 if "lora_B" in k else v),
        "in_ad_cut": weights[:-64],
        "in_ad_not_lora": _safetensors({"model.embed_tokens.weight": ("F32", [2, 2], b"\0" * 16)}),
    }.items():
        (a / folder).mkdir()
        (a / folder / "adapter_config.json").write_text(json.dumps(cfg))
        (a / folder / "adapter_model.safetensors").write_bytes(blob)
    (a / "in_ad_prompt").mkdir()  # a genuine prompt-tuning adapter: fine alone, not beside a LoRA one
    (a / "in_ad_prompt" / "adapter_config.json").write_text(json.dumps(
        {"peft_type": "PROMPT_TUNING", "task_type": "CAUSAL_LM", "num_virtual_tokens": 4, "token_dim": 64}))
    (a / "in_ad_prompt" / "adapter_model.safetensors").write_bytes(
        _safetensors({"prompt_embeddings": ("F32", [4, 64], np.ones(256, dtype=np.float32).tobytes())}))


def _bomb(levels: int = 9, width: int = 9, mapping: bool = False) -> str:
    text = "a: &a [" + ", ".join(['"lol"'] * width) + "]\n"
    prev = "a"
    for i in range(1, levels):
        name = chr(ord("a") + i)
        if mapping:
            text += f"{name}: &{name} {{" + ", ".join(f"k{j}: *{prev}" for j in range(width)) + "}\n"
        else:
            text += f"{name}: &{name} [" + ", ".join([f"*{prev}"] * width) + "]\n"
        prev = name
    return text


def _yaml(a: Path) -> None:
    rule = '  - {kind: floor, task: yelp, metric: f1_macro, value: 0.1}\n'
    (a / "in_bomb_rules.yaml").write_text(_bomb() + "rules:\n" + rule + "  - *i\n")
    (a / "in_bomb_train.yaml").write_text(_bomb() + "r: 8\n")
    (a / "in_bomb_mapping.yaml").write_text(_bomb(mapping=True) + "r: 8\n")
    merge = "a: &a {" + ", ".join(f"k{j}: [1, 2, 3, 4, 5, 6, 7, 8]" for j in range(10)) + "}\n"
    prev = "a"
    for i in range(1, 9):
        name = chr(ord("a") + i)
        merge += f"{name}: &{name} {{ <<: *{prev}, x{i}: [" + ", ".join([f"*{prev}"] * 9) + "] }\n"
        prev = name
    (a / "in_bomb_merge.yaml").write_text(merge + "rules:\n" + rule)
    (a / "in_loop_rules.yaml").write_text("rules: &r\n  - {kind: floor, task: yelp, metric: f1_macro, value: 0.1}\n  - *r\n")
    (a / "in_loop_train.yaml").write_text("target_modules: &t [q_proj, *t]\n")
    (a / "in_huge_rules.yaml").write_text("rules:\n" + rule + ("# padding\n" * 120_000))
    (a / "in_huge_train.yaml").write_text("r: 8\n" + ("# padding\n" * 120_000))
    (a / "in_deep_rules.yaml").write_text("rules: " + "[" * 3000 + "]" * 3000 + "\n")
    (a / "in_deep_train.yaml").write_text("target_modules: " + "[" * 300 + "]" * 300 + "\n")
    (a / "in_tag_rules.yaml").write_text("rules: !!python/object/apply:os.system ['true']\n")
    (a / "in_latin1_rules.yaml").write_bytes("rules:\n  - {kind: floor, task: yelp, metric: f1_macro, value: 0.1, name: caf\u00e9}\n".encode("latin-1"))
    (a / "in_latin1_train.yaml").write_bytes("# r\u00e9glages\nr: 8\n".encode("latin-1"))
    (a / "in_list_train.yaml").write_text("- r: 8\n- lora_alpha: 16\n")
    (a / "in_two_docs_rules.yaml").write_text("rules:\n" + rule + "---\nrules: []\n")


def _docqa(a: Path) -> None:
    docs = a / "in_docs"
    (docs / "guide" / "doc_source").mkdir(parents=True)
    (docs / "page.md").write_text("The widget turns on with the red button.\n")
    (docs / "guide" / "doc_source" / "setup.md").write_text("Plug it in first.\n")
    (docs / "a_folder.md").mkdir()
    os.mkfifo(docs / "pipe.md")
    (a / "in_secret").mkdir()
    (a / "in_secret" / "secret.md").write_text("the password is hunter2\n")
    (docs / "linked.md").symlink_to(a / "in_secret" / "secret.md")
    (docs / "linkdir").symlink_to(a / "in_secret", target_is_directory=True)
    header = "question,answer,document\nHow do I turn it on?,The red button.,page.md\n"
    for name, document in {
        "parent.csv": "../in_secret/secret.md", "absolute.csv": str(a / "in_secret" / "secret.md"),
        "guide.csv": "guide/../../in_secret/secret.md", "link.csv": "linked.md", "linkdir.csv": "linkdir/secret.md",
        "long.csv": "x" * 300 + ".md", "folder.csv": "a_folder.md", "pipe.csv": "pipe.md",
    }.items():
        (a / f"in_qa_{name}").write_text(header + f"What is the password?,hunter2,{document}\n")
    (a / "in_qa_ok.csv").write_text(header)
    rows = [{"question": "How do I turn it on?", "answer": "The red button.", "document": "page.md"},
            {"question": "What is the password?", "answer": "hunter2", "document": "../in_secret/secret.md"}]
    (a / "in_qa_parent.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    rows[1]["document"] = "page.md\u0000../../etc/passwd"
    (a / "in_qa_nul.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _rules(a: Path) -> None:
    floor = "rules:\n  - kind: floor\n    task: yelp\n    metric: f1_macro\n    value: %s\n"
    for name, value in (("nan", ".nan"), ("inf", ".inf"), ("ninf", "-.inf"), ("overflow", "1.0e+999"), ("bigint", "1" + "0" * 400)):
        (a / f"in_rules_{name}.yaml").write_text(floor % value)
    docs = {
        "in_rules_margin_nan": [{"kind": "improves", "task": "yelp", "metric": "f1_macro", "margin": ".nan"}],
        "in_rules_budget_inf": [{"kind": "forgetting", "task": "general_qa", "metric": "f1", "budget": ".inf"}],
        "in_rules_budget_negative": [{"kind": "forgetting", "task": "general_qa", "metric": "f1", "budget": "-0.1"}],
        "in_rules_tolerance_nan": [{"kind": "no_regression", "task": "yelp", "metric": "f1_macro", "tolerance": ".nan"}],
        "in_rules_share_nan": [{"kind": "not_degenerate", "task": "yelp", "max_majority_share": ".nan"}],
        "in_rules_share_high": [{"kind": "not_degenerate", "task": "yelp", "max_majority_share": "1.5"}],
        "in_rules_classes_zero": [{"kind": "not_degenerate", "task": "yelp", "min_classes": "0"}],
        "in_rules_kind_list": [{"kind": "[floor]", "task": "yelp", "metric": "f1_macro", "value": "0.1"}],
        "in_rules_name_list": [{"kind": "floor", "task": "yelp", "metric": "f1_macro", "value": "0.1", "name": "[a, b]"}],
        # the same run as its own baseline at n = 12: a 95% CI of about +-0.24, so a tolerance of 0.3 passes
        "in_rules_noreg_docqa": [{"kind": "no_regression", "task": "docqa", "metric": "rougeL", "arm": "lora_r8",
                                  "tolerance": 0.3}],
        "in_rules_noreg_glob": [{"kind": "no_regression", "task": "docqa", "metric": "rouge*", "arm": "lora_r8",
                                 "tolerance": 0.3}],
        "in_rules_noreg_barm": [{"kind": "no_regression", "task": "docqa", "metric": "rougeL", "baseline_arm": "nobody",
                                 "tolerance": 0.3}],
        "in_rules_noreg_sig": [{"kind": "no_regression", "task": "yelp", "metric": "f1_macro", "arm": "lora_r8",
                                "tolerance": 0.1}],
        "in_rules_ok": [{"kind": "floor", "task": "yelp", "metric": "f1_macro", "value": "0.1"}],
    }
    for name, rules in docs.items():  # YAML flow style, values unquoted (.nan is YAML's NaN)
        body = "".join("  - {" + ", ".join(f"{k}: {v}" for k, v in r.items()) + "}\n" for r in rules)
        (a / f"{name}.yaml").write_text("rules:\n" + body)


def _golden_copy(a: Path, name: str, edit=None) -> Path:
    d = a / name
    shutil.copytree(GOLDEN, d)
    if edit is not None:
        run = json.loads((d / "run.json").read_text())
        edit(run)
        (d / "run.json").write_text(json.dumps(run))
    return d


def _runs(a: Path) -> None:
    def drop_docqa(run):
        run["tasks"].pop("docqa")
        run["scores"] = [s for s in run["scores"] if s["task"] != "docqa"]
        run["comparisons"] = [c for c in run["comparisons"] if c["task"] != "docqa"]

    def drop_rouge_l(run):
        run["scores"] = [s for s in run["scores"] if s["metric"] != "rougeL"]

    def rename_arms(run):
        names = {"lora_r8": "x8", "lora_r16": "x16"}
        for arm in run["arms"]:
            arm["name"] = names.get(arm["name"], arm["name"])
        for rows in (run["scores"], run["comparisons"], run.get("diagnostics") or []):
            for r in rows:
                r["arm"] = names.get(r["arm"], r["arm"])

    def better(run):
        for s in run["scores"]:
            if (s["task"], s["metric"]) == ("yelp", "f1_macro"):
                s["value"] += 0.5

    _golden_copy(a, "in_base_no_docqa", drop_docqa)
    _golden_copy(a, "in_base_no_rougeL", drop_rouge_l)
    _golden_copy(a, "in_base_renamed", rename_arms)
    cut = _golden_copy(a, "in_base_better_cut", better)
    f = cut / "samples" / "lora_r8" / "yelp.jsonl"
    f.write_bytes(f.read_bytes()[:-40])
    _golden_copy(a, "in_run_no_timing", lambda r: r.pop("timing"))
    _golden_copy(a, "in_run_no_path", lambda r: r["arms"][1]["adapter"].pop("path"))
    _golden_copy(a, "in_run_base_null", lambda r: r.update(base=None))
    _golden_copy(a, "in_run_value_string", lambda r: r["scores"][0].update(value="0.5"))
    (a / "in_run_list_json").mkdir()
    (a / "in_run_list_json" / "run.json").write_text("[]")

    def damage(name: str, arm: str, task: str, fn) -> None:
        d = _golden_copy(a, name)
        f = d / "samples" / arm / f"{task}.jsonl"
        fn(f)

    def lines(f: Path) -> list[str]:
        return f.read_text().splitlines(keepends=True)

    damage("in_run_cut", "lora_r16", "yelp", lambda f: f.write_bytes(f.read_bytes()[:-40]))
    damage("in_run_cut_docqa", "lora_r8", "docqa", lambda f: f.write_bytes(f.read_bytes()[:-25]))
    damage("in_run_garbage", "base", "yelp", lambda f: f.write_text("".join(lines(f)[:2]) + "<<<<<<< HEAD\n" + "".join(lines(f)[2:])))
    damage("in_run_list", "base", "docqa", lambda f: f.write_text("[1, 2]\n" + f.read_text()))
    damage("in_run_no_doc_id", "lora_r8", "yelp", lambda f: f.write_text('{"doc_hash": "y0", "metrics": {}}\n' + f.read_text()))
    damage("in_run_bad_metrics", "lora_r8", "yelp", lambda f: f.write_text('{"doc_id": 99, "metrics": [1]}\n' + f.read_text()))
    damage("in_run_latin1", "base", "perplexity", lambda f: f.write_bytes(f.read_bytes() + '{"doc_id": "caf\u00e9"}\n'.encode("latin-1")))

    def to_dir(f: Path) -> None:
        f.unlink()
        f.mkdir()

    damage("in_run_samples_dir", "base", "general_qa", to_dir)


def _blind(a: Path) -> None:
    key = {"run_id": "x", "task": "docqa", "adapter": "lora_r8", "items": {"1": {"adapter": "A", "doc_id": 0},
                                                                             "2": {"adapter": "B", "doc_id": 1}}}
    (a / "in_key_ok.json").write_text(json.dumps(key))
    (a / "in_key_bad.json").write_text(json.dumps({"task": "docqa", "adapter": "lora_r8"}))
    head = "item,prompt,reference,answer_A,answer_B,preference\n"
    (a / "in_sheet_ok.csv").write_text(head + "1,p,r,x,y,A\n2,p,r,x,y,tie\n")
    (a / "in_sheet_latin1.csv").write_bytes((head + "1,caf\u00e9,r,x,y,A\n").encode("latin-1"))
    (a / "in_sheet_empty.csv").write_text("")
    (a / "in_sheet_nopref.csv").write_text("item,prompt\n1,p\n")
    (a / "in_sheet_twice.csv").write_text(head + "1,p,r,x,y,A\n1,p,r,x,y,B\n")


def _data(a: Path) -> None:
    (a / "in_reviews.csv").write_text("label,text\n0,awful\n4,great\n2,fine\n1,bad\n3,good\n")
    fifo = a / "in_fifo"
    fifo.mkdir()
    for name in ("reviews.csv", "corpus.txt", "rules.yaml"):
        os.mkfifo(fifo / name)
    (a / "in_mmlu_dir" / "test" / "x_test.csv").mkdir(parents=True)
    (a / "in_mmlu_fifo" / "test").mkdir(parents=True)
    os.mkfifo(a / "in_mmlu_fifo" / "test" / "x_test.csv")
    for name, text in {
        "in_train_max_steps": "max_steps: 0\n", "in_train_r_float": "r: 4.5\n", "in_train_r_inf": "r: .inf\n",
        "in_train_r_bool": "r: true\n", "in_train_targets": "target_modules: 5\n", "in_train_bool": "load_in_4bit: maybe\n",
        "in_train_scheduler": "lr_scheduler: [cosine]\n", "in_train_int_key": "1: 2\n",
        "in_train_nul": 'eval_data: "reviews\\0.csv"\n',
    }.items():
        base = "base: {model}\ndata: {data}\nformat: yelp\n"
        (a / f"{name}.yaml").write_text(base.format(model="MODEL", data=a / "in_reviews.csv") + text)


def write_assets(a: Path, model: Path, adapter: Path) -> None:
    """Every file the CASES above point at, under `a` (which holds the corpus's own assets already)."""
    _data(a)
    for f in a.glob("in_train_*.yaml"):
        f.write_text(f.read_text().replace("MODEL", str(model)))
    _adapters(a, adapter)
    _yaml(a)
    _docqa(a)
    _rules(a)
    _runs(a)
    _blind(a)
