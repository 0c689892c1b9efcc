"""Run directories -> one merged view for the renderers: scores, comparisons, samples, adapter details.

Several run directories (one per adapter of a sweep, say) merge into one set of tables as long as they share the
base model and, for every task two of them scored, the documents (doc_hash) and the base arm's scores on them; each
adapter keeps its comparison against its own run's base arm, which is then the base printed beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness.core import results
from harness.core.arms import BASE_ARM
from harness.core.errors import HarnessError
from harness.core.results import read_samples_file

if TYPE_CHECKING:
    import pandas as pd


def check_samples(run_dir: Path, run: dict) -> None:
    """Read every samples file a run has, so that a damaged one is refused before any output is written; refuse a
    run whose samples no longer match its run.json: an arm with scores on a task but no samples file (its documents
    would vanish from every per-document table while its scores stay), or a base samples file whose documents are
    not those run.json recorded (cut or edited: every n and Δ would then disagree)."""
    scored = {(s.get("arm"), s.get("task")) for s in run.get("scores") or []}
    for arm in run["arms"]:
        for task in run["tasks"]:
            path = results.samples_path(Path(run_dir), arm["name"], task)
            if path.exists():
                results.read_samples(Path(run_dir), arm["name"], task)
            elif (arm["name"], task) in scored:
                raise HarnessError(f"{path}: missing, but {Path(run_dir) / results.RUN_FILE} has scores of arm "
                                   f"'{arm['name']}' on task '{task}'; restore the file, or rerun the task")
    for task, info in run["tasks"].items():
        recorded = (info or {}).get("documents")
        found = _sample_documents(Path(run_dir), task)
        if recorded and found and recorded != found:
            raise HarnessError(f"{results.samples_path(Path(run_dir), BASE_ARM, task)}: its documents are not the "
                               f"ones {Path(run_dir) / results.RUN_FILE} records for task '{task}' (the samples were "
                               "cut or edited after the run); restore them, or rerun the task")


@dataclass
class Arm:
    name: str
    run_dir: Path
    source_arm: str  # the arm's name inside its own run
    adapter: dict | None = None
    train_summary: dict | None = None  # from run.json (harness.models.adapters.training_record), as the log
    training_log: list[dict] | None = None


@dataclass
class Report:
    runs: list[dict]
    run_dirs: list[Path]
    arms: list[Arm]
    scores: pd.DataFrame
    comparisons: pd.DataFrame
    tasks: dict = field(default_factory=dict)
    diagnostics: list[dict] = field(default_factory=list)  # what each classifier answered (harness.core.diagnostics)
    notes: list[str] = field(default_factory=list)  # what the merge did that a reader must know
    loaded_samples: dict = field(default_factory=dict, repr=False)  # (arm, task) -> rows, read and checked by load()
    gates: list[dict] = field(default_factory=list)  # each run's gate.json (`harness gate --json`), where it has one
    derived: dict = field(default_factory=dict, repr=False)  # what more than one section computes, computed once

    @property
    def adapters(self) -> list[str]:
        return [a.name for a in self.arms if a.name != BASE_ARM]

    def samples(self, arm: str, task: str) -> list[dict]:
        if (arm, task) in self.loaded_samples:
            return self.loaded_samples[(arm, task)]
        a = next(x for x in self.arms if x.name == arm)
        path = results.samples_path(a.run_dir, a.source_arm, task)
        # kept: the sections (pairs, classes, samples, sweep, warnings) each ask for the same file many times
        self.loaded_samples[(arm, task)] = read_samples_file(path) if path.exists() else []
        return self.loaded_samples[(arm, task)]


GATE_FILE = "gate.json"  # where `harness gate RUN --json RUN/gate.json` (and the demo) leaves the gate's verdict


def _gate_problem(verdict) -> str | None:
    """What makes `verdict` not the JSON `harness gate --json` writes (harness.gate.output.as_json), or None."""
    if not isinstance(verdict, dict) or not isinstance(verdict.get("rules"), list):
        return "no list of rules"
    for rule in verdict["rules"]:
        if not isinstance(rule, dict) or not isinstance(rule.get("name"), str) or not isinstance(rule.get("passed"), bool):
            return "a rule without a name or a result"
        checks = rule.get("checks")
        if not isinstance(checks, list) or not all(
                isinstance(c, dict) and isinstance(c.get("detail"), str) and isinstance(c.get("passed"), bool)
                for c in checks):
            return f"rule {rule['name']!r}: checks without a result or a detail line"
    return None


def read_gate(run_dir: Path, run: dict, notes: list[str]) -> dict | None:
    """The run's gate.json, when there is one and it is this run's; a file that is not is left out with a note (it
    is an optional output of another command, so it never stops a report)."""
    import json

    path = Path(run_dir) / GATE_FILE
    if not path.is_file():
        return None
    shown = f"{Path(run_dir).name}/{GATE_FILE}"  # a shared report names the run's folder, never a machine path
    try:
        verdict = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        notes.append(f"{shown}: not read ({type(e).__name__}); the report shows no gate for this run")
        return None
    problem = _gate_problem(verdict)
    if problem is None and verdict.get("run_id") != run["run_id"]:
        problem = f"it is the verdict on run {verdict.get('run_id')!r}, not on {run['run_id']!r}"
    if problem:
        notes.append(f"{shown}: not a gate verdict on this run ({problem}); the report shows no gate for this run")
        return None
    from harness.core.comparisons import VERSION

    if verdict.get("statistics_version") != VERSION:
        judged = verdict.get("statistics_version")
        notes.append(f"{shown}: the gate judged this run under statistics contract {judged or 'unrecorded (before 5)'}, "
                     f"this report recomputes it under contract {VERSION}: the Gate section's intervals may differ from "
                     f"the tables'; rerun `harness gate {Path(run_dir).name} --rules RULES --record` to judge it anew")
    return {"run_id": run["run_id"], "run_dir": Path(run_dir), **verdict}


def _documents(run_dir: Path, run: dict, task: str) -> str | None:
    """Which documents a run scored for a task: run.json's hash over the base arm's sorted doc_hashes
    (harness.core.comparisons.fill), else the same hash from the base arm's samples; None when neither is there."""
    return (run["tasks"].get(task) or {}).get("documents") or _sample_documents(Path(run_dir), task)


