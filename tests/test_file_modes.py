"""Written files follow the umask like any file the user creates (mkstemp alone would leave them 0600)."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
from conftest import ENGINE_TASKS

from harness.cli.app import main

GOLDEN = Path(__file__).resolve().parent / "data" / "golden_run"


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in root.rglob("*") if p.is_file()}


def test_run_report_and_gate_files_are_0644(umask_022, tiny_model, tiny_adapters, tmp_path):
    out = tmp_path / "run"
    assert main(["run", "--base", str(tiny_model), "--adapter", str(tiny_adapters[0]), "--tasks", "tiny_ll",
                 "--include-path", str(ENGINE_TASKS), "--limit", "2", "--out", str(out), "--cache-dir",
                 str(tmp_path / "cache"), "--no-registry"]) == 0
    assert main(["report", str(out)]) == 0
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {kind: floor, task: tiny_ll, metric: acc, value: 0.0}\n")
    assert main(["gate", str(out), "--rules", str(rules), "--junit", str(out / "gate.xml"), "--json",
                 str(out / "gate.json")]) == 0
    modes = _modes(out)
    for name in ("run.json", "samples/base/tiny_ll.jsonl", "report.md", "report.html", "tables.tex", "gate.xml",
                 "gate.json"):
        assert modes[name] == 0o644, (name, oct(modes[name]))
    assert all(m == 0o644 for m in modes.values()), {k: oct(v) for k, v in modes.items() if v != 0o644}


def test_a_stricter_umask_is_followed_too(tmp_path):
    old = os.umask(0o077)
    try:
        shutil.copytree(GOLDEN, tmp_path / "run")
        assert main(["report", str(tmp_path / "run"), "--format", "md"]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "run" / "report.md").stat().st_mode) == 0o600
