"""Per-document scores through the command line: tiny changes never make a forgetting gate pass.

The case an audit found: 40 identical answers give an inconclusive forgetting check; 12 of those answers moving by
+-0.01 (mean change exactly 0) made the same rule PASS with an interval 50 times narrower, because the interval
assumed every unseen change was as small as the ones seen. Now it stays inconclusive, no narrower."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from harness.cli.app import main
from harness.core import results

RULE = {"kind": "forgetting", "task": "general_qa", "metric": "f1", "budget": 0.02}


def _run(folder: str, base: list[float], tuned: list[float]) -> str:
    """A run directory of one probe (general_qa, token F1 per question), written where a user's run would be."""
    for arm, values in (("base", base), ("lora", tuned)):
        rows = [{"doc_id": i, "doc_hash": f"h{i}", "filter": "none", "metrics": {"f1": v}} for i, v in enumerate(values)]
        results.write_jsonl(results.samples_path(Path(folder), arm, "general_qa"), rows)
    run = {"schema": results.SCHEMA, "run_id": folder, "created": "2026-12-07T00:00:00+00:00", "config": {},
           "environment": {}, "base": {"name": "b", "source": "b", "fingerprint": "sha256:b", "dtype": "float32",
                                       "quantization": "none"},
           "arms": [{"name": "base", "adapter": None},
                    {"name": "lora", "adapter": {"path": "ad", "fingerprint": "sha256:a", "peft": {}}}],
           "tasks": {"general_qa": {"version": 1, "n_docs": len(base), "config_hash": "h",
                                    "aggregations": {"f1": "mean"}, "unit": "question"}},
           "scores": [{"task": "general_qa", "metric": "f1", "arm": a, "value": sum(v) / len(v), "stderr": None,
                       "ci95": None, "n": len(v), "higher_is_better": True} for a, v in (("base", base), ("lora", tuned))],
           "comparisons": [], "timing": {"load_s": 0, "arms": {}},
           "resources": {"peak_rss_bytes": 0, "peak_gpu_bytes": None}}
    results.write_json(Path(folder) / "run.json", run)
    return folder


def _gate(folder: str, capsys) -> tuple[int, str, tuple[float, float]]:
    with open("gates.yaml", "w") as f:
        yaml.safe_dump({"rules": [RULE]}, f)
    code = main(["gate", folder, "--rules", "gates.yaml"])  # relative paths, from the working folder
    out = capsys.readouterr().out
    # the rule's check line (the adapter's FAIL line below repeats a failing one)
    (line,) = [x for x in out.splitlines() if "general_qa/f1: change" in x and x.strip().startswith(("ok", "BAD"))]
    lo, hi = re.search(r"\[95% CI ([-+]\d\.\d+), ([-+]\d\.\d+)\]", line).groups()
    return code, line, (float(lo), float(hi))


@pytest.mark.parametrize("n_same", [28, 40])
def test_tiny_changes_with_mean_zero_stay_inconclusive_and_no_narrower(capsys, n_same):
    """28 + 12 = 40 answers (12 of the 40 move) and 40 + 12 = 52 (12 answers added): both inconclusive, with an
    interval no narrower than the 40-identical run's."""
    code, line, (lo0, hi0) = _gate(_run("same", [0.5] * 40, [0.5] * 40), capsys)
    assert code == 1 and "inconclusive" in line and lo0 < -0.08, line  # 0 of 40 changed: about [-0.088, +0.088]
    n = n_same + 12
    moved = [0.5] * n_same + [0.51] * 6 + [0.49] * 6
    code, line, (lo, hi) = _gate(_run("moved", [0.5] * n, moved), capsys)
    assert code == 1 and "inconclusive" in line, line
    same_n = _gate(_run(f"same{n}", [0.5] * n, [0.5] * n), capsys)[2]
    assert hi - lo >= same_n[1] - same_n[0]  # never narrower than no change at all at the same n
    if n == 40:
        assert hi - lo >= hi0 - lo0
    else:  # 52 documents: no change at n = 52 is itself narrower than at 40; the moves add width, never remove it
        assert lo < -0.068 and hi > 0.068, line


def test_a_real_drop_hidden_among_tiny_changes_does_not_pass(capsys):
    """Many tiny changes and two large drops (true mean change -0.02 at the budget): not a pass."""
    base = [0.5] * 100
    tuned = [0.51, 0.49] * 45 + [0.5] * 8 + [0.0, 0.0]  # mean change -0.01 here, two answers lost entirely
    code, line, (lo, _) = _gate(_run("hidden", base, tuned), capsys)
    assert code == 1 and lo < -0.02 and "inconclusive" in line, line


def test_plan_recomputes_a_run_of_an_older_contract_and_never_plans_below_the_minimum(capsys):
    """`harness plan` on a run whose run.json was written before this contract: today's numbers from its samples
    (the 12 tiny moves once gave an MDE of 0.0024); an effect of 0.5 still needs the 10 documents an interval needs."""
    import json

    folder = _run("old", [0.5] * 40, [0.5] * 28 + [0.51] * 6 + [0.49] * 6)
    assert main(["plan", folder, "--effect", "0.05", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["rows"]
    assert row["pilot_mde"] > 0.1 and row["documents"] > 40
    assert main(["plan", folder, "--effect", "0.9", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["rows"]
    assert row["documents"] == 10  # the exact search starts at the minimum
    from harness.cli.plan import plan_row

    corpus = {"task": "yelp", "metric": "f1_macro", "arm": "lora", "n": 150, "var_unit": 0.4, "min_n": 20,
              "test": "paired-bootstrap+permutation", "n_too_small": False}
    row = plan_row(corpus, 0.5, 0.8)  # the normal formula says 13
    assert row["documents"] == 20 and "raised to the 20 a comparison needs for an interval, of which 20 must change" \
        in row["note"]
