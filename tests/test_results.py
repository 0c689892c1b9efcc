"""The run.json schema validator and atomic writes."""

import copy
import json
from pathlib import Path

import pytest

from harness.core import results, stats


def good_run() -> dict:
    return {
        "schema": results.SCHEMA, "run_id": "r", "created": "2026-01-01T00:00:00+00:00", "config": {},
        "environment": {}, "base": {"name": "b", "source": "s", "fingerprint": "sha256:x", "dtype": "float32",
                                    "quantization": "none"},
        "arms": [{"name": "base", "adapter": None},
                 {"name": "out", "adapter": {"path": "/a", "fingerprint": "sha256:y", "peft": {"r": 4}}}],
        "tasks": {"t": {"version": 1.0, "n_docs": 3, "config_hash": "sha256:z"}},
        "scores": [{"task": "t", "metric": "acc", "arm": a, "value": 0.5, "stderr": 0.1, "ci95": [0.3, 0.7], "n": 3,
                    "higher_is_better": True} for a in ("base", "out")],
        "comparisons": [],
        "timing": {"load_s": 1.0, "arms": {}},
        "resources": {"peak_rss_bytes": 1, "peak_gpu_bytes": None},
    }


def test_good_run_validates():
    assert results.validate_run(good_run()) == []


@pytest.mark.parametrize("mutate, fragment", [
    (lambda r: r.update(schema="harness.run/0"), "schema"),
    (lambda r: r.pop("scores"), "run.scores: missing"),
    (lambda r: r["scores"][0].update(arm="ghost"), "not an arm"),
    (lambda r: r["scores"][0].update(value="high"), "scores[0].value"),
    (lambda r: r["scores"][0].update(ci95=[1]), "ci95"),
    (lambda r: r["arms"].pop(0), "no arm named 'base'"),
    (lambda r: r["arms"][1].pop("adapter"), "arms[1].adapter"),
    (lambda r: r["tasks"]["t"].pop("n_docs"), "tasks.t.n_docs"),
    (lambda r: r["resources"].update(peak_rss_bytes=1.5), "peak_rss_bytes"),
])
def test_invalid_runs(mutate, fragment):
    run = copy.deepcopy(good_run())
    mutate(run)
    problems = results.validate_run(run)
    assert problems and any(fragment in p for p in problems), problems


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "run.json"
    results.write_json(target, {"a": 1})
    results.write_json(target, {"a": 2, "nan": float("nan")})
    assert json.loads(target.read_text()) == {"a": 2, "nan": None}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_failed_write_keeps_old_file(tmp_path):
    target = tmp_path / "run.json"
    results.write_json(target, {"a": 1})

    class Boom:
        def __str__(self):
            raise RuntimeError("cannot serialise")

    with pytest.raises(RuntimeError):
        results.write_json(target, {"a": Boom()})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_load_run_errors(tmp_path):
    from harness.core.errors import HarnessError

    with pytest.raises(HarnessError, match="no run.json"):
        results.load_run(tmp_path)
    (tmp_path / "run.json").write_text("{")
    with pytest.raises(HarnessError, match="not valid JSON"):
        results.load_run(tmp_path)


def test_a_full_disk_names_the_file_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    """ENOSPC in the middle of a write: the error names the file, no temporary file is left, an older file survives
    whole, and the CLI prints one line with the path (exit 2)."""
    import errno
    import os

    from harness.cli.app import main
    from harness.core import results as res

    target = tmp_path / "run.json"
    target.write_text('{"old": true}\n')

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    try:
        res.write_json(target, {"new": True})
    except OSError as e:
        assert e.errno == errno.ENOSPC and e.filename == str(target)
    else:
        raise AssertionError("the write should have failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"] and target.read_text() == '{"old": true}\n'
    golden = Path(__file__).parent / "data" / "golden_run"
    assert main(["report", str(golden), "--out", str(tmp_path / "rep"), "--format", "md"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"error: {tmp_path / 'rep' / 'report.md'}: No space left on device")


def test_missing_per_document_values_are_left_out_counted_and_the_run_stays_readable(tmp_path):
    """A document whose value is null (a metric that could not be computed for it) is left out of that comparison
    and counted; run.json stays valid and loads back; the report renders."""
    import shutil

    from harness.core import comparisons
    from reports.write import write_report

    d = tmp_path / "run"
    shutil.copytree(Path(__file__).parent / "data" / "golden_run", d)
    rows = results.read_samples(d, "lora_r8", "general_qa")
    for r in rows[:3]:
        r["metrics"]["exact_match"] = None
    results.write_jsonl(results.samples_path(d, "lora_r8", "general_qa"), rows)
    run = comparisons.fill(results.load_run(d), d, resamples=200)
    c = next(c for c in run["comparisons"] if (c["task"], c["metric"], c["arm"]) == ("general_qa", "exact_match", "lora_r8"))
    base = [r["metrics"]["exact_match"] for r in results.read_samples(d, "base", "general_qa")]
    tuned = [r["metrics"]["exact_match"] for r in rows]
    kept = [(b, t) for b, t in zip(base, tuned) if t is not None]
    assert c["n"] == 27 and c["n_missing"] == 3
    assert c["delta"] == pytest.approx(sum(t - b for b, t in kept) / 27) and c["p_value"] is not None
    assert not results.validate_run(run)
    results.write_json(d / "run.json", run)
    assert results.load_run(d)["comparisons"]
    _, written, _ = write_report([d], tmp_path / "out", {"md"})
    assert "report.md" in written


def test_gate_and_report_judge_an_older_run_on_the_numbers_of_today(tmp_path):
    """A run written under an older statistical contract: the gate and the report both recompute its comparisons
    in memory (the same numbers), and neither rewrites it."""
    import shutil

    from harness.core import comparisons
    from harness.gate.judge import judge

    d = tmp_path / "run"
    shutil.copytree(Path(__file__).parent / "data" / "golden_run", d)
    run = results.load_run(d)
    today = {(c["task"], c["metric"], c["arm"]): c["ci95"] for c in run["comparisons"]}
    run["statistics"]["version"] = 1
    for c in run["comparisons"]:
        if c["ci95"]:
            c["ci95"] = [c["ci95"][0] - 1.0, c["ci95"][1] + 1.0]  # what an older method said
    results.write_json(d / "run.json", run)
    before = (d / "run.json").read_bytes()
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - kind: improves\n    task: yelp\n    metric: accuracy\n")
    judged, verdicts = judge(d, rules)
    assert {(c["task"], c["metric"], c["arm"]): c["ci95"] for c in judged["comparisons"]} == today
    lo = today[("yelp", "accuracy", "lora_r8")][0]
    assert f"lower bound +{lo:.4f}" in verdicts[0].checks[0].detail
    assert (d / "run.json").read_bytes() == before
    # asking another adjustment of a current run re-adjusts the recorded p-values and recomputes nothing else
    current = results.load_run(Path(__file__).parent / "data" / "golden_run")
    bh = comparisons.current(copy.deepcopy(current), d, "bh")
    assert [c["ci95"] for c in bh["comparisons"]] == [c["ci95"] for c in current["comparisons"]]
    family = [c["p_value"] for c in current["comparisons"] if c["family"]]
    assert [c["p_adjusted"] for c in bh["comparisons"] if c["family"]] == stats.adjust(family, "bh")
    assert bh["statistics"]["multiplicity"] == "bh"
