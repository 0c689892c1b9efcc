"""`harness train`: a LoRA / QLoRA adapter from peft + the transformers Trainer, configured well, not a new trainer.

Output folder: the adapter (adapter_config.json + adapter_model.safetensors), the tokenizer, training_log.csv,
TensorBoard events under tensorboard/, checkpoints/ (for resume), train_config.json (what this run is) and, once
finished, train_summary.json.
"""

from __future__ import annotations

import json
import resource
import shutil
import sys
import time
from pathlib import Path

from harness import results
from harness.errors import HarnessError
from harness.train_config import TrainConfig
from harness.training_log import overfitting_verdict, rows_from_history, to_csv

CONFIG_FILE = "train_config.json"
SUMMARY_FILE = "train_summary.json"
LOG_FILE = "training_log.csv"
CHECKPOINTS = "checkpoints"
# Files and folders a training run writes; --force removes these and nothing else.
_OWNED = ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin", "README.md", "tokenizer.json",
          "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja", CONFIG_FILE, SUMMARY_FILE,
          LOG_FILE, CHECKPOINTS, "tensorboard")
# Everything a training run may leave in --out (its tokenizer files vary by tokenizer type); anything else there is
# the user's, and a folder of the user's files is refused unless --force.
_WRITES = {*_OWNED, "vocab.json", "merges.txt", "tokenizer.model", "added_tokens.json", "vocab.txt", "spiece.model"}
# The attention projections of the architectures people fine-tune, by module name.
ATTENTION_NAMES = ("q_proj", "k_proj", "v_proj", "o_proj", "query_key_value", "c_attn", "Wqkv", "qkv_proj",
                   "q_lin", "k_lin", "v_lin", "out_lin", "query", "key", "value", "dense")


def _identity(cfg: TrainConfig, data_fingerprint: str) -> dict:
    return {"config": cfg.fingerprint_fields(), "data_fingerprint": data_fingerprint}


def _follow_umask(out: Path) -> None:
    """safetensors writes adapter_model.safetensors 0600 whatever the umask; the adapter is a file the user shares
    like any other, so its files get the mode every file the harness writes has (0644 under umask 022)."""
    import os

    mode = 0o666 & ~results._umask()
    for f in out.iterdir():
        if f.is_file() and f.name in _WRITES:
            os.chmod(f, mode)


def out_folder_problem(cfg: TrainConfig) -> str | None:
    """Why --out must not hold this training run (checked with the settings, before anything is imported): the
    current folder, inside the base model folder (never written to, --force or not), or a folder of the user's files
    without --force."""
    from harness.config import resolve_base
    from harness.paths import out_problem

    ref, _ = resolve_base(cfg.base)
    return out_problem(Path(cfg.out).expanduser(), "--out", owned=_WRITES, force=cfg.force, what="a training run",
                       protected={"the base model folder": Path(ref.source)} if ref and ref.local else {})


def check_out(cfg: TrainConfig, data_fingerprint: str) -> str | None:
    """'fresh', 'resume' (same run, interrupted), or a HarnessError when the folder holds something else."""
    out = Path(cfg.out).expanduser()
    if not out.exists():
        return "fresh"
    if not out.is_dir():
        raise HarnessError(f"--out {out}: is a file; give a folder for the adapter")
    if cfg.force:
        for name in _OWNED:
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        return "fresh"
    saved = out / CONFIG_FILE
    if saved.is_file():
        try:
            previous = json.loads(saved.read_text())
        except ValueError:
            previous = None
        if previous == _identity(cfg, data_fingerprint):
            if (out / SUMMARY_FILE).exists():
                raise HarnessError(f"--out {out}: this run already finished there ({out / SUMMARY_FILE}); "
                                   "pass --force to train it again")
            return "resume"
        raise HarnessError(f"--out {out}: holds a different training run's adapter (its {CONFIG_FILE} differs: "
                           "other settings or data); choose another --out or pass --force to replace it")
    if (out / "adapter_config.json").exists():
        raise HarnessError(f"--out {out}: holds an adapter that `harness train` did not make; choose another --out "
                           "or pass --force to replace it")
    return "fresh"


def linear_names(model) -> list[str]:
    import torch

    names = set()
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) or type(module).__name__ in ("Linear4bit", "Linear8bitLt"):
            names.add(name.rsplit(".", 1)[-1])
    return sorted(names - {"lm_head"})


def resolve_targets(model, wanted) -> list[str] | str:
    available = linear_names(model)
    if wanted == "all-linear":
        return "all-linear"
    if not wanted:
        found = [n for n in ATTENTION_NAMES if n in available]
        if not found:
            raise HarnessError(f"target_modules: found none of the usual attention projections; name them with "
                               f"--target-modules (this model's linear layers: {', '.join(available)})")
        return found
    missing = [m for m in wanted if m not in available]
    if missing:
        raise HarnessError(f"target_modules: {', '.join(missing)} not in this model; its linear layers are: "
                           f"{', '.join(available)} (or use all-linear)")
    return list(wanted)


