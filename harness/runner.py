"""`harness run`: validate, load the base once, score every arm on every task with lm-eval, write the run directory."""

from __future__ import annotations

import hashlib
import json
import platform
import resource
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path

from harness import results
from harness.adapters import AdapterSpec, check_arm_names, fingerprint_adapter, inspect_adapter
from harness.config import RunConfig, resolve_base
from harness.errors import ConfigError, HarnessError


@dataclass
class Plan:
    """Everything checked and resolved before the model loads."""

    cfg: RunConfig
    adapters: list[AdapterSpec]
    task_manager: object = field(repr=False)
    task_objects: dict = field(default_factory=dict, repr=False)  # built once, reused by every arm
    registry: object = field(default=None, repr=False)
    registered: dict = field(default_factory=dict)  # arm name -> registry name


def _resolve_adapter_args(cfg: RunConfig, registry) -> tuple[list[str], dict[str, str], list[str]]:
    """--adapter values may be folders or registered names; returns (args as paths, arm -> registry name, problems)."""
    from adapters_registry.entries import is_path_like
    from harness.adapters import parse_adapter_arg

    args, registered, problems = [], {}, []
    for arg in cfg.adapters:
        name, raw = parse_adapter_arg(arg)
        if is_path_like(raw) or not cfg.use_registry:
            args.append(arg)
            continue
        if registry is None:
            problems.append(f"--adapter {arg}: not a folder, and no registry exists yet to hold a name "
                            f"(register one with `harness registry add PATH --name {raw}`, or give the folder)")
            continue
        try:
            entry = registry.require(raw)
        except HarnessError as e:
            problems.append(f"--adapter {arg}: not a folder, and {e}")
            continue
        args.append(f"{name or raw}={entry['path']}")
        registered[name or raw] = raw
    return args, registered, problems


def plan(cfg: RunConfig) -> Plan:
    problems = cfg.validate()
    registry = None
    if cfg.use_registry:
        from adapters_registry import Registry

        try:
            registry = Registry.existing(cfg.registry)  # created only when the run records itself
        except HarnessError as e:
            problems.append(f"{e} (or pass --no-registry)")
    adapter_args, registered, more = _resolve_adapter_args(cfg, registry)
    problems += more
    specs: list[AdapterSpec] = []
    for arg in adapter_args:
        try:
            specs.append(inspect_adapter(arg, cfg.allow_pickle))
        except HarnessError as e:
            problems.append(str(e))
    problems += check_arm_names(specs)
    from harness.paths import same_or_inside

    problems += [f"--out {cfg.out}: is inside adapter '{s.name}' ({s.path}), an input that is never written to; "
                 "choose another folder" for s in specs if same_or_inside(cfg.out, s.path)]
    tm = None
    ref, _ = resolve_base(cfg.base)
    if not problems:
        from harness import engines

        problems += engines.preflight(cfg, ref, specs)
    if cfg.tasks:
        from harness import taskset

        try:
            meta = cfg.task_metadata(ref.source if ref else cfg.base)
            tm = taskset.task_manager(cfg.tasks, [p for p in cfg.include_paths if p.is_dir()], metadata=meta)
        except ConfigError as e:
            problems += e.problems
        task_objects: dict = {}
        if tm is not None and not problems:
            try:
                task_objects = taskset.preload(cfg.tasks, tm, cfg.num_fewshot)
            except HarnessError as e:
                problems.append(str(e))
    if problems:
        raise ConfigError(problems)
    for w in cfg.warnings():
        print(f"warning: {w}", file=sys.stderr)
    by_path = {e["path"]: e for e in registry.adapters()} if registry else {}
    for s in specs:
        s.fingerprint = fingerprint_adapter(s)
        entry = registry.get(registered[s.name]) if s.name in registered else by_path.get(str(s.path))
        if entry:
            registered[s.name] = entry["name"]
            if entry["fingerprint"] != s.fingerprint:
                print(f"warning: adapter '{entry['name']}' changed since it was registered (fingerprint "
                      f"{entry['fingerprint'][:19]}... is now {s.fingerprint[:19]}...); this run records the new one",
                      file=sys.stderr)
    return Plan(cfg=cfg, adapters=specs, task_manager=tm, task_objects=task_objects, registry=registry,
                registered=registered)


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for dist, key in [("torch", "torch"), ("transformers", "transformers"), ("peft", "peft"), ("lm_eval", "lm_eval"),
                      ("bitsandbytes", "bitsandbytes"), ("adapter-harness", "harness")]:
        try:
            out[key] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            out[key] = None
    return out


