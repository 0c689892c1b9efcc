"""The engine contract: what scores an arm, and the one table from `--engine NAME` to the class that does it.

An engine loads the base once and serves every arm (the bare base, or the base with one adapter) through one lm-eval
model object. A new engine is one module that defines a class satisfying `Engine`, and one entry in ENGINES. This
module imports no torch: the CLI's choices and the config's checks read the table without loading any engine.
"""

from __future__ import annotations

import importlib
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:  # annotations only: the engines are constructed by run/, which owns the config
    from harness.models.adapters import AdapterSpec
    from harness.models.refs import BaseRef, LoadedBase
    from harness.run.config import RunConfig


@runtime_checkable
class Engine(Protocol):
    """One loaded base serving every arm through `lm`, an lm-eval model object (an `lm_eval.api.model.LM`) that also
    has `computed`, a Counter of the requests that reached the model (the cache answers the rest: run.json's timing
    says how many), and `tokenizer`, callable as a transformers tokenizer (for token counts). With `max_length` and
    `tok_encode`, the run also counts the requests the engine cut to fit its context; without them it says "unknown".
    Options of an engine's own are flags in cli/run.py and fields of RunConfig, checked in its `preflight`."""

    name: ClassVar[str]
    lm: Any
    base: LoadedBase  # what was loaded: ref, fingerprint, dtype, quantization, device, load time, tokenizer

    def __init__(self, cfg: RunConfig, ref: BaseRef, specs: list[AdapterSpec]) -> None: ...

    def activate(self, arm: str) -> AbstractContextManager:
        """A context in which `lm` answers as `arm` (harness.core.arms.BASE_ARM or an adapter's arm name)."""
        ...

    def provenance(self) -> dict:
        """What run.json's environment.engine records: the engine's name, versions, batch and parallel settings."""
        ...

    @property
    def cache_tag(self) -> str:
        """Part of the per-arm cache key, so answers of two engines (or two versions of one) are never mixed."""
        ...

    @classmethod
    def preflight(cls, cfg: RunConfig, ref: BaseRef | None, specs: list[AdapterSpec]) -> list[str]:
        """Every reason this engine cannot run `cfg`, found before anything loads (one line each, naming the fix)."""
        ...


# --engine NAME -> "module:Class", imported only when that engine is used.
ENGINES: dict[str, str] = {
    "hf": "harness.engines.hf:HFEngine",
    "vllm": "harness.engines.vllm:VLLMEngine",
}


def engine_class(name: str) -> type[Engine]:
    module, _, cls = ENGINES[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def preflight(cfg: RunConfig, ref: BaseRef | None, specs: list[AdapterSpec]) -> list[str]:
    return engine_class(cfg.engine).preflight(cfg, ref, specs)


def load(cfg: RunConfig, ref: BaseRef, specs: list[AdapterSpec]) -> Engine:
    return engine_class(cfg.engine)(cfg, ref, specs)