def _precision(cfg: TrainConfig, device: str) -> tuple[bool, bool]:
    import torch

    if cfg.precision == "bf16":
        return True, False
    if cfg.precision == "fp16":
        return False, True
    if cfg.precision == "auto" and device.startswith("cuda"):
        return (True, False) if torch.cuda.is_bf16_supported() else (False, True)
    return False, False


def _latest_checkpoint(out: Path) -> str | None:
    ckpts = sorted((out / CHECKPOINTS).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return str(ckpts[-1]) if ckpts else None


def register(out: Path, registry) -> str | None:
    """Record the adapter just trained (name = folder name, suffixed with its fingerprint if taken elsewhere)."""
    from adapters_registry import adapter_entry
    from adapters_registry.recording import record_or_warn

    entry = adapter_entry(str(out))

    def add(reg) -> str:
        existing = reg.get(entry["name"])
        if existing and existing["path"] != entry["path"]:
            entry["name"] = f"{entry['name']}-{entry['fingerprint'][7:15]}"
        reg.add_adapter(entry, replace=True)
        return entry["name"]

    return record_or_warn(registry or None, add, f"the adapter in {out}",
                          f"harness registry add {out} --name {entry['name']}")


def one_line_progress(trainer, label: str) -> None:
    """Replace the Trainer's bar and per-step log dicts with one line on stderr, rewritten in place at every 5% of
    the steps (`      training: step 120/544`): for the demo, whose terminal should show stages, not logs. The
    numbers are still kept in training_log.csv."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback, TrainerCallback

    class OneLine(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            every = max(1, state.max_steps // 20)
            if state.global_step % every == 0 or state.global_step == state.max_steps:
                end = "\n" if state.global_step == state.max_steps else ""
                print(f"\r      {label}: step {state.global_step}/{state.max_steps}", end=end, file=sys.stderr,
                      flush=True)

    trainer.pop_callback(ProgressCallback)
    trainer.pop_callback(PrinterCallback)
    trainer.add_callback(OneLine)


def logs_to_stderr(trainer) -> None:
    """The Trainer writes a dict per logging step to stdout (through its progress bar); ours go to stderr with the
    bar, so that stdout carries results only (`harness train ... > summary.txt`, the demo's headline). The numbers
    are kept in training_log.csv and TensorBoard."""
    import contextlib

    from transformers.trainer_callback import ProgressCallback

    class StderrProgress(ProgressCallback):
        def on_log(self, *args, **kwargs):
            with contextlib.redirect_stdout(sys.stderr):  # tqdm.write picks sys.stdout at call time
                super().on_log(*args, **kwargs)

    if trainer.pop_callback(ProgressCallback) is not None:
        trainer.add_callback(StderrProgress)


def run(cfg: TrainConfig, callbacks: tuple = (), registry=None, quiet: bool = False) -> Path:
    """Train; `quiet` (the demo) shows one progress line instead of the Trainer's bar and log lines."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForSeq2Seq,
        EarlyStoppingCallback,
        Trainer,
        TrainingArguments,
    )
    from transformers.integrations import TensorBoardCallback

    from harness.config import default_cache_dir, resolve_base
    from harness.models import base_fingerprint, pick_device
    from harness.train_data import prepare

    out = Path(cfg.out).expanduser()
    ref, _ = resolve_base(cfg.base)
    device = pick_device(cfg.device)
    try:
        tok = AutoTokenizer.from_pretrained(ref.source, trust_remote_code=cfg.trust_remote_code)
    except OSError as e:  # offline, or a hub id that does not exist: say which flag and what to do
        first = (str(e).strip().splitlines() or [""])[0]
        raise HarnessError(f"--base {cfg.base}: cannot load its tokenizer from {ref.source} ({first}); give a local "
                           "model folder, or run once with network access so the hub model is in the cache") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    data = prepare(cfg, tok)  # bad data fails here, before the model loads
    state = check_out(cfg, data.fingerprint)

    bf16, fp16 = _precision(cfg, device)
    kwargs: dict = {"trust_remote_code": cfg.trust_remote_code}
    if cfg.load_in_4bit:
        from transformers import BitsAndBytesConfig

        compute = torch.bfloat16 if bf16 else (torch.float16 if fp16 else torch.float32)
        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                           bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=compute)
        kwargs["device_map"] = {"": device}
    model = AutoModelForCausalLM.from_pretrained(ref.source, **kwargs)
    if not cfg.load_in_4bit:
        model.to(device)
    targets = resolve_targets(model, cfg.target_modules)
    if cfg.load_in_4bit:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    elif cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    model = get_peft_model(model, LoraConfig(r=cfg.r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                                             target_modules=targets, bias="none", task_type="CAUSAL_LM"))

    out.mkdir(parents=True, exist_ok=True)
    results.write_json(out / CONFIG_FILE, _identity(cfg, data.fingerprint))
    has_eval = bool(data.eval)
    save_steps = cfg.eval_steps if cfg.early_stopping_patience else cfg.save_steps
    args = TrainingArguments(
        output_dir=str(out / CHECKPOINTS), per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size, gradient_accumulation_steps=cfg.gradient_accumulation,
        learning_rate=cfg.learning_rate, lr_scheduler_type=cfg.lr_scheduler, warmup_steps=cfg.warmup_ratio,
        num_train_epochs=cfg.epochs, max_steps=cfg.max_steps, weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm, logging_steps=cfg.logging_steps, save_steps=save_steps,
        save_total_limit=2, eval_strategy="steps" if has_eval else "no", eval_steps=cfg.eval_steps if has_eval else None,
        load_best_model_at_end=bool(cfg.early_stopping_patience), metric_for_best_model="eval_loss",
        greater_is_better=False, bf16=bf16, fp16=fp16, seed=cfg.seed, data_seed=cfg.seed,
        optim="paged_adamw_8bit" if cfg.load_in_4bit and device.startswith("cuda") else "adamw_torch",
        use_cpu=device == "cpu", report_to="none", remove_unused_columns=False,
        include_num_input_tokens_seen="non_padding", gradient_checkpointing=False,
    )
    from torch.utils.tensorboard import SummaryWriter

    extra = [TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(out / "tensorboard"))), *callbacks]
    if cfg.early_stopping_patience:
        extra.append(EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience))
    trainer = Trainer(model=model, args=args, train_dataset=data.train, eval_dataset=data.eval or None,
                      data_collator=DataCollatorForSeq2Seq(tok, label_pad_token_id=-100, padding=True),
                      callbacks=extra)
    one_line_progress(trainer, "training") if quiet else logs_to_stderr(trainer)
    resume = _latest_checkpoint(out) if state == "resume" else None
    if resume:
        print(f"resuming from {resume}", file=sys.stderr)
    t0 = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume)
    eval_loss = trainer.evaluate()["eval_loss"] if has_eval else None
    wall = time.perf_counter() - t0

    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    _follow_umask(out)
    rows = rows_from_history(trainer.state.log_history)
    results.atomic_write_text(out / LOG_FILE, to_csv(rows))
    train_losses = [r["loss"] for r in rows if "loss" in r]
    tokens = int(trainer.state.num_input_tokens_seen or 0)
    base_fp = base_fingerprint(ref, model, default_cache_dir())
    summary = {
        "schema": "harness.train/1",
        "config": cfg.to_json(),
        "base": {"name": ref.name, "source": ref.source, "fingerprint": base_fp},
        "target_modules": targets,
        "data": {"path": str(Path(cfg.data).expanduser().resolve()), "fingerprint": data.fingerprint, "rows": data.rows,
                 "train_examples": len(data.train), "eval_examples": len(data.eval), "truncated_prompts": data.truncated},
        "steps": trainer.state.global_step, "resumed_from": resume,
        "wall_s": round(wall, 3), "tokens": tokens, "tokens_per_s": round(tokens / wall, 1) if wall else None,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "peak_gpu_bytes": torch.cuda.max_memory_allocated() if device.startswith("cuda") else None,
        "final_train_loss": train_losses[-1] if train_losses else None,
        "final_eval_loss": eval_loss,
        "eval_perplexity": float(torch.exp(torch.tensor(eval_loss))) if eval_loss is not None else None,
        "overfitting": overfitting_verdict(rows, cfg.overfit_patience),
    }
    results.write_json(out / SUMMARY_FILE, summary)
    ev = f", eval loss {eval_loss:.4f} (perplexity {summary['eval_perplexity']:.2f})" if eval_loss is not None else ""
    tl = f"{summary['final_train_loss']:.4f}" if summary["final_train_loss"] is not None else "n/a"
    warn = "; OVERFITTING: " + summary["overfitting"]["reason"] if summary["overfitting"]["overfitting"] else ""
    name = register(out, registry) if registry is not False else None
    where = f"; registered as '{name}'" if name else ""
    print(f"trained {summary['steps']} steps in {wall:.1f}s ({summary['tokens_per_s']} tokens/s): train loss {tl}{ev}"
          f"{warn}; adapter in {out}{where}")
    return out