def _git_commit() -> str | None:
    import subprocess

    try:
        r = subprocess.run(["git", "-C", str(Path(__file__).parent), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() or None if r.returncode == 0 else None


def _device_description(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return f"cpu ({platform.machine()}, {__import__('os').cpu_count()} cores)"


def _prepare_out(cfg: RunConfig) -> None:
    cfg.out.mkdir(parents=True, exist_ok=True)
    if cfg.force:
        # Only what a run and its report write is removed: a stale run.json must not sit beside new samples, nor an
        # old report (other tasks, n, arms) beside a new run.
        from harness.paths import RUN_DIR_ENTRIES, remove_entries

        remove_entries(cfg.out, RUN_DIR_ENTRIES)


def run(cfg: RunConfig) -> Path:
    p = plan(cfg)  # every cheap check, before torch is even imported
    from harness import engine, engines, models

    ref, _ = resolve_base(cfg.base)
    print(f"loading base {ref.source} ({cfg.engine} engine) ...", file=sys.stderr)
    eng = engines.load(cfg, ref, p.adapters)
    base = eng.base
    _prepare_out(cfg)  # only once every adapter fits: a refused run leaves nothing behind
    arms = [models.BASE_ARM] + [s.name for s in p.adapters]
    print(f"loaded in {base.load_s:.1f}s on {base.device} ({base.dtype}, quantization {base.quantization}); "
          f"arms: {', '.join(arms)}", file=sys.stderr)

    scores, task_info, timing = [], {}, {}
    spec_of = {s.name: s for s in p.adapters}
    steps = [(a, t) for a in arms for t in cfg.tasks]
    for i, (arm, task) in enumerate(steps, 1):
        spec = spec_of.get(arm)
        print(f"[{i}/{len(steps)}] arm {arm}, task {task}", file=sys.stderr)
        with eng.activate(arm):
            out = engine.evaluate_arm_task(eng.lm, p.task_manager, task, cfg, base, spec, p.task_objects.get(task),
                                           eng.cache_tag)
        for name, rows in out.samples.items():
            results.write_jsonl(results.samples_path(cfg.out, arm, name), rows)
        scores += [dict(s, arm=arm) for s in out.scores]
        task_info.update(out.tasks)
        timing.setdefault(arm, {}).update(out.timing)

    run_doc = _run_document(cfg, base, p.adapters, task_info, scores, timing)
    run_doc["environment"]["engine"] = eng.provenance()
    from harness import comparisons

    comparisons.fill(run_doc, cfg.out, resamples=cfg.resamples, seed=cfg.seed)
    problems = results.validate_run(run_doc)
    assert not problems, problems  # an invariant of our own writer, not user input
    results.write_json(cfg.out / results.RUN_FILE, run_doc)
    if cfg.use_registry:
        from adapters_registry.recording import record_or_warn

        if p.registry is not None:
            p.registry.close()  # opened to resolve names; recording opens it again with a short lock wait
        record_or_warn(cfg.registry, lambda reg: reg.record_run(run_doc, str(cfg.out.resolve()), p.registered),
                       f"the run in {cfg.out}", f"harness registry record {cfg.out}")
    print_table(cfg.out)
    print(f"run directory: {cfg.out}", file=sys.stderr)
    return cfg.out


def _run_document(cfg, base, specs, task_info, scores, timing) -> dict:
    import torch

    created = datetime.now(timezone.utc)
    conf = cfg.to_json()
    digest = hashlib.sha256(json.dumps(conf, sort_keys=True).encode()).hexdigest()[:8]
    peak_gpu = torch.cuda.max_memory_allocated() if base.device.startswith("cuda") else None
    # The CPU kernel set and thread count change floating-point sums, hence the last digits of a score (and, through
    # training, more): recorded so that two runs of the same weights can be reconciled.
    env = _versions() | {"device": _device_description(base.device), "git": _git_commit(),
                         "cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads()}
    return {
        "schema": results.SCHEMA,
        "run_id": f"{created:%Y%m%d-%H%M%S}-{digest}",
        "created": created.isoformat(timespec="seconds"),
        "config": conf,
        "environment": env,
        "base": {"name": base.ref.name, "source": base.ref.source, "fingerprint": base.fingerprint,
                 "dtype": base.dtype, "quantization": base.quantization},
        "arms": [{"name": "base", "adapter": None}] + [
            {"name": s.name, "adapter": {"path": str(s.path), "fingerprint": s.fingerprint, "peft": s.peft}} for s in specs
        ],
        "tasks": task_info,
        "scores": scores,
        "comparisons": [],
        "timing": {"load_s": round(base.load_s, 3), "arms": timing},
        "resources": {"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                      "peak_gpu_bytes": peak_gpu},
    }


def print_table(run_dir: Path) -> None:
    """The report's headline table on the console (the same table object report.md renders), and its warnings."""
    from reports import data, document, text

    report = data.load([run_dir])
    if report.scores.empty:
        return
    print(document.console(document.headline_table(report)))
    for w in text.warnings(report):
        print(f"warning: {w}")
