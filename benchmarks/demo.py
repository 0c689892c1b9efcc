"""The demo's figures, measured: runs `harness demo` as a user does, times it, and takes the headline table from the
report it wrote. The README's demo table is this script's output (between its demo-headline markers).

    python -m benchmarks.demo [--quick] [--work DIR] [--write]

Prints the wall and CPU time, the peak memory, the gate's result and the headline's first rows. Without --write, it
compares those rows with the README's (exit 0 when they are the same, else 1 and the rows that differ: on another
CPU the adapter's rows may, within the tolerance docs/demo.md states, since the adapter is trained on this CPU).
`--write` records the result in benchmarks/results/ and the figures in harness/demo/expected.json (the demo compares
its own with them in its last line; the tests compare the quick demo's), and puts the table into README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from harness.demo import figures

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
BEGIN, END = "<!-- demo-headline:begin -->", "<!-- demo-headline:end -->"


def cpu_name() -> str:
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.machine()
    model = re.search(r"^model name\s*:\s*(.+)$", info, re.M)
    isa = "AVX512" if " avx512f" in info else "AVX2" if " avx2" in info else "no AVX2"
    return f"{model.group(1).strip() if model else platform.machine()} ({isa})"


def headline(report_md: str) -> list[str]:
    """The report's headline table as the README shows it: its header and the rows figures.ROWS names."""
    section = report_md.split("\n## Headline", 1)[1].split("\n## ", 1)[0]
    rows = [ln.replace("&lt;", "<") for ln in section.splitlines() if ln.startswith("|")]
    keep = {f"| {task} | {metric} " for task, metric in figures.ROWS}
    return rows[:2] + [r for r in rows[2:] if any(r.startswith(k) for k in keep)]


def run_demo(work: Path, quick: bool) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "harness", "demo", *(["--quick"] if quick else []), "--out",
                           str(work / "demo")], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"harness demo failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    gate = json.loads((work / "demo" / "run" / "gate.json").read_text())
    run = json.loads((work / "demo" / "run" / "run.json").read_text())
    return {"date": date.today().isoformat(), "quick": quick, "machine": f"{os.cpu_count()}-core {cpu_name()}",
            "wall_s": round(wall), "cpu_s": round(usage.ru_utime + usage.ru_stime),
            "peak_rss_mb": round(usage.ru_maxrss / 1024),
            "gate": f"{sum(r['passed'] for r in gate['rules'])} of {len(gate['rules'])} rules pass",
            "headline": headline((work / "demo" / "run" / "report.md").read_text()), "figures": figures.headline(run)}


def block(result: dict) -> str:
    said = (f"Measured {result['date']} on a {result['machine']}, nothing else running: `harness demo` "
            f"{result['wall_s']} s wall, {result['cpu_s']} s CPU, peak RSS {result['peak_rss_mb']} MB; its gate: "
            f"{result['gate']}. The headline's first rows:")
    return "\n".join([BEGIN, said, "", *result["headline"], END])


def readme_block(text: str) -> str:
    return BEGIN + text.split(BEGIN, 1)[1].split(END, 1)[0] + END


def record(result: dict) -> Path:
    name = f"{result['date']}-demo{'-quick' if result['quick'] else ''}-{platform.machine()}-{os.cpu_count()}cpu.json"
    path = REPO / "benchmarks" / "results" / name
    path.write_text(json.dumps(result, indent=1) + "\n")
    recorded = json.loads(figures.EXPECTED.read_text()) if figures.EXPECTED.is_file() else {}
    recorded["quick" if result["quick"] else "full"] = {k: result[k] for k in ("date", "machine", "figures")}
    figures.EXPECTED.write_text(json.dumps(recorded, indent=1) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="the quick demo (its table is not the README's)")
    p.add_argument("--work", type=Path, help="where the demo runs (default: a temporary folder)")
    p.add_argument("--write", action="store_true", help="record the result and put the table into README.md")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        result = run_demo((a.work or Path(tmp)).resolve(), a.quick)
    print(f"{result['machine']}: harness demo{' --quick' if a.quick else ''} {result['wall_s']} s wall, "
          f"{result['cpu_s']} s CPU, peak RSS {result['peak_rss_mb']} MB; gate: {result['gate']}")
    print("\n".join(result["headline"]))
    if a.write:
        print(f"recorded in {record(result).relative_to(REPO)}")
        if not a.quick:
            text = README.read_text()
            README.write_text(text.replace(readme_block(text), block(result)))
            print("README.md's demo headline written")
        return 0
    if a.quick:
        return 0
    shown = [ln for ln in readme_block(README.read_text()).splitlines() if ln.startswith("|")]
    differ = [row for row in result["headline"] if row not in shown]
    print("README.md's demo headline: " + ("the same rows" if not differ else
                                           "these rows differ (--write records them):\n" + "\n".join(differ)))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
