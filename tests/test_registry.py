"""The adapter registry: commands, names in `harness run`, concurrency, and refusing files it must not touch."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import ENGINE_TASKS, build_adapter

from adapters_registry import Registry, store
from harness.cli.app import main
from harness.core import results
from harness.core.errors import HarnessError


@pytest.fixture
def reg_path(tmp_path) -> Path:
    return tmp_path / "reg.sqlite"


def cli(reg_path, *argv) -> int:
    return main(["registry", "--registry", str(reg_path), *argv])


def test_add_list_show_remove(reg_path, tiny_adapters, capsys):
    assert cli(reg_path, "add", str(tiny_adapters[0]), "--name", "first", "--tag", "sweep", "--tag", "r4") == 0
    assert cli(reg_path, "list", "--json") == 0
    out = capsys.readouterr().out
    (entry,) = json.loads(out[out.index("["):])
    assert entry["name"] == "first" and entry["tags"] == ["r4", "sweep"] and entry["peft"]["r"] == 4
    assert entry["path"] == str(tiny_adapters[0].resolve()) and entry["fingerprint"].startswith("sha256:")
    assert cli(reg_path, "list") == 0
    assert "first" in capsys.readouterr().out
    assert cli(reg_path, "show", "first") == 0
    assert "fingerprint" in capsys.readouterr().out
    assert cli(reg_path, "remove", "first") == 0
    assert tiny_adapters[0].joinpath("adapter_model.safetensors").exists(), "files are never deleted"
    assert Registry(reg_path).names() == []


@pytest.mark.parametrize("case, fragment", [
    ("duplicate", "the name 'first' is taken"),
    ("not_adapter", "adapter_config.json is missing"),
    ("unknown", "no adapter named 'frist' (close matches: first)"),
])
def test_bad_registry_input(case, fragment, reg_path, tiny_adapters, tmp_path, capsys):
    assert cli(reg_path, "add", str(tiny_adapters[0]), "--name", "first") == 0
    if case == "duplicate":
        rc = cli(reg_path, "add", str(tiny_adapters[1]), "--name", "first")
    elif case == "not_adapter":
        rc = cli(reg_path, "add", str(tmp_path), "--name", "second")
    else:
        rc = cli(reg_path, "show", "frist")
    assert rc == 2
    assert fragment in capsys.readouterr().err


def _run(reg_path, base, out, *adapters, extra=()):
    argv = ["run", "--base", str(base), "--tasks", "tiny_ll", "--include-path", str(ENGINE_TASKS), "--limit", "4",
            "--out", str(out), "--registry", str(reg_path), *extra]
    for a in adapters:
        argv += ["--adapter", str(a)]
    return main(argv)


def test_run_accepts_names_and_records_itself(reg_path, tiny_model, tiny_adapters, tmp_path, capsys):
    assert cli(reg_path, "add", str(tiny_adapters[0]), "--name", "good") == 0
    assert cli(reg_path, "add", str(tiny_adapters[1]), "--name", "other") == 0
    # a registered name and a plain path in one run
    assert _run(reg_path, tiny_model, tmp_path / "r1", "good", tiny_adapters[1]) == 0
    run = results.load_run(tmp_path / "r1")
    assert [a["name"] for a in run["arms"]] == ["base", "good", "lora1"]
    assert run["arms"][1]["adapter"]["path"] == str(tiny_adapters[0].resolve())
    reg = Registry(reg_path)
    (recorded,) = reg.runs()
    assert recorded["run_id"] == run["run_id"] and recorded["directory"] == str((tmp_path / "r1").resolve())
    history = reg.history("good")
    assert [(h["task"], h["metric"]) for h in history] == [("tiny_ll", "acc")]
    assert reg.history("other"), "a registered adapter given by path is recognised by its path"
    capsys.readouterr()
    assert cli(reg_path, "best", "--task", "tiny_ll", "--metric", "acc", "--json") == 0
    out = capsys.readouterr().out
    ranked = json.loads(out[out.index("["):])
    assert [r["value"] for r in ranked] == sorted((r["value"] for r in ranked), reverse=True) and len(ranked) == 2
    assert cli(reg_path, "accept", str(tmp_path / "r1")) == 0
    assert Registry(reg_path).accepted(run["base"]["fingerprint"])["run_id"] == run["run_id"]
    # --no-registry leaves it alone
    assert _run(reg_path, tiny_model, tmp_path / "r2", "good", extra=("--no-registry",)) == 2  # names need the registry
    assert len(Registry(reg_path).runs()) == 1


def test_unknown_name_in_run(reg_path, tiny_model, tiny_adapters, tmp_path, capsys):
    assert cli(reg_path, "add", str(tiny_adapters[0]), "--name", "good") == 0
    assert _run(reg_path, tiny_model, tmp_path / "r", "goood") == 2
    err = capsys.readouterr().err
    assert "--adapter goood: not a folder, and registry: no adapter named 'goood' (close matches: good)" in err
    assert not (tmp_path / "r" / "run.json").exists()


def test_changed_adapter_is_reported(reg_path, tiny_model, tiny_adapters, tmp_path, capsys):
    mine = tmp_path / "mine"
    shutil.copytree(tiny_adapters[0], mine)
    assert cli(reg_path, "add", str(mine), "--name", "mine") == 0
    old = Registry(reg_path).get("mine")["fingerprint"]
    build_adapter(tiny_model, mine, seed=99)  # retrained in place
    assert _run(reg_path, tiny_model, tmp_path / "r", "mine") == 0
    assert "adapter 'mine' changed since it was registered" in capsys.readouterr().err
    new = results.load_run(tmp_path / "r")["arms"][1]["adapter"]["fingerprint"]
    assert new != old
    assert Registry(reg_path).history("mine"), "the run is still in the adapter's history (by name)"


def test_trained_adapter_is_registered(reg_path, tiny_model, tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"instruction": f"word {i}", "output": "yes"}) + "\n" for i in range(4)))
    out = tmp_path / "trained"
    assert main(["train", "--base", str(tiny_model), "--data", str(data), "--out", str(out), "--max-steps", "1",
                 "--device", "cpu", "--registry", str(reg_path)]) == 0
    entry = Registry(reg_path).get("trained")
    assert entry["train_config"]["max_steps"] == 1 and entry["data_fingerprint"].startswith("sha256:")
    assert entry["train_summary"]["steps"] == 1


WRITER = textwrap.dedent("""
    import sys
    from adapters_registry import Registry
    path, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    reg = Registry(path)
    for i in range(n):
        run = {"run_id": f"{tag}-{i}", "created": "2026-01-01T00:00:00+00:00",
               "base": {"name": "b", "source": "s", "fingerprint": "sha256:b"},
               "arms": [{"name": "base", "adapter": None}],
               "scores": [{"task": "t", "metric": f"m{j}", "arm": "base", "value": j, "stderr": None, "ci95": None,
                           "n": 1, "higher_is_better": True} for j in range(25)]}
        reg.record_run(run, f"/runs/{tag}-{i}", {})
