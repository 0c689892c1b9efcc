"""`harness registry ...`: the adapter catalogue and score history from the command line (no torch)."""

from __future__ import annotations

import json
from pathlib import Path

from harness.paths import user_path


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
    from adapters_registry import Registry, adapter_entry

    cmd = a.registry_command
    if cmd == "add":
        entry = adapter_entry(a.path, name=a.name, tags=a.tag, allow_pickle=a.allow_pickle)  # checked before the file
        reg = Registry(a.registry)
        reg.add_adapter(entry)
        print(f"registered '{entry['name']}' ({entry['fingerprint'][:19]}...) -> {entry['path']}")
        reg.close()
        return 0
    if cmd == "record":
        from harness import results

        results.load_run(a.run)  # a folder that is not a finished run fails here, before the registry is created
        from adapters_registry.recording import record_run_dir

        reg = Registry(a.registry)
        run = record_run_dir(reg, a.run)
        reg.close()
        print(f"recorded run {run['run_id']} ({a.run}) in {reg.path}")
        return 0
    reg = Registry.existing(a.registry)
    if reg is None:  # reading a registry that does not exist yet: an empty one, without creating the file
        from adapters_registry.store import default_path

        reg = _EmptyRegistry(Path(a.registry).expanduser() if a.registry else default_path())
    if cmd == "list":
        entries = reg.adapters()
        if a.json:
            print(json.dumps(entries, indent=2))
        else:
            rows = [{"name": e["name"], "base": e.get("base_model") or "", "r": e["peft"].get("r", ""),
                     "alpha": e["peft"].get("lora_alpha", ""), "targets": ",".join(e["peft"].get("target_modules") or [])
                     if isinstance(e["peft"].get("target_modules"), list) else e["peft"].get("target_modules", ""),
                     "tags": ",".join(e["tags"]), "trained": "yes" if e.get("train_summary") else "",
                     "created": e["created"], "path": e["path"]} for e in entries]
            print(_table(rows, ["name", "base", "r", "alpha", "targets", "tags", "trained", "created", "path"]))
    elif cmd == "show":
        entry, history = reg.require(a.name), reg.history(a.name)
        if a.json:
            print(json.dumps({"adapter": entry, "history": history}, indent=2))
        else:
            for k in ("name", "path", "fingerprint", "base_model", "base_fingerprint", "data_fingerprint", "tags", "created"):
                print(f"{k:17} {entry.get(k)}")
            print(f"{'peft':17} {json.dumps(entry['peft'])}")
            if entry.get("train_config"):
                print(f"{'train_config':17} {json.dumps(entry['train_config'])}")
            print("\nscore history:")
            print(_table(history, ["created", "run_id", "task", "metric", "value", "n"]))
    elif cmd == "remove":
        entry = reg.remove_adapter(a.name)
        print(f"forgot '{a.name}' (its files in {entry['path']} are untouched)")
    elif cmd == "accept":
        r = reg.accept(a.run)
        print(f"accepted run {r['run_id']} ({r['directory']}) as the baseline for base {r['base_name']}")
    elif cmd == "runs":
        runs = reg.runs()
        sizes = reg.task_sizes()
        print(json.dumps(runs, indent=2) if a.json else _table(
            [dict(r, arms=", ".join(x["name"] for x in json.loads(r["arms"])),
                  tasks=", ".join(f"{t} (n={n})" for t, n in sizes.get(r["run_id"], []))) for r in runs],
            ["run_id", "created", "base_name", "arms", "tasks", "accepted", "directory"]))
    elif cmd == "best":
        rows = reg.best(a.task, a.metric)
        if a.json:
            print(json.dumps(rows, indent=2))
        else:
            ranked = [r for r in rows if r["comparable"]]
            others = [r for r in rows if not r["comparable"]]
            print(f"ranked: {a.task}/{a.metric} on the task definition and documents of the newest run "
                  f"(n={ranked[0]['n']})")
            print(_table(ranked, ["adapter_name", "arm", "value", "n", "run_id", "created"]))
            if others:
                print("\nnot ranked with them (not measured on the same task definition and documents):")
                print(_table(others, ["adapter_name", "arm", "value", "n", "run_id", "reason"]))
    reg.close()
    return 0
