"""The lm-eval side of a run, for any engine (harness/engines/): one simple_evaluate per arm and task over the
engine's lm-eval model, and the run directory's records made from lm-eval's output.

Evaluating one task per call keeps timing per task and lets a rerun resume task by task from the per-arm cache.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field

from harness import cache as arm_cache
from harness.errors import HarnessError

_SKIP_KEYS = {"alias", "name", "sample_len", "sample_count", " "}


@dataclass
class ArmTaskResult:
    scores: list[dict] = field(default_factory=list)
    samples: dict[str, list[dict]] = field(default_factory=dict)
    tasks: dict[str, dict] = field(default_factory=dict)
    timing: dict[str, dict] = field(default_factory=dict)


def _metric_name(metric: str, flt: str, n_filters: int) -> str:
    # One filter pipeline (the usual case): the bare metric name, stable for reports and gates to key on.
    return metric if n_filters == 1 or flt == "none" else f"{metric}:{flt}"


def parse_scores(res: dict) -> list[dict]:
    rows = []
    for task, vals in res["results"].items():
        keys = [k for k in vals if "," in k and k.split(",")[0] not in _SKIP_KEYS and "_stderr" not in k.split(",")[0]]
        n_filters = len({k.split(",", 1)[1] for k in keys})
        hib = res.get("higher_is_better", {}).get(task, {})
        n = res.get("n-samples", {}).get(task, {}).get("effective")
        for k in keys:
            metric, flt = k.split(",", 1)
            value = vals[k]
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            stderr = vals.get(f"{metric}_stderr,{flt}")
            stderr = float(stderr) if isinstance(stderr, (int, float)) and stderr == stderr else None
            # No normal-approximation CI here (it crosses 0 for F1 and ROUGE): comparisons.fill puts the bootstrap
            # CI that the tables and plots show.
            ci = None
            rows.append({
                "task": task, "metric": _metric_name(metric, flt, n_filters), "filter": flt, "value": float(value),
                "stderr": stderr, "ci95": ci, "n": n, "higher_is_better": hib.get(metric),
            })
    return rows


def _flatten(resps):
    # lm-eval keeps one list per request and, inside, one entry per repeat; we keep the first repeat.
    out = [r[0] if isinstance(r, (list, tuple)) and len(r) == 1 else r for r in resps]
    return out[0] if len(out) == 1 else out


def sample_rows(samples: list[dict]) -> list[dict]:
    rows = []
    for s in samples:
        args = s.get("arguments") or [[None]]
        rows.append({
            "doc_id": s["doc_id"], "doc_hash": s.get("doc_hash"), "filter": s.get("filter"),
            "prompt": args[0][0] if isinstance(args[0], (list, tuple)) else args[0],
            "target": s.get("target"),
            "response": _flatten(s.get("resps", [])),
            "filtered": _flatten([[r] for r in s.get("filtered_resps", [])]) if s.get("filtered_resps") else None,
            "metrics": {m: s.get(m) for m in s.get("metrics", [])},
        })
        if len(args) > 1 and all(isinstance(a, (list, tuple)) and len(a) == 2 for a in args):
            rows[-1]["choices"] = [a[1] for a in args]  # multiple choice: what each loglikelihood scored
    return rows


def _count_tokens(tokenizer, samples: list[dict]) -> int:
    total = 0
    for s in samples:
        for arg in s.get("arguments", []):
            text = "".join(a for a in arg if isinstance(a, str)) if isinstance(arg, (list, tuple)) else str(arg)
            total += len(tokenizer(text, add_special_tokens=False)["input_ids"])
        if s.get("resps") and isinstance(s["resps"][0], (list, tuple)) and s["resps"][0] and isinstance(s["resps"][0][0], str):
            total += len(tokenizer(s["resps"][0][0], add_special_tokens=False)["input_ids"])
    return total


def _distinct_requests(samples: list[dict]) -> list[tuple]:
    """Every request of every document once (a task with several filter pipelines logs each document per filter)."""
    by_doc: dict = {}
    for s in samples:
        by_doc.setdefault(s["doc_id"], s.get("arguments") or [])
    return [tuple(a) for args in by_doc.values() for a in args]


def _loglikelihood_room(lm) -> int:
    """How many context + continuation tokens a loglikelihood request may hold before the engine cuts the context."""
    room = getattr(lm, "loglikelihood_room", None)
    return room() if callable(room) else lm.max_length - 1  # lm-eval's VLLM keeps max_length - 1 prompt tokens


def _over(lm, text: str, limit: int, extra: int = 0) -> bool:
    """Whether `text` (as the engine encodes it) plus `extra` tokens exceeds `limit` tokens. No token covers less than
    a byte, and a tokenizer adds at most a few tokens of its own: text that short is not encoded at all."""
    if len(text.encode("utf-8")) + 4 + extra <= limit:
        return False
    return len(lm.tok_encode(text)) + extra > limit


def is_truncated(lm, output_type: str | None, args) -> bool:
    """Whether the engine cuts this request's prompt to fit the model's context: a generation whose prompt tokens plus
    its generation budget exceed max_length (the prompt is cut from the left to max_length - max_gen_toks); a
    loglikelihood whose context + continuation tokens exceed what the engine keeps. Perplexity windows are built to
    fit, and are never cut."""
    if output_type == "generate_until":
        from lm_eval.models.utils import normalize_gen_kwargs

        gen_kwargs = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
        budget = normalize_gen_kwargs(gen_kwargs, lm.max_gen_toks)["max_gen_toks"]
        return _over(lm, args[0], lm.max_length, budget)
    if output_type in ("loglikelihood", "multiple_choice") and len(args) == 2:
        context, continuation = args
        if not context:  # lm-eval scores it after the prefix token
            return _over(lm, continuation, _loglikelihood_room(lm), 1)
        # lm-eval's _encode_pair splits the encoding of context + continuation: their token count is that encoding's.
        return _over(lm, context + continuation, _loglikelihood_room(lm))
    return False


def count_truncated(lm, output_type: str | None, samples: list[dict]) -> tuple[int, int | None]:
    """(requests, how many of them the engine truncated; None when the engine cannot say)."""
    requests = _distinct_requests(samples)
    try:
        return len(requests), sum(is_truncated(lm, output_type, a) for a in requests)
    except (AttributeError, NotImplementedError, TypeError):  # an engine without max_length / tok_encode
        return len(requests), None


def _shots(res: dict, name: str, samples: list[dict]) -> int | None:
    """The solved examples each prompt of the task holds: the task's own count where its documents carry one (general_mc
    writes its examples into the prompt), otherwise lm-eval's num_fewshot for the task."""
    own = {s["doc"]["num_fewshot"] for s in samples
           if isinstance(s.get("doc"), dict) and isinstance(s["doc"].get("num_fewshot"), int)}
    if own:
        return own.pop() if len(own) == 1 else None
    n = (res.get("n-shot") or {}).get(name)
    return n if isinstance(n, int) and not isinstance(n, bool) else None


