"""The README's quick start, run literally: its lines, from a temporary folder laid out like a clone (examples/ beside,
the shared assets at ../shared through a symlink), with the relative paths exactly as printed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def quickstart_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- quickstart:begin -->\n(.*?)<!-- quickstart:end -->", text, re.S)
    assert m, "README.md lost its quick-start markers"
    lines = [ln[4:] if ln.startswith("    ") else ln for ln in m.group(1).splitlines()]
    commands, current = [], ""
    for ln in lines:
        current += ln.rstrip("\\").rstrip() + " " if ln.endswith("\\") else ln
        if not ln.endswith("\\"):
            if current.strip():
                commands.append(current.strip())
            current = ""
    return commands


def test_quickstart_block_is_found():
    cmds = quickstart_commands()
    assert cmds[0].startswith("S=") and [c.split()[1] for c in cmds[1:]] == ["train", "run", "gate", "report", "registry"]


@pytest.mark.slow
def test_readme_quickstart_literally(tmp_path, shared):
    work = tmp_path / "clone"
    work.mkdir()
    (tmp_path / "shared").symlink_to(shared.resolve(), target_is_directory=True)
    (work / "examples").symlink_to(REPO / "examples", target_is_directory=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "HARNESS_REGISTRY": str(tmp_path / "registry.sqlite"), "HARNESS_CACHE_DIR": str(tmp_path / "cache"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    before = {p: p.stat().st_mtime_ns for p in (shared / "models" / "tinystories-656k").rglob("*")}
    variables = ""
    outputs = {}
    for cmd in quickstart_commands():
        if re.fullmatch(r"\w+=\S+", cmd):
            variables += cmd + "; "
            continue
        r = subprocess.run(["bash", "-c", variables + cmd], cwd=work, env=env, capture_output=True, text=True,
                           timeout=900)
        sub = cmd.split()[1]
        outputs[sub] = r
        expected = (1,) if sub == "gate" else (0,)
        assert r.returncode in expected, f"{cmd}\nexit {r.returncode}\n{r.stderr[-2000:]}"
        assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr[-2000:]
    run = json.loads((work / "runs" / "first" / "run.json").read_text())
    adapter = next(a for a in run["arms"] if a["name"] == "ts-yelp")["adapter"]
    # run.json records absolute paths, whatever was typed
    assert adapter["path"] == str((work / "out" / "ts-yelp").resolve())
    assert Path(run["config"]["out"]).is_absolute() and Path(run["config"]["data"]["yelp"]).is_absolute()
    assert {s["task"] for s in run["scores"]} == {"yelp", "general_qa"}
    assert all(s["n"] == 30 for s in run["scores"])
    for f in ("gate.json", "report.md", "report.html", "tables.tex", "tables-full.tex", "plots/scores.png"):
        assert (work / "runs" / "first" / f).is_file(), f
    # the recorded gate marks the adapter on the report's first screen
    assert "**FAIL** · **ts-yelp** — gate:" in (work / "runs" / "first" / "report.md").read_text()
    assert "registered as 'ts-yelp'" in outputs["train"].stdout
    assert run["run_id"] in outputs["registry"].stdout
    # 30 questions cannot show that general knowledge dropped by less than the 0.02 budget: inconclusive fails
    assert "verdict: FAIL" in outputs["gate"].stdout and "FAIL  rule 5: forgetting" in outputs["gate"].stdout
    assert "inconclusive: n = 30 cannot show a drop smaller than 0.02" in outputs["gate"].stdout
    # the inputs were only read
    assert {p: p.stat().st_mtime_ns for p in (shared / "models" / "tinystories-656k").rglob("*")} == before
