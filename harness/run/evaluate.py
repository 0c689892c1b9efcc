"""One arm on one task: a simple_evaluate call over the engine's lm-eval model, answered from the per-arm cache where
it can be, turned into the run directory's records (records.py).

Evaluating one task per call keeps timing per task and lets a rerun resume task by task from the per-arm cache.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from harness.core.errors import HarnessError, first_line
from harness.run import cache as arm_cache
from harness.run.records import ArmTaskResult, count_tokens, parse_scores, sample_rows, task_facts
from harness.run.truncation import count_truncated

if TYPE_CHECKING:
    from harness.engines.base import Engine
    from harness.models.adapters import AdapterSpec
    from harness.run.config import RunConfig


def _simple_evaluate(engine: Engine, cfg: RunConfig, task_manager, task: str, task_obj, use_cache: str | None,
                     docs: list[int] | None = None) -> dict:
    from contextlib import nullcontext

    import lm_eval

    from harness.engines.lm_eval_patches import fewshot_per_document, quiet_evaluator

    try:
        with quiet_evaluator(), (fewshot_per_document(cfg.seed) if docs is not None else nullcontext()):
            return lm_eval.simple_evaluate(
                model=engine.lm, tasks=[task_obj if task_obj is not None else task], task_manager=task_manager,
                limit=cfg.limit if docs is None else None, samples=None if docs is None else {task: docs},
                num_fewshot=cfg.num_fewshot,
                gen_kwargs={"max_gen_toks": cfg.max_gen_toks} if cfg.max_gen_toks else None,
                apply_chat_template=cfg.apply_chat_template, log_samples=True, bootstrap_iters=cfg.bootstrap_iters,
                use_cache=use_cache, random_seed=cfg.seed, numpy_random_seed=cfg.seed, torch_random_seed=cfg.seed,
                fewshot_random_seed=cfg.seed,
            )
    except (OSError, ConnectionError) as e:
        first = first_line(e)
        raise HarnessError(f"task {task}: could not load its data or files ({first}); check the dataset path and the network") from None


def _timing(lm, res: dict, seconds: float) -> dict:
    """Seconds, tokens, requests the model computed (not the cache), requests the engine cut to fit its context."""
    requests, truncated = 0, 0
    for name, samples in res.get("samples", {}).items():
        n, cut = count_truncated(lm, res["configs"].get(name, {}).get("output_type"), samples)
        requests += n
        truncated = None if cut is None or truncated is None else truncated + cut
    all_samples = [s for ss in res.get("samples", {}).values() for s in ss]
    return {"seconds": round(seconds, 3), "tokens": count_tokens(lm.tokenizer, all_samples),
            "computed_requests": sum(lm.computed.values()), "requests": requests,
            "truncated": truncated, "max_length": getattr(lm, "max_length", None)}


def evaluate_arm_task(engine: Engine, cfg: RunConfig, task_manager, task: str, spec: AdapterSpec | None,
                      task_obj=None, docs: list[int] | None = None) -> ArmTaskResult:
    """Score the arm the engine is activated as (`spec`: its adapter, None for the base) on `task`. `task_obj`: the task
    object built once by the plan and reused by every arm (None: lm-eval builds it from the name); `docs`: the
    indices of the documents to score (None: all, or --limit's first)."""
    use_cache = arm_cache.arm_task_prefix(engine, cfg, task_manager, task, spec)
    engine.lm.computed.clear()
    t0 = time.perf_counter()
    res = _simple_evaluate(engine, cfg, task_manager, task, task_obj, use_cache, docs)
    seconds = time.perf_counter() - t0
    out = ArmTaskResult(scores=parse_scores(res))
    for name, samples in res.get("samples", {}).items():
        out.samples[name] = sample_rows(samples)
        out.tasks[name] = task_facts(res, name, samples, task_obj if name == task else None)
    out.timing[task] = _timing(engine.lm, res, seconds)
    return out