def _sample_documents(run_dir: Path, task: str) -> str | None:
    """The documents hash of a task's base samples file (as harness.core.comparisons.fill records it), or None."""
    import hashlib

    path = results.samples_path(run_dir, BASE_ARM, task)
    if not path.exists():
        return None
    hashes = sorted(str(r.get("doc_hash")) for r in read_samples_file(path))
    return "sha256:" + hashlib.sha256("\n".join(hashes).encode()).hexdigest() if hashes else None


def _base_values(run: dict, task: str) -> dict:
    return {(s["metric"], s.get("filter")): s["value"] for s in run["scores"]
            if s["arm"] == BASE_ARM and s["task"] == task and "group" not in s}


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or (a == a and b == b and abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b)))


def check_same_documents(run_dirs: list[Path], runs: list[dict]) -> None:
    """Refuse runs that cannot share one table: a task two runs both scored must be the same documents, and the
    base model's scores on them the same, so that every adapter's delta (measured against its own run's base) is
    the difference of the base value and the adapter value printed beside it."""
    first: dict[str, tuple[Path, dict, str | None]] = {}
    for d, run in zip(run_dirs, runs):
        for task in run["tasks"]:
            docs = _documents(d, run, task)
            if task not in first:
                first[task] = (Path(d), run, docs)
                continue
            d0, run0, docs0 = first[task]
            fix = "evaluate them with the same tasks, --limit and data, or report them separately"
            if docs0 is None or docs is None:
                which = d0 if docs0 is None else d
                raise HarnessError(f"runs {d0} and {d} both scored task '{task}', but {which} has no base samples "
                                   f"of it to show which documents it scored; restore its samples/{BASE_ARM}/ "
                                   "folder, or report the runs separately")
            if docs != docs0:
                n0, n = ((r["tasks"][task] or {}).get("n_docs", "?") for r in (run0, run))
                cut = [str(x) for x, r in ((d0, run0), (d, run)) if isinstance(r["tasks"][task].get("stopped"), dict)
                       and r["tasks"][task]["stopped"].get("docs") != r["tasks"][task]["stopped"].get("of")]
                if cut:  # a run --until-decided stopped early scored a seeded sample of the documents
                    fix = (f"{' and '.join(cut)} stopped early (--until-decided); report the runs separately, or "
                           "rerun it without --until-decided (the cache answers the documents it scored)")
                raise HarnessError(f"runs scored different documents for task '{task}' ({d0}: {n0} documents, {d}: "
                                   f"{n} documents) and cannot share one table; {fix}")
            b0, b = _base_values(run0, task), _base_values(run, task)
            for key in b0.keys() & b.keys():
                if not _same(b0[key], b[key]):
                    raise HarnessError(
                        f"runs scored the base model differently on the same documents of task '{task}' "
                        f"({key[0]}: {b0[key]:.4g} in {d0}, {b[key]:.4g} in {d}), so their deltas were measured "
                        "against different bases; evaluate them with the same settings, or report them separately")