def _dropped(task_obj) -> dict[str, int]:
    """Documents the task's loader left out, counted by reason: the rows of a `dropped` split of its dataset (general_qa
    puts there the questions no answer can match)."""
    ds = getattr(task_obj, "dataset", None)
    try:
        rows = ds["dropped"] if ds is not None and "dropped" in ds else []
    except (KeyError, TypeError):
        return {}
    return dict(Counter(str(r.get("reason") or "left out by the task's loader") for r in rows))


def _memoize_env_info() -> None:
    """lm-eval adds the same environment report (torch's collect_env, which spawns subprocesses: ~2 s the first time,
    ~0.4 s after) to every simple_evaluate result; one run makes a call per arm and task, so compute it once."""
    from lm_eval import evaluator

    if getattr(evaluator.add_env_info, "_harness_memo", False):
        return
    original, memo = evaluator.add_env_info, {}

    def add_env_info(storage: dict) -> None:
        if not memo:
            original(memo)
        storage.update(memo)

    add_env_info._harness_memo = True
    evaluator.add_env_info = add_env_info
    # lm-eval asks `git describe` about the current folder and lets git print "fatal: not a git repository" to the
    # terminal; run.json records the harness's own commit instead.
    evaluator.get_git_commit_hash = lambda: None


def _aggregations(task_obj) -> dict[str, str]:
    """Each metric's aggregation by name, from the task itself (what statistics recompute on resamples)."""
    if not hasattr(task_obj, "aggregation"):
        return {}
    return {m: getattr(fn, "__name__", str(fn)) for m, fn in task_obj.aggregation().items()}


