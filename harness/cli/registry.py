"""`harness registry ...`: the adapter catalogue and score history from the command line (no torch)."""

from __future__ import annotations

import json
from pathlib import Path

from harness.core.paths import user_path


def add_parser(sub) -> None:
    p = sub.add_parser("registry", help="the catalogue of adapters and run scores (SQLite)",
                       description="Adapters you have trained or evaluated, and every run's scores. The file is "
                                   "--registry PATH, else $HARNESS_REGISTRY, else ~/.local/share/harness/registry.sqlite.")
    p.add_argument("--registry", type=user_path, help="registry file")
    rs = p.add_subparsers(dest="registry_command", metavar="ACTION", required=True)
    a = rs.add_parser("add", help="register an adapter folder under a name")
    a.add_argument("path")
    a.add_argument("--name", required=True)
    a.add_argument("--tag", action="append", default=[], help="repeatable")
    a.add_argument("--allow-pickle", action="store_true", help="accept adapter_model.bin")
    ls = rs.add_parser("list", help="every registered adapter")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sh = rs.add_parser("show", help="an adapter's configuration and its score history across runs")
    sh.add_argument("name")
    sh.add_argument("--json", action="store_true")
    rm = rs.add_parser("remove", help="forget an adapter (its files are never deleted)")
    rm.add_argument("name")
    ac = rs.add_parser("accept", help="mark a run (id or directory) as the accepted baseline for its base model")
    ac.add_argument("run")
    rc = rs.add_parser("record", help="record a finished run directory (one whose run could not reach the registry)")
    rc.add_argument("run", type=user_path, metavar="RUN_DIR")
    rn = rs.add_parser("runs", help="every recorded run")
    rn.add_argument("--json", action="store_true")
    b = rs.add_parser("best", help="adapters ranked by a task's metric across all recorded runs")
    b.add_argument("--task", required=True)
    b.add_argument("--metric", required=True)
    b.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def _table(rows: list[dict], columns: list[str]) -> str:
    import pandas as pd

    if not rows:
        return "(none)"
    return pd.DataFrame(rows)[columns].to_string(index=False)


class _EmptyRegistry:
    """What the read commands see before any registry file exists."""

    def __init__(self, path: Path):
        self.path = path

    def __getattr__(self, name):
        from adapters_registry import Registry

        if name in ("adapters", "runs"):
            return lambda: []
        if name == "task_sizes":
            return lambda: {}
        if name == "close":
            return lambda: None
        # show / remove / accept / best: the same error an empty registry gives, without creating the file
        import tempfile

        def call(*args):
            with tempfile.TemporaryDirectory() as d:
                reg = Registry(Path(d) / "empty.sqlite")
                try:
                    return getattr(reg, name)(*args)
                finally:
                    reg.close()

        return call


def run(a) -> int:
    cmd = a.registry_command
    if cmd in _WRITERS:
        return _WRITERS[cmd](a)
    from adapters_registry import Registry

    reg = Registry.existing(a.registry)
    if reg is None:  # reading a registry that does not exist yet: an empty one, without creating the file
        from adapters_registry.store import default_path

        reg = _EmptyRegistry(Path(a.registry).expanduser() if a.registry else default_path())
    _READERS[cmd](reg, a)
    reg.close()
    return 0


def _add(a) -> int:
    from adapters_registry import Registry, adapter_entry

    entry = adapter_entry(a.path, name=a.name, tags=a.tag, allow_pickle=a.allow_pickle)  # checked before the file
    reg = Registry(a.registry)
    reg.add_adapter(entry)
    print(f"registered '{entry['name']}' ({entry['fingerprint'][:19]}...) -> {entry['path']}")
    reg.close()
    return 0


def _record(a) -> int:
    from adapters_registry import Registry
    from harness.core import results

    results.load_run(a.run)  # a folder that is not a finished run fails here, before the registry is created
    from adapters_registry.recording import record_run_dir

    reg = Registry(a.registry)
    recorded = record_run_dir(reg, a.run)
    reg.close()
    print(f"recorded run {recorded['run_id']} ({a.run}) in {reg.path}")
    return 0


def _adapter_row(e: dict) -> dict:
    peft = e["peft"]
    targets = peft.get("target_modules")
    return {"name": e["name"], "base": e.get("base_model") or "", "r": peft.get("r", ""),
            "alpha": peft.get("lora_alpha", ""),
            "targets": ",".join(targets or []) if isinstance(targets, list) else peft.get("target_modules", ""),
            "tags": ",".join(e["tags"]), "trained": "yes" if e.get("train_summary") else "",
            "created": e["created"], "path": e["path"]}