def _claim(run_dir: Path, run: dict, rename: dict, sources: dict) -> dict:
    """The (arm in this run, task) pairs whose rows this run supplies, each to the arm name shown: those no earlier
    run supplied; `sources` ((arm shown, task) -> (run dir, arm in that run)) is updated in place."""
    take = {}
    scored = {(s["arm"], s["task"]) for s in run["scores"]}
    for source, name in rename.items():
        for task in run["tasks"]:
            if (name, task) not in sources and (source, task) in scored:
                sources[(name, task)] = (run_dir, source)
                take[(source, task)] = name
    return take


def load(run_dirs: list[Path], runs: list[dict] | None = None) -> Report:
    """Every run and every samples file, read and checked: the renderers then read nothing that can fail. `runs`:
    the run documents already read (and completed in memory) by the caller, in the order of `run_dirs`.

    Runs merge per task: each arm's scores, comparisons, diagnostics and samples for a task come from the first run
    (in argument order) that has that arm (the same adapter weights count as one arm) and that task; runs that
    scored different documents for a task are refused (check_same_documents)."""
    import pandas as pd

    runs = runs if runs is not None else [results.load_run(Path(d)) for d in run_dirs]
    fps = {r["base"]["fingerprint"] for r in runs}
    if len(fps) > 1:
        names = ", ".join(f"{d} ({r['base']['name']})" for d, r in zip(run_dirs, runs))
        raise HarnessError(f"runs evaluated different base models and cannot share one report: {names}")
    check_same_documents(run_dirs, runs)
    arms: list[Arm] = [Arm(BASE_ARM, Path(run_dirs[0]), BASE_ARM)]
    score_rows, comp_rows, diag_rows, notes, seen = [], [], [], [], {BASE_ARM}
    by_weights: dict[str, str] = {}  # adapter fingerprint -> the arm name it is shown under
    sources: dict[tuple[str, str], tuple[Path, str]] = {}  # (arm shown, task) -> (run dir, arm in that run)
    for d, run in zip(run_dirs, runs):
        rename = {BASE_ARM: BASE_ARM}
        for a in run["arms"]:
            if a["name"] == BASE_ARM:
                continue
            fp = (a.get("adapter") or {}).get("fingerprint")
            if fp and fp in by_weights:
                # The same weights evaluated twice (two runs of one adapter): one arm, not two competitors.
                name = by_weights[fp]
                new = [t for t in run["tasks"] if (name, t) not in sources]
                also = f"; its scores on {', '.join(new)} (which the first run lacks) come from this run" if new else ""
                notes.append(f"run {run['run_id']} ({Path(d).name}): arm '{a['name']}' has the same adapter weights as '{name}' "
                             f"({fp[:19]}…); it is shown once, with the scores of its first run{also}")
                rename[a["name"]] = name
                continue
            name = a["name"] if a["name"] not in seen else f"{a['name']}@{run['run_id']}"
            seen.add(name)
            rename[a["name"]] = name
            if fp:
                by_weights[fp] = name
            training = (a.get("adapter") or {}).get("training") or {}
            arms.append(Arm(name, Path(d), a["name"], a["adapter"], training.get("summary"), training.get("log")))
        take = _claim(Path(d), run, rename, sources)
        score_rows += [dict(s, arm=take[(s["arm"], s["task"])]) for s in run["scores"] if (s["arm"], s["task"]) in take]
        method = (run.get("statistics") or {}).get("multiplicity", "holm")  # each run adjusts its own family
        comp_rows += [dict(c, arm=take[(c["arm"], c["task"])], multiplicity=method) for c in run["comparisons"]
                      if (c["arm"], c["task"]) in take]
        diag_rows += [dict(x, arm=take[(x["arm"], x["task"])]) for x in run.get("diagnostics") or []
                      if (x["arm"], x["task"]) in take]
    tasks: dict = {}
    for run in runs:
        for task, info in run["tasks"].items():
            tasks.setdefault(task, info)
    loaded = {}
    for (name, task), (d, source) in sources.items():
        path = results.samples_path(d, source, task)
        loaded[(name, task)] = read_samples_file(path) if path.exists() else []
    gates = [g for d, run in zip(run_dirs, runs) if (g := read_gate(d, run, notes))]
    return Report(runs, [Path(d) for d in run_dirs], arms, pd.DataFrame(score_rows), pd.DataFrame(comp_rows), tasks,
                  diag_rows, notes, loaded, gates)