def _aggregations_from_config(config: dict) -> dict[str, str]:
    aggs = {}
    for m in config.get("metric_list") or []:
        agg = m.get("aggregation", "mean")
        if not isinstance(agg, str):
            agg = getattr(agg, "__name__", "unknown")
        # lm-eval's logged config holds a !function aggregation as its source code: keep the function's name.
        named = re.match(r"\s*def\s+(\w+)\s*\(", agg)
        aggs[m["metric"]] = named.group(1) if named else agg
    return aggs


def evaluate_arm_task(lm, task_manager, task: str, cfg, base, spec, task_obj=None, engine_tag: str = "hf") -> ArmTaskResult:
    import lm_eval

    _memoize_env_info()
    use_cache = None
    if cfg.use_cache:
        key = arm_cache.arm_key(base.fingerprint, spec.fingerprint if spec else None, base.dtype, base.quantization)
        from harness.taskset import task_digest

        # The engine is part of the key: HF and vLLM answers (and two vLLM versions') are never mixed.
        key = f"{engine_tag}-{key[:40]}-{task_digest(task, task_manager, task_manager.metadata or {})[:12]}"
        use_cache = arm_cache.cache_prefix(cfg.cache_dir, key, {
            "task": task,
            "base": base.ref.source, "base_fingerprint": base.fingerprint, "adapter": str(spec.path) if spec else None,
            "adapter_fingerprint": spec.fingerprint if spec else None, "dtype": base.dtype, "quantization": base.quantization,
            "engine": engine_tag,
        })
    lm.computed.clear()
    t0 = time.perf_counter()
    try:
        res = lm_eval.simple_evaluate(
            model=lm, tasks=[task_obj if task_obj is not None else task], task_manager=task_manager, limit=cfg.limit, num_fewshot=cfg.num_fewshot,
            gen_kwargs={"max_gen_toks": cfg.max_gen_toks} if cfg.max_gen_toks else None,
            apply_chat_template=cfg.apply_chat_template, log_samples=True, bootstrap_iters=cfg.bootstrap_iters,
            use_cache=use_cache, random_seed=cfg.seed, numpy_random_seed=cfg.seed, torch_random_seed=cfg.seed,
            fewshot_random_seed=cfg.seed,
        )
    except (OSError, ConnectionError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise HarnessError(f"task {task}: could not load its data or files ({first}); check the dataset path and the network") from None
    seconds = time.perf_counter() - t0
    out = ArmTaskResult(scores=parse_scores(res))
    for name, samples in res.get("samples", {}).items():
        out.samples[name] = sample_rows(samples)
        cfg_json = json.dumps(res["configs"].get(name, {}), sort_keys=True, default=str)
        out.tasks[name] = {
            "version": res.get("versions", {}).get(name),
            "n_docs": res.get("n-samples", {}).get(name, {}).get("effective", len({s["doc_id"] for s in samples})),
            "config_hash": "sha256:" + hashlib.sha256(cfg_json.encode()).hexdigest(),
            "output_type": res["configs"].get(name, {}).get("output_type"),
        }
        aggs = _aggregations(task_obj) if task_obj is not None and name == task else {}
        aggs = aggs or _aggregations_from_config(res["configs"].get(name, {}))
        out.tasks[name]["aggregations"] = aggs
        meta = res["configs"].get(name, {}).get("metadata") or {}
        if meta.get("conventions"):
            out.tasks[name]["conventions"] = meta["conventions"]
        out.tasks[name]["unit"] = str(meta.get("unit") or "document")
        out.tasks[name]["num_fewshot"] = _shots(res, name, samples)
        dropped = _dropped(task_obj) if task_obj is not None and name == task else {}
        if dropped:
            out.tasks[name]["dropped"] = dropped
    all_samples = [s for ss in res.get("samples", {}).values() for s in ss]
    requests, truncated = 0, 0
    for name, samples in res.get("samples", {}).items():
        n, cut = count_truncated(lm, res["configs"].get(name, {}).get("output_type"), samples)
        requests += n
        truncated = None if cut is None or truncated is None else truncated + cut
    out.timing[task] = {"seconds": round(seconds, 3), "tokens": _count_tokens(lm.tokenizer, all_samples),
                        "computed_requests": sum(lm.computed.values()), "requests": requests,
                        "truncated": truncated, "max_length": getattr(lm, "max_length", None)}
    return out
