"""Everything `harness run` checks and resolves before any model loads: the flags, the registry, the adapters, the
engine's own limits, the tasks (built once). No torch: a typo fails in milliseconds with the full list of problems."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from harness.core.errors import ConfigError, HarnessError
from harness.models.adapters import (
    AdapterSpec,
    check_arm_names,
    fingerprint_adapter,
    inspect_adapter,
    training_record,
)
from harness.models.refs import resolve_base
from harness.run.config import RunConfig


@dataclass
class Plan:
    """Everything checked and resolved before the model loads."""

    cfg: RunConfig
    adapters: list[AdapterSpec]
    task_manager: object = field(repr=False)
    task_objects: dict = field(default_factory=dict, repr=False)  # built once, reused by every arm
    registry: object = field(default=None, repr=False)
    registered: dict = field(default_factory=dict)  # arm name -> registry name
    rules: list = field(default_factory=list)  # --until-decided: the gate rules that decide when a task may stop


def _resolve_adapter_args(cfg: RunConfig, registry) -> tuple[list[str], dict[str, str], list[str]]:
    """--adapter values may be folders or registered names; returns (args as paths, arm -> registry name, problems)."""
    from adapters_registry.entries import is_path_like
    from harness.models import checkpoints
    from harness.models.adapters import parse_adapter_arg

    args, registered, problems = [], {}, []
    for arg in cfg.adapters:
        name, raw = parse_adapter_arg(arg)
        try:
            swept = checkpoints.expand(name, raw)
        except HarnessError as e:
            problems.append(str(e))
            continue
        if swept is not None:  # a sweep: one arm per checkpoint, in step order
            args += [f"{n}={p}" if n else p for n, p in swept]
            continue
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


def _registry(cfg: RunConfig, problems: list[str]):
    """The registry --adapter names are resolved in (None with --no-registry); created only when a run records."""
    if not cfg.use_registry:
        return None
    from adapters_registry import Registry

    try:
        return Registry.existing(cfg.registry)
    except HarnessError as e:
        problems.append(f"{e} (or pass --no-registry)")
        return None


def plan(cfg: RunConfig) -> Plan:
    problems = cfg.validate()
    registry = _registry(cfg, problems)
    adapter_args, registered, more = _resolve_adapter_args(cfg, registry)
    problems += more
    specs: list[AdapterSpec] = []
    for arg in adapter_args:
        try:
            specs.append(inspect_adapter(arg, cfg.allow_pickle))
        except HarnessError as e:
            problems.append(str(e))
    problems += check_arm_names(specs)
    from harness.core.paths import same_or_inside

    problems += [f"--out {cfg.out}: is inside adapter '{s.name}' ({s.path}), an input that is never written to; "
                 "choose another folder" for s in specs if same_or_inside(cfg.out, s.path)]
    tm = None
    ref, _ = resolve_base(cfg.base)
    if not problems:
        from harness.engines import base as engines

        problems += engines.preflight(cfg, ref, specs)
    if cfg.tasks:
        from harness.run import taskset

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
    rules, found = _rules(cfg, task_objects if not problems else None, [s.name for s in specs])
    problems += found
    if problems:
        raise ConfigError(problems)
    for w in cfg.warnings():
        print(f"warning: {w}", file=sys.stderr)
    by_path = {e["path"]: e for e in registry.adapters()} if registry else {}
    for s in specs:
        s.fingerprint = fingerprint_adapter(s)
        s.training = training_record(s.path)
        entry = registry.get(registered[s.name]) if s.name in registered else by_path.get(str(s.path))
        if entry:
            registered[s.name] = entry["name"]
            if entry["fingerprint"] != s.fingerprint:
                print(f"warning: adapter '{entry['name']}' changed since it was registered (fingerprint "
                      f"{entry['fingerprint'][:19]}... is now {s.fingerprint[:19]}...); this run records the new one",
                      file=sys.stderr)
    return Plan(cfg=cfg, adapters=specs, task_manager=tm, task_objects=task_objects, registry=registry,
                registered=registered, rules=rules)


def _rules(cfg: RunConfig, task_objects: dict | None, adapters: list[str]) -> tuple[list, list[str]]:
    """--rules read before anything loads: its YAML, every rule's task among --tasks, and (once the tasks are built)
    every metric and arm a rule names among those the run will score."""
    if not cfg.until_decided or cfg.rules is None or not cfg.rules.is_file():
        return [], []
    from harness.gate.rules import load_rules
    from harness.gate.select import matches

    try:
        rules = load_rules(cfg.rules)
    except ConfigError as e:
        return [], e.problems
    problems = [f"--rules {cfg.rules}: rule {i}: task '{r['task']}' is not among --tasks ({', '.join(cfg.tasks)})"
                for i, r in enumerate(rules, 1)
                if isinstance(r, dict) and isinstance(r.get("task"), str) and not matches(r["task"], cfg.tasks)]
    if not problems and task_objects is not None:
        from harness.run.decided import rules_problems

        problems = rules_problems(rules, cfg, task_objects, adapters)
    return rules, problems