def _list(reg, a) -> None:
    entries = reg.adapters()
    if a.json:
        print(json.dumps(entries, indent=2))
    else:
        print(_table([_adapter_row(e) for e in entries],
                     ["name", "base", "r", "alpha", "targets", "tags", "trained", "created", "path"]))


def _show(reg, a) -> None:
    entry, history = reg.require(a.name), reg.history(a.name)
    if a.json:
        print(json.dumps({"adapter": entry, "history": history}, indent=2))
        return
    for k in ("name", "path", "fingerprint", "base_model", "base_fingerprint", "data_fingerprint", "tags", "created"):
        print(f"{k:17} {entry.get(k)}")
    print(f"{'peft':17} {json.dumps(entry['peft'])}")
    if entry.get("train_config"):
        print(f"{'train_config':17} {json.dumps(entry['train_config'])}")
    print("\nscore history:")
    print(_table(history, ["created", "run_id", "task", "metric", "value", "n"]))


def _remove(reg, a) -> None:
    entry = reg.remove_adapter(a.name)
    print(f"forgot '{a.name}' (its files in {entry['path']} are untouched)")


def _accept(reg, a) -> None:
    r = reg.accept(a.run)
    print(f"accepted run {r['run_id']} ({r['directory']}) as the baseline for base {r['base_name']}")


def _runs(reg, a) -> None:
    runs = reg.runs()
    sizes = reg.task_sizes()
    print(json.dumps(runs, indent=2) if a.json else _table(
        [dict(r, arms=", ".join(x["name"] for x in json.loads(r["arms"])),
              tasks=", ".join(f"{t} (n={n})" for t, n in sizes.get(r["run_id"], []))) for r in runs],
        ["run_id", "created", "base_name", "arms", "tasks", "accepted", "directory"]))


def _best(reg, a) -> None:
    from adapters_registry.selection import tie_with_best

    rows = reg.best(a.task, a.metric)
    ranked = [r for r in rows if r["comparable"]]
    others = [r for r in rows if not r["comparable"]]
    lower = bool(ranked) and ranked[0]["higher_is_better"] == 0
    sel = tie_with_best(ranked, lower)
    if a.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"ranked: {a.task}/{a.metric} on the task definition and documents of the newest run "
          f"(n={ranked[0]['n']}), {'lower' if lower else 'higher'} is better")
    print(f"method: {sel['method']}")
    steps = ["step"] if any(r.get("step") is not None for r in ranked) else []  # a checkpoint sweep's steps
    print(_table([_best_row(i, r) for i, r in enumerate(ranked, 1)],
                 ["rank", "adapter_name", "arm", *steps, "value", "95% CI", "simultaneous CI", "vs best", "n", "run_id",
                  "created"]))
    print(_tied_line(ranked))
    if others:
        print("\nnot ranked with them (not measured on the same task definition and documents):")
        print(_table([dict(r, adapter_name=_name(r)) for r in others],
                     ["adapter_name", "arm", "value", "n", "run_id", "reason"]))


def _best_row(rank: int, r: dict) -> dict:
    from reports import numbers

    def interval(ci):
        return "no interval" if ci is None else f"[{numbers.value(ci[0])}, {numbers.value(ci[1])}]"

    return dict(r, rank=rank, adapter_name=_name(r), value=numbers.value(r["value"]),
                **{"95% CI": interval(r["ci95"]), "simultaneous CI": interval(r["sim_ci"]), "vs best": r["status"]})


def _name(r: dict) -> str:
    """A candidate's registered name; an arm whose adapter was never registered has none."""
    return r["adapter_name"] or "(unregistered)"


def _tied_line(ranked: list[dict]) -> str:
    tied = [r for r in ranked if r["status"] in ("best", "tied")]
    unknown = sum(r["status"] == "no interval" for r in ranked)
    tail = f"; {unknown} without an interval, not compared" if unknown else ""
    if not tied:
        return "no candidate has an interval, so no tie can be judged: the order is the point estimates' alone"
    names = ", ".join(r["adapter_name"] or f"{r['arm']} (unregistered)" for r in tied)
    if len(tied) == 1:
        return f"best: {names}, alone (no other candidate's simultaneous interval reaches it){tail}"
    return (f"statistically tied with the best ({len(tied)} of {len(ranked)}): {names}; the data cannot tell them "
            f"apart{tail}")


# add and record create the registry file; every other action reads, and must not create it.
_WRITERS = {"add": _add, "record": _record}
_READERS = {"list": _list, "show": _show, "remove": _remove, "accept": _accept, "runs": _runs, "best": _best}
