"""The benchmark script's quick mode: it runs, and harness and stock lm-eval scores match (no timing asserted)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_quick_mode():
    r = subprocess.run([sys.executable, "-m", "benchmarks.compare", "--quick"], cwd=ROOT, capture_output=True, text=True,
                       timeout=900, env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    m = re.search(r"scores: harness == stock lm-eval on (\d+) \(arm, task, metric\) values", r.stdout)
    # --quick: the base and one adapter, each in the one-adapter and in the many-adapter run, on every task's metrics
    assert m and int(m.group(1)) >= 80, r.stdout
    for label in ("cold b+1", "warm b+1", "many b+4", "RSS b+4/b+1", "ppl/ceiling", "gen/ceiling"):
        assert label in r.stdout
