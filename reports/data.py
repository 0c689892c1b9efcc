"""Run directories -> one merged view for the renderers: scores, comparisons, samples, adapter details.

Several run directories (one per adapter of a sweep, say) merge into one set of tables as long as they share the
base model; each adapter keeps its comparison against its own run's base arm.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness import results
from harness.errors import HarnessError


@dataclass
class Arm:
    name: str
    run_dir: Path
    source_arm: str  # the arm's name inside its own run
    adapter: dict | None = None
    train_summary: dict | None = None
    training_log: Path | None = None


@dataclass
class Report:
    runs: list[dict]
    run_dirs: list[Path]
    arms: list[Arm]
    scores: pd.DataFrame
    comparisons: pd.DataFrame
    tasks: dict = field(default_factory=dict)

    @property
    def adapters(self) -> list[str]:
        return [a.name for a in self.arms if a.name != "base"]

    def samples(self, arm: str, task: str) -> list[dict]:
        a = next(x for x in self.arms if x.name == arm)
        path = results.samples_path(a.run_dir, a.source_arm, task)
        return results.read_samples(a.run_dir, a.source_arm, task) if path.exists() else []


def _adapter_details(arm: dict) -> tuple[dict | None, Path | None]:
    path = Path((arm.get("adapter") or {}).get("path", ""))
    summary, log = None, None
    if path and (path / "train_summary.json").is_file():
        try:
            summary = json.loads((path / "train_summary.json").read_text())
        except ValueError:
            summary = None
    if path and (path / "training_log.csv").is_file():
        log = path / "training_log.csv"
    return summary, log


def load(run_dirs: list[Path]) -> Report:
    runs = [results.load_run(Path(d)) for d in run_dirs]
    fps = {r["base"]["fingerprint"] for r in runs}
    if len(fps) > 1:
        names = ", ".join(f"{d} ({r['base']['name']})" for d, r in zip(run_dirs, runs))
        raise HarnessError(f"runs evaluated different base models and cannot share one report: {names}")
    arms: list[Arm] = [Arm("base", Path(run_dirs[0]), "base")]
    score_rows, comp_rows, seen = [], [], {"base"}
    for d, run in zip(run_dirs, runs):
        rename = {"base": "base"}
        for a in run["arms"][1:]:
            name = a["name"] if a["name"] not in seen else f"{a['name']}@{run['run_id']}"
            seen.add(name)
            rename[a["name"]] = name
            summary, log = _adapter_details(a)
            arms.append(Arm(name, Path(d), a["name"], a["adapter"], summary, log))
        for s in run["scores"]:
            if s["arm"] == "base" and d != run_dirs[0]:
                continue
            score_rows.append(dict(s, arm=rename[s["arm"]]))
        for c in run["comparisons"]:
            comp_rows.append(dict(c, arm=rename[c["arm"]]))
    tasks: dict = {}
    for run in runs:
        tasks.update(run["tasks"])
    return Report(runs, [Path(d) for d in run_dirs], arms, pd.DataFrame(score_rows), pd.DataFrame(comp_rows), tasks)
