"""The tokenizer and base model of a training run, with LoRA on the modules it targets (torch, transformers and peft
are imported only when a run loads them, so validating settings stays fast)."""

from __future__ import annotations

from harness.core.errors import HarnessError, first_line
from harness.train.config import TrainConfig

# The attention projections of the architectures people fine-tune, by module name.
ATTENTION_NAMES = ("q_proj", "k_proj", "v_proj", "o_proj", "query_key_value", "c_attn", "Wqkv", "qkv_proj",
                   "q_lin", "k_lin", "v_lin", "out_lin", "query", "key", "value", "dense")


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


def precision(cfg: TrainConfig, device: str) -> tuple[bool, bool]:
    """(bf16, fp16) for the Trainer: 'auto' is bf16 on a CUDA device that has it, fp16 on one that does not."""
    import torch

    if cfg.precision == "bf16":
        return True, False
    if cfg.precision == "fp16":
        return False, True
    if cfg.precision == "auto" and device.startswith("cuda"):
        return (True, False) if torch.cuda.is_bf16_supported() else (False, True)
    return False, False


def load_tokenizer(cfg: TrainConfig, source: str):
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(source, trust_remote_code=cfg.trust_remote_code)
    except OSError as e:  # offline, or a hub id that does not exist: say which flag and what to do
        first = first_line(e, empty="")
        raise HarnessError(f"--base {cfg.base}: cannot load its tokenizer from {source} ({first}); give a local "
                           "model folder, or run once with network access so the hub model is in the cache") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_lora_model(cfg: TrainConfig, source: str, device: str):
    """(peft model, target modules): the base on `device` (4-bit if asked), LoRA on the targets."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM

    bf16, fp16 = precision(cfg, device)
    kwargs: dict = {"trust_remote_code": cfg.trust_remote_code}
    if cfg.load_in_4bit:
        from harness.models.quant import nf4_config

        kwargs["quantization_config"] = nf4_config(torch.bfloat16 if bf16 else (torch.float16 if fp16 else torch.float32))
        kwargs["device_map"] = {"": device}
    model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    if not cfg.load_in_4bit:
        model.to(device)
    targets = resolve_targets(model, cfg.target_modules)
    if cfg.load_in_4bit:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    elif cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    # Seeded here, not only in TrainingArguments (which seeds when the Trainer is built, after this): LoRA's A
    # matrices are drawn now, and the same command must give the same adapter.
    from transformers import set_seed

    set_seed(cfg.seed)
    model = get_peft_model(model, LoraConfig(r=cfg.r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                                             target_modules=targets, bias="none", task_type="CAUSAL_LM"))
    return model, targets