""")


def test_two_processes_lose_nothing(reg_path):
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(reg_path), tag, "40"], stderr=subprocess.PIPE, text=True)
             for tag in ("a", "b")]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()
    conn = sqlite3.connect(reg_path)
    assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 80
    assert conn.execute("SELECT COUNT(*) FROM scores").fetchone()[0] == 80 * 25
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _untouched(path: Path, fn):
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    with pytest.raises(HarnessError) as e:
        fn()
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    return str(e.value)


def test_corrupt_file_is_refused_and_untouched(tmp_path):
    bad = tmp_path / "reg.sqlite"
    bad.write_bytes(b"this is not a database at all" * 100)
    assert "not a readable SQLite file" in _untouched(bad, lambda: Registry(bad))


def test_foreign_sqlite_is_refused_and_untouched(tmp_path):
    foreign = tmp_path / "other.sqlite"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE notes (x TEXT)")
    conn.commit()
    conn.close()
    assert "not a harness registry" in _untouched(foreign, lambda: Registry(foreign))


def test_newer_schema_is_refused_and_untouched(reg_path):
    Registry(reg_path).close()
    conn = sqlite3.connect(reg_path)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    assert "schema version 99 is newer" in _untouched(reg_path, lambda: Registry(reg_path))


def test_registry_errors_stop_a_run_before_loading(tmp_path, tiny_model, capsys):
    bad = tmp_path / "reg.sqlite"
    bad.write_bytes(b"garbage" * 50)
    assert _run(bad, tiny_model, tmp_path / "r") == 2
    assert "or pass --no-registry" in capsys.readouterr().err


def test_schema_migrates_forward(reg_path, tiny_adapters, monkeypatch):
    from adapters_registry import adapter_entry

    reg = Registry(reg_path)
    reg.add_adapter(adapter_entry(str(tiny_adapters[0]), name="kept"))
    reg.close()
    next_version = store.SCHEMA_VERSION + 1
    monkeypatch.setattr(store, "MIGRATIONS", store.MIGRATIONS + [["ALTER TABLE adapters ADD COLUMN notes TEXT"]])
    monkeypatch.setattr(store, "SCHEMA_VERSION", next_version)
    reg = Registry(reg_path)
    assert reg.get("kept")["notes"] is None and reg.get("kept")["name"] == "kept"
    assert reg.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(next_version)


def test_best_ranks_like_with_like(reg_path, tiny_model, tiny_adapters, tmp_path, capsys):
    """A score on 2 documents is not ranked beside scores on 4: `best` ranks the newest run's documents and lists
    the others apart, with n and the reason."""
    assert cli(reg_path, "add", str(tiny_adapters[0]), "--name", "good") == 0
    assert _run(reg_path, tiny_model, tmp_path / "small", "good", extra=("--limit", "2")) == 0
    assert _run(reg_path, tiny_model, tmp_path / "big", tiny_adapters[1]) == 0  # --limit 4 (newest)
    rows = Registry(reg_path).best("tiny_ll", "acc")
    ranked = [r for r in rows if r["comparable"]]
    others = [r for r in rows if not r["comparable"]]
    assert [r["n"] for r in ranked] == [4] and [r["n"] for r in others] == [2]
    assert others[0]["reason"].startswith("other documents (n=2 vs n=4")
    capsys.readouterr()
    assert cli(reg_path, "best", "--task", "tiny_ll", "--metric", "acc") == 0
    out = capsys.readouterr().out
    assert "(n=4)" in out and "not ranked with them" in out and "other documents (n=2 vs n=4" in out
    assert cli(reg_path, "runs") == 0
    assert "tiny_ll (n=2)" in capsys.readouterr().out


def test_version_1_registry_is_migrated(tmp_path):
    import sqlite3

    from adapters_registry import store

    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    for stmt in store.MIGRATIONS[0]:
        conn.execute(stmt)
    conn.execute("INSERT INTO meta VALUES ('app', ?)", (store.APP,))
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    conn.commit()
    conn.close()
    reg = Registry(path)
    assert reg.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(store.SCHEMA_VERSION)
    assert "task_key" in [r[1] for r in reg.conn.execute("PRAGMA table_info(scores)")]


def test_locked_registry_never_fails_a_finished_run(tmp_path, reg_path, monkeypatch, capsys):
    """A finished run whose registry stays locked: exit 0, one warning with the command that records it later (in the
    same registry),
    after a wait bounded by HARNESS_REGISTRY_WAIT; that command then records it."""
    import time

    from adapters_registry.recording import record_or_warn, record_run_dir

    golden = Path(__file__).parent / "data" / "golden_run"
    Registry(reg_path).close()
    holder = sqlite3.connect(str(reg_path), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process is writing, and stays
    monkeypatch.setenv("HARNESS_REGISTRY_WAIT", "0.5")
    t0 = time.perf_counter()
    assert record_or_warn(reg_path, lambda reg: record_run_dir(reg, golden), "the run in R",
                          f"harness registry record {golden}") is None
    assert time.perf_counter() - t0 < 5
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: the run in R is complete") and "locked" in err[0]
    # The command names the registry it was given: without --registry it would record into the default one.
    assert err[0].endswith(f"`harness registry --registry {reg_path} record {golden}`")
    holder.execute("ROLLBACK")
    holder.close()
    assert cli(reg_path, "record", str(golden)) == 0
    run_id = json.loads((golden / "run.json").read_text())["run_id"]
    reg = Registry(reg_path)
    assert [r["run_id"] for r in reg.runs()] == [run_id] and reg.runs()[0]["directory"] == str(golden.resolve())
    reg.close()


def test_record_refuses_a_folder_that_is_not_a_run(tmp_path, reg_path, capsys):
    assert cli(reg_path, "record", str(tmp_path)) == 2
    assert "no run.json" in capsys.readouterr().err and not reg_path.exists()


def _candidates(reg_path, scores: list[tuple[float, list | None]], metric="acc", higher_is_better=True,
                registered=None):
    """One run whose adapter arms c0, c1, ... scored `scores` (value, stored 95% CI) on one task's documents; the
    arms numbered in `registered` (default: all) have a registered adapter name, cand0, cand1, ..."""
    arms = [{"name": "base", "adapter": None}] + [
        {"name": f"c{i}", "adapter": {"path": f"/a/c{i}", "fingerprint": f"sha256:c{i}", "peft": {}}}
        for i in range(len(scores))]
    run = {"run_id": f"sweep-{metric}", "created": "2026-01-01T00:00:00+00:00",
           "base": {"name": "b", "source": "s", "fingerprint": "sha256:b"}, "arms": arms,
           "tasks": {"t": {"config_hash": "sha256:t", "documents": "sha256:d", "n_docs": 200}},
           "scores": [{"task": "t", "metric": metric, "arm": f"c{i}", "value": v, "stderr": None, "ci95": ci, "n": 200,
                       "higher_is_better": higher_is_better} for i, (v, ci) in enumerate(scores)]}
    reg = Registry(reg_path)
    names = range(len(scores)) if registered is None else registered
    reg.record_run(run, "/runs/sweep", {f"c{i}": f"cand{i}" for i in names})
    reg.close()


def _best_json(reg_path, capsys, metric="acc") -> list[dict]:
    capsys.readouterr()
    assert cli(reg_path, "best", "--task", "t", "--metric", metric, "--json") == 0
    out = capsys.readouterr().out
    return json.loads(out[out.index("["):])


def test_best_shows_simultaneous_intervals_and_the_tied_set(reg_path, capsys):
    """Ten identical candidates are all tied with the best, none singled out; one clearly better candidate among
    nine equal ones stands alone. The simultaneous intervals are the stored 95% CIs widened, each side, by
    z_{1-0.025/K} / 1.959964 (Bonferroni over the K candidates), recomputed here with scipy."""
    from scipy.stats import norm

    factor = norm.isf(0.025 / 10) / 1.959964
    _candidates(reg_path, [(0.70, [0.63, 0.76])] * 10)
    rows = _best_json(reg_path, capsys)
    assert [r["status"] for r in rows] == ["best"] + ["tied"] * 9
    for r in rows:
        assert r["ci95"] == [0.63, 0.76]
        assert r["sim_ci"] == pytest.approx([0.70 - 0.07 * factor, 0.70 + 0.06 * factor], abs=1e-9)
    assert cli(reg_path, "best", "--task", "t", "--metric", "acc") == 0
    out = capsys.readouterr().out
    assert "method: simultaneous 95% intervals over the K = 10 candidates" in out and f"x{factor:.3f}" in out
    assert "statistically tied with the best (10 of 10)" in out
    assert f"[{0.70 - 0.07 * factor:.4f}, {0.70 + 0.06 * factor:.4f}]" in out

    # one clearly best (0.90 [0.85, 0.94]) among nine at 0.60 [0.53, 0.67], and one whose run stored no interval
    _candidates(reg_path, [(0.60, [0.53, 0.67])] * 4 + [(0.90, [0.85, 0.94])] + [(0.60, [0.53, 0.67])] * 5
                + [(0.95, None)], metric="f1")
    rows = _best_json(reg_path, capsys, "f1")
    assert [(r["adapter_name"], r["status"]) for r in rows[:2]] == [("cand10", "no interval"), ("cand4", "best")]
    assert [r["status"] for r in rows[2:]] == ["worse"] * 9
    best_lo = 0.90 - 0.05 * factor  # K = 10: the candidate without an interval is not compared
    assert rows[1]["sim_ci"][0] == pytest.approx(best_lo) and rows[2]["sim_ci"][1] == pytest.approx(0.60 + 0.07 * factor)
    assert 0.60 + 0.07 * factor < best_lo
    assert cli(reg_path, "best", "--task", "t", "--metric", "f1") == 0
    out = capsys.readouterr().out
    assert "best: cand4, alone" in out and "1 without an interval, not compared" in out and "no interval" in out


def test_best_ties_for_lower_is_better(reg_path, capsys):
    """Perplexity: the best is the lowest, and a candidate is tied when its simultaneous lower bound reaches the
    best one's upper bound."""
    from scipy.stats import norm

    factor = norm.isf(0.025 / 3) / 1.959964
    _candidates(reg_path, [(10.0, [9.0, 11.0]), (12.0, [11.0, 13.0]), (20.0, [19.0, 21.0])],
                metric="token_perplexity", higher_is_better=False)
    rows = _best_json(reg_path, capsys, "token_perplexity")
    assert [(r["value"], r["status"]) for r in rows] == [(10.0, "best"), (12.0, "tied"), (20.0, "worse")]
    assert 12.0 - factor <= 10.0 + factor < 20.0 - factor


