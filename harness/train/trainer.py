"""`harness train`: a LoRA / QLoRA adapter from peft + the transformers Trainer, configured well, not a new trainer.

Output folder: the adapter (adapter_config.json + adapter_model.safetensors), the tokenizer, training_log.csv,
TensorBoard events under tensorboard/, checkpoints/checkpoint-STEP every save_steps (every one kept unless
save_total_limit says otherwise: for resume and checkpoint sweeps), train_config.json (what this run is) and, once
finished, train_summary.json.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

from harness.core import results
from harness.models.refs import resolve_base
from harness.train.config import TrainConfig
from harness.train.data import Prepared, prepare
from harness.train.log import overfitting_verdict, rows_from_history, to_csv
from harness.train.model import load_lora_model, load_tokenizer, precision
from harness.train.outdir import (
    CHECKPOINTS,
    CONFIG_FILE,
    LOG_FILE,
    SUMMARY_FILE,
    check_out,
    follow_umask,
    latest_checkpoint,
)


def _identity(cfg: TrainConfig, data_fingerprint: str) -> dict:
    return {"config": cfg.fingerprint_fields(), "data_fingerprint": data_fingerprint}


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
    from harness.models.loading import pick_device  # imports torch: only once a run starts

    out = Path(cfg.out).expanduser()
    ref, _ = resolve_base(cfg.base)
    device = pick_device(cfg.device)
    tok = load_tokenizer(cfg, ref.source)
    data = prepare(cfg, tok)  # bad data fails here, before the model loads
    identity = _identity(cfg, data.fingerprint)
    state = check_out(out, cfg.force, identity)
    model, targets = load_lora_model(cfg, ref.source, device)
    out.mkdir(parents=True, exist_ok=True)
    results.write_json(out / CONFIG_FILE, identity)
    trainer = _build_trainer(cfg, out, device, model, tok, data, callbacks)
    one_line_progress(trainer, "training") if quiet else logs_to_stderr(trainer)
    resume = latest_checkpoint(out) if state == "resume" else None
    eval_loss, wall = _train(trainer, resume, evaluate=bool(data.eval))
    rows = _save(out, model, tok, trainer)
    summary = _summary(cfg, ref, device, model, targets, data, trainer, rows, resume=resume, wall=wall,
                       eval_loss=eval_loss)
    results.write_json(out / SUMMARY_FILE, summary)
    name = register(out, registry) if registry is not False else None
    print(_summary_line(summary, out, name, wall))
    return out


def _training_args(cfg: TrainConfig, out: Path, device: str, has_eval: bool):
    from transformers import TrainingArguments

    bf16, fp16 = precision(cfg, device)
    # Early stopping restores the best checkpoint, so there must be one at every evaluation.
    save_steps = cfg.eval_steps if cfg.early_stopping_patience else cfg.save_steps
    return TrainingArguments(
        output_dir=str(out / CHECKPOINTS), per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size, gradient_accumulation_steps=cfg.gradient_accumulation,
        learning_rate=cfg.learning_rate, lr_scheduler_type=cfg.lr_scheduler, warmup_steps=cfg.warmup_ratio,
        num_train_epochs=cfg.epochs, max_steps=cfg.max_steps, weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm, logging_steps=cfg.logging_steps, save_steps=save_steps,
        save_total_limit=cfg.save_total_limit,  # None: every checkpoint stays (a sweep of the run needs them)
        eval_strategy="steps" if has_eval else "no", eval_steps=cfg.eval_steps if has_eval else None,
        load_best_model_at_end=bool(cfg.early_stopping_patience), metric_for_best_model="eval_loss",
        greater_is_better=False, bf16=bf16, fp16=fp16, seed=cfg.seed, data_seed=cfg.seed,
        optim="paged_adamw_8bit" if cfg.load_in_4bit and device.startswith("cuda") else "adamw_torch",
        use_cpu=device == "cpu", report_to="none", remove_unused_columns=False,
        include_num_input_tokens_seen="non_padding", gradient_checkpointing=False,
    )


def _build_trainer(cfg: TrainConfig, out: Path, device: str, model, tok, data: Prepared, callbacks: tuple):
    """The Trainer with TensorBoard events under out/tensorboard, early stopping when asked, and the caller's
    callbacks."""
    from torch.utils.tensorboard import SummaryWriter
    from transformers import DataCollatorForSeq2Seq, EarlyStoppingCallback, Trainer
    from transformers.integrations import TensorBoardCallback

    args = _training_args(cfg, out, device, has_eval=bool(data.eval))
    extra = [TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(out / "tensorboard"))), *callbacks]
    if cfg.early_stopping_patience:
        extra.append(EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience))
    return Trainer(model=model, args=args, train_dataset=data.train, eval_dataset=data.eval or None,
                   data_collator=DataCollatorForSeq2Seq(tok, label_pad_token_id=-100, padding=True),
                   callbacks=extra)


def _train(trainer, resume: str | None, evaluate: bool) -> tuple[float | None, float]:
    """(final eval loss or None, wall seconds), the final evaluation included in the time."""
    if resume:
        print(f"resuming from {resume}", file=sys.stderr)
    t0 = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume)
    eval_loss = trainer.evaluate()["eval_loss"] if evaluate else None
    return eval_loss, time.perf_counter() - t0


def _save(out: Path, model, tok, trainer) -> list[dict]:
    """Write the adapter, its tokenizer and training_log.csv; the log's rows are the summary's input too."""
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    follow_umask(out)
    rows = rows_from_history(trainer.state.log_history)
    results.atomic_write_text(out / LOG_FILE, to_csv(rows))
    return rows


def _summary(cfg: TrainConfig, ref, device: str, model, targets, data: Prepared, trainer, rows: list[dict], *,
             resume: str | None, wall: float, eval_loss: float | None) -> dict:
    import torch

    from harness.core.paths import default_cache_dir
    from harness.models.loading import base_fingerprint

    train_losses = [r["loss"] for r in rows if "loss" in r]
    tokens = int(trainer.state.num_input_tokens_seen or 0)
    base_fp = base_fingerprint(ref, model, default_cache_dir())
    return {
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


def _summary_line(summary: dict, out: Path, name: str | None, wall: float) -> str:
    """The one line `harness train` prints on stdout (stdout carries results only)."""
    eval_loss = summary["final_eval_loss"]
    ev = f", eval loss {eval_loss:.4f} (perplexity {summary['eval_perplexity']:.2f})" if eval_loss is not None else ""
    tl = f"{summary['final_train_loss']:.4f}" if summary["final_train_loss"] is not None else "n/a"
    verdict = summary["overfitting"]
    warn = "; OVERFITTING: " + verdict["reason"] if verdict["overfitting"] else ""
    if verdict.get("recovered"):
        warn = (f"; eval loss rose at steps {verdict['rise']['from_step']}-{verdict['rise']['to_step']} and recovered "
                "(not overfitting)")
    where = f"; registered as '{name}'" if name else ""
    return (f"trained {summary['steps']} steps in {wall:.1f}s ({summary['tokens_per_s']} tokens/s): train loss {tl}{ev}"
            f"{warn}; adapter in {out}{where}")
