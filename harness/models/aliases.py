"""Short names for the base models people fine-tune most; `harness models` prints this table."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Alias:
    name: str
    hub_id: str
    note: str


ALIASES: dict[str, Alias] = {
    a.name: a
    for a in [
        Alias("qwen2.5-0.5b", "Qwen/Qwen2.5-0.5B", "base"),
        Alias("qwen2.5-0.5b-instruct", "Qwen/Qwen2.5-0.5B-Instruct", "chat"),
        Alias("qwen2.5-1.5b", "Qwen/Qwen2.5-1.5B", "base"),
        Alias("qwen2.5-1.5b-instruct", "Qwen/Qwen2.5-1.5B-Instruct", "chat"),
        Alias("qwen2.5-3b", "Qwen/Qwen2.5-3B", "base; the typical QLoRA target on a 6 GB GPU"),
        Alias("qwen2.5-3b-instruct", "Qwen/Qwen2.5-3B-Instruct", "chat"),
        Alias("qwen2.5-7b", "Qwen/Qwen2.5-7B", "base"),
        Alias("qwen2.5-7b-instruct", "Qwen/Qwen2.5-7B-Instruct", "chat"),
        Alias("tinyllama-1.1b-chat", "TinyLlama/TinyLlama-1.1B-Chat-v1.0", "chat; fits a free T4"),
        Alias("llama-3.2-1b", "meta-llama/Llama-3.2-1B", "base; gated on the hub"),
        Alias("llama-3.2-3b", "meta-llama/Llama-3.2-3B", "base; gated on the hub"),
        Alias("chatglm3-6b", "THUDM/chatglm3-6b", "chat; needs --trust-remote-code"),
        Alias("mistral-7b", "mistralai/Mistral-7B-v0.3", "base"),
        Alias("phi-3-mini", "microsoft/Phi-3-mini-4k-instruct", "chat"),
    ]
}