def test_best_without_any_interval_says_no_tie_can_be_judged(reg_path, capsys):
    """No candidate's run stored an interval: no Bonferroni line "widened to 95.00% ... x1.000" for a method that
    was never applied; unregistered arms are shown by arm, never as "None"."""
    _candidates(reg_path, [(0.70, None), (0.60, None), (0.65, None)], registered=[1])
    rows = _best_json(reg_path, capsys)
    assert [r["status"] for r in rows] == ["no interval"] * 3
    assert cli(reg_path, "best", "--task", "t", "--metric", "acc") == 0
    out = capsys.readouterr().out
    assert "method: no candidate has an interval (their runs stored none), so no tie can be judged" in out
    assert "Bonferroni" not in out and "95.00%" not in out and "x1.000" not in out
    assert "no candidate has an interval, so no tie can be judged" in out.splitlines()[-1]
    table = {ln.split()[2]: ln.split()[1] for ln in out.splitlines() if ln.strip()[:1].isdigit()}  # arm -> name
    assert table == {"c0": "(unregistered)", "c1": "cand1", "c2": "(unregistered)"}
    assert "None" not in out


def test_best_names_an_unregistered_arm_by_its_arm(reg_path, capsys):
    _candidates(reg_path, [(0.70, [0.63, 0.76]), (0.69, [0.62, 0.75])], registered=[1])
    assert cli(reg_path, "best", "--task", "t", "--metric", "acc") == 0
    out = capsys.readouterr().out
    assert "statistically tied with the best (2 of 2): c0 (unregistered), cand1" in out and "None" not in out
