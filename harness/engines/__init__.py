"""Engines: what scores an arm. Each engine loads the base once and exposes:

    engine.lm            the lm-eval model object every arm is scored through (HFLM, VLLM, ... subclasses)
    engine.base          harness.models.LoadedBase: ref, fingerprint, dtype, quantization, device, load_s, tokenizer
    engine.activate(arm) a context in which lm answers as that arm (the bare base, or base + one adapter)
    engine.provenance()  what run.json records about the engine (name, versions, parallel sizes)
    engine.cache_tag     part of the per-arm cache key: answers of different engines are never mixed

plus a module-level `preflight(cfg, ref, specs) -> list[str]` of problems found before anything loads. A third engine
is one new module here and one entry in ENGINES.
"""

from __future__ import annotations

ENGINES = ("hf", "vllm")


def preflight(cfg, ref, specs) -> list[str]:
    if cfg.engine == "vllm":
        from harness.engines import vllm

        return vllm.preflight(cfg, ref, specs)
    return []


def load(cfg, ref, specs):
    if cfg.engine == "vllm":
        from harness.engines.vllm import VLLMEngine

        return VLLMEngine(cfg, ref, specs)
    from harness.engines.hf import HFEngine

    return HFEngine(cfg, ref, specs)
