"""Stopping once decided: the betting bounds against an independent computation, their decisions under optional
stopping by simulation, and `harness run --until-decided` end to end on a real (tiny) model."""

from __future__ import annotations

import csv
import json
import math
import random
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.cli.app import main
from harness.core import results, sequential
from harness.gate.sequential import FAIL, PASS, Bounds, decide

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # benchmarks/ is not an installed package
from benchmarks import stopping  # noqa: E402


def _capital_by_hand(x: list[float], m: float, alpha: float = 0.025) -> list[float]:
    """The gambler's log capital after each value, written out as the paper states it, one value at a time."""
    logs, total, s, sq = [], 0.0, 0.0, 0.0
    for i, xi in enumerate(x, 1):
        mu_before = (0.5 + s) / i
        var = (0.25 + sq) / i
        lam = min(math.sqrt(2 * math.log(1 / alpha) / (var * i * math.log(1 + i))), sequential.BET_CAP)
        total += math.log(1 + lam * (xi - m))
        logs.append(total)
        sq += (xi - mu_before) ** 2
        s += xi
    return logs


@pytest.mark.parametrize("p,n", [(0.3, 200), (0.9, 60), (0.5, 1000)])
def test_the_bounds_are_where_the_capital_crosses_one_over_alpha(p, n):
    x = np.random.default_rng(int(p * 100) + n).binomial(1, p, n).astype(float).tolist()
    looks = sequential.schedule(n, 16)
    lo, hi = sequential.bounds(x, looks)
    target = math.log(40)
    at_looks = lambda m: [_capital_by_hand(x, m)[k - 1] for k in looks]  # noqa: E731
    assert max(at_looks(lo - 1e-6)) >= target > max(at_looks(lo + 1e-6))
    flipped = [1 - v for v in x]  # the upper bound: the same bet on 1 - x
    if hi < 1:
        assert max(_capital_by_hand(flipped, 1 - hi - 1e-6)[k - 1] for k in looks) >= target
    assert max(_capital_by_hand(flipped, 1 - hi + 1e-6)[k - 1] for k in looks) < target
    assert lo < np.mean(x) < hi


def test_all_ones_give_the_closed_form_bound():
    # every value 1: capital prod(1 + lam_i (1 - m)) = 40 solved for m by bisection on the hand-written bets
    x = [1.0] * 40
    lo, hi = sequential.bounds(x)
    a, b = 0.0, 1.0
    for _ in range(60):
        mid = (a + b) / 2
        a, b = (mid, b) if max(_capital_by_hand(x, mid)) >= math.log(40) else (a, mid)
    assert lo == pytest.approx(a, abs=1e-9) and hi == 1.0
    lo_d, hi_d = sequential.difference_bounds([0.0] * 200)  # nothing changed: symmetric around 0, excludes no small change
    assert lo_d == pytest.approx(-hi_d, abs=1e-9) and lo_d < 0 < hi_d
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        sequential.bounds([0.5, 1.5])


def test_order_and_schedule():
    first = sequential.order(range(500), 1234)
    assert sorted(first) == list(range(500)) and first == sequential.order(range(500), 1234)
    assert first != sequential.order(range(500), 1) and first != list(range(500))
    assert sequential.order(range(10), 7) == sequential.order(list(range(10))[::-1], 7)  # input order does not matter
    assert sequential.schedule(1000) == [64, 128, 256, 512, 1000]
    assert sequential.schedule(1000, 64, 300) == [64, 128, 256, 300]
    assert sequential.schedule(40) == [40] and sequential.schedule(0) == []
    assert sequential.describe({"docs": 64, "of": 300, "reason": "decided: every check on it passed or failed"}) \
        == "decided after 64 of 300 documents"
    assert sequential.describe({"docs": 300, "of": 300, "reason": "documents ran out"}) == "scored all 300 documents"
    assert sequential.said({"docs": 64, "of": 300, "reason": "decided: every check on it passed or failed"}) \
        == "decided after 64 of 300 documents (every check on it passed or failed)"


@pytest.mark.parametrize("rule,bounds,want", [
    ({"kind": "improves"}, (0.01, 0.2), PASS), ({"kind": "improves"}, (-0.2, -0.01), FAIL),
    ({"kind": "improves"}, (-0.01, 0.2), None), ({"kind": "improves", "margin": 0.05}, (0.03, 0.05), FAIL),
    ({"kind": "forgetting", "budget": 0.05}, (-0.04, 0.1), PASS),
    ({"kind": "forgetting", "budget": 0.05}, (-0.3, -0.06), FAIL),
    ({"kind": "forgetting", "budget": 0.05}, (-0.06, 0.1), None),
    ({"kind": "floor", "value": 0.5}, (0.5, 0.9), PASS), ({"kind": "floor", "value": 0.5}, (0.1, 0.49), FAIL),
    ({"kind": "ceiling", "value": 0.1}, (0.0, 0.1), PASS), ({"kind": "ceiling", "value": 0.1}, (0.11, 0.3), FAIL),
    ({"kind": "ceiling", "value": 0.1}, (0.05, 0.3), None),
])
def test_a_check_is_decided_only_when_its_bounds_clear_the_threshold(rule, bounds, want):
    assert decide(rule, Bounds(*bounds, 100)) == want


def _assert_wrong_within_nominal(rows):
    for r in rows:
        for state, rate in r["wrong"].items():
            se = math.sqrt(stopping.NOMINAL * (1 - stopping.NOMINAL) / r["sims"])
            assert rate <= stopping.NOMINAL + 2 * se, (r["cell"].label, state, rate)


@pytest.mark.slow  # 5 cells x 300 simulated runs: about 15 s
def test_wrong_decisions_stay_within_the_nominal_rate_under_optional_stopping():
    rows = [stopping.run_cell(c, 300, i) for i, c in enumerate(stopping.cells(quick=True))]
    _assert_wrong_within_nominal(rows)
    # the simulation can see the failure it guards against: peeking at a fixed-n CI after every chunk
    assert max(v for r in rows[:2] for v in r["peek_wrong"].values()) > 0.05
    clear = rows[-1]
    assert clear["pass"] == 1.0 and clear["docs"][1] <= 128  # a clear win decided on a small fraction of 2000


# --- end to end -----------------------------------------------------------------------------------------------------

def _reviews(path: Path, n: int) -> None:
    rng = random.Random(0)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["label", "text"])
        w.writeheader()
        for i in range(n):
            w.writerow({"label": rng.randrange(5), "text": f"review {i}: " + " ".join(
                rng.choice(["good", "bad", "slow", "fresh", "rude"]) for _ in range(10))})


def _rules(path: Path, *rules: dict) -> Path:
    path.write_text(json.dumps({"rules": list(rules)}))  # JSON is YAML
    return path


@pytest.fixture
def world(tmp_path, tiny_model, tiny_adapters, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    shutil.copytree(tiny_model, work / "base")
    shutil.copytree(tiny_adapters[0], work / "lora")
    _reviews(work / "reviews.csv", 300)
    monkeypatch.chdir(work)  # relative paths, as a user types them
    return work


def _run(*extra: str) -> int:
    return main(["run", "--base", "base", "--adapter", "lora", "--tasks", "yelp", "--data", "yelp=reviews.csv",
                 "--cache-dir", "cache", "--no-registry", "--device", "cpu", "--max-gen-toks", "4", "--until-decided",
                 "--first-chunk", "32", *extra])


def test_a_decided_task_stops_after_the_first_chunk_and_a_rerun_is_answered_from_the_cache(world, capsys):
    # the tiny random model reads no star from any answer: unparseable_rate 1.0, far above a 0.5 floor
    _rules(world / "rules.yaml", {"kind": "floor", "task": "yelp", "metric": "unparseable_rate", "value": 0.5, "arm": "*"})
    assert _run("--rules", "rules.yaml", "--out", "run") == 0
    run = results.load_run(world / "run")
    stopped = run["tasks"]["yelp"]["stopped"]
    assert (stopped["docs"], stopped["of"], stopped["looks"]) == (32, 300, [32])
    assert stopped["reason"].startswith("decided") and stopped["method"] == sequential.METHOD
    order = sequential.order(range(300), 1234)
    for arm in ("base", "lora"):
        rows = results.read_samples(world / "run", arm, "yelp")
        assert sorted(r["doc_id"] for r in rows) == sorted(order[:32])  # the seeded order's first chunk, true ids
    assert run["tasks"]["yelp"]["n_docs"] == 32
    assert main(["gate", "run", "--rules", "rules.yaml"]) == 0
    out = capsys.readouterr().out
    assert "decided after 32 of 300 documents (--until-decided), anytime-valid bounds" in out and "95% CS" in out
    assert main(["report", "run", "--format", "md"]) == 0
    assert "yelp decided after 32 of 300 documents" in (world / "run" / "report.md").read_text()
    assert _run("--rules", "rules.yaml", "--out", "run", "--force") == 0  # a rerun: every answer from the cache
    timing = results.load_run(world / "run")["timing"]["arms"]
    assert [timing[a]["yelp"]["computed_requests"] for a in ("base", "lora")] == [0, 0]


def test_no_real_difference_never_passes_and_stops_at_the_cap(world, capsys):
    # both arms read no star: accuracy 0 on both, a change of exactly 0 that no bound can call a gain
    _rules(world / "rules.yaml", {"kind": "improves", "task": "yelp", "metric": "accuracy"})
    assert _run("--rules", "rules.yaml", "--out", "run", "--max-docs", "100") == 0
    stopped = results.load_run(world / "run")["tasks"]["yelp"]["stopped"]
    assert (stopped["docs"], stopped["looks"]) == (100, [32, 64, 100])
    assert stopped["reason"] == "--max-docs 100 reached, undecided: improves yelp/accuracy [lora]"
    capsys.readouterr()
    assert main(["gate", "run", "--rules", "rules.yaml"]) == 1
    out = capsys.readouterr().out
    assert "undecided after 100 of 300 documents (--until-decided), anytime-valid bounds" in out
    assert "undecided when the run stopped, so the gain is not shown to clear the margin" in out
    assert main(["report", "run", "--format", "md"]) == 0  # the Verdict reads the stopped task on the same bounds
    line = next(x for x in (world / "run" / "report.md").read_text().splitlines() if x.startswith("lora: "))
    assert "yelp accuracy (primary task) Δ +0.0000 [95% CS " in line and "fixed-n stars do not apply" in line
    assert "n 100 of 300 documents (--until-decided stopped there)" in line
    _rules(world / "other.yaml", {"kind": "ceiling", "task": "yelp", "metric": "unparseable_rate", "value": 0.99})
    main(["gate", "run", "--rules", "other.yaml"])
    assert "yelp stopped on other rules than" in capsys.readouterr().err
    assert main(["run", "--base", "base", "--adapter", "lora", "--tasks", "yelp", "--data", "yelp=reviews.csv",
                 "--cache-dir", "cache", "--no-registry", "--device", "cpu", "--max-gen-toks", "4", "--limit", "40",
                 "--out", "plain"]) == 0
    capsys.readouterr()
    assert main(["report", "run", "plain", "--out", "merged"]) == 2  # a seeded sample and the first 40: no merge
    assert "stopped early (--until-decided); report the runs separately" in capsys.readouterr().err
    assert "undecided when the run stopped, so the gain is not shown to clear the margin" in out


def test_rules_that_cannot_decide_early_run_to_the_end_with_the_reason(world):
    _rules(world / "rules.yaml", {"kind": "improves", "task": "yelp", "metric": "f1_macro"})
    assert _run("--rules", "rules.yaml", "--out", "run", "--max-docs", "80") == 0
    stopped = results.load_run(world / "run")["tasks"]["yelp"]["stopped"]
    assert stopped["docs"] == 80 and stopped["looks"] == [32, 80]  # straight to the cap after the first chunk
    assert stopped["reason"].startswith("--max-docs 80 reached; it could not stop earlier: yelp/f1_macro is a corpus")


@pytest.mark.parametrize("args,said", [
    (["--rules", "rules.yaml", "--until-decided"], "--rules: a setting of --until-decided"),
    (["--until-decided"], "--until-decided: needs --rules"),
    (["--until-decided", "--rules", "missing.yaml"], "missing.yaml: no such file"),
    (["--until-decided", "--rules", "rules.yaml", "--limit", "5"], "--limit with --until-decided"),
    (["--until-decided", "--rules", "rules.yaml", "--max-docs", "0"], "--max-docs 0: must be"),
    (["--until-decided", "--rules", "other_task.yaml"], "task 'docqa' is not among --tasks"),
])
def test_bad_flags_are_one_line_and_exit_2(world, capsys, args, said):
    _rules(world / "rules.yaml", {"kind": "improves", "task": "yelp", "metric": "accuracy"})
    _rules(world / "other_task.yaml", {"kind": "improves", "task": "docqa", "metric": "rouge1"})
    if args[:2] == ["--rules", "rules.yaml"]:
        args = args[:2]  # --rules alone, without --until-decided
    code = main(["run", "--base", "base", "--adapter", "lora", "--tasks", "yelp", "--data", "yelp=reviews.csv",
                 "--out", "run", "--no-registry", "--device", "cpu", *args])
    assert code == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err
    assert not (world / "run" / "run.json").exists()


@pytest.mark.parametrize("rule,said", [
    ({"kind": "improves", "task": "yelp", "metric": "acuracy"}, "unknown metric 'acuracy' (close matches: accuracy"),
    ({"kind": "forgetting", "task": "yelp", "metric": "accuracy", "budget": 0.05, "arm": "lroa"}, "unknown arm 'lroa'"),
    ({"kind": "floor", "task": "yelp", "metric": "accuracy"}, "'value' is missing"),
])
def test_a_misnamed_rule_is_refused_before_the_model_loads(world, capsys, rule, said):
    _rules(world / "rules.yaml", rule)
    assert _run("--rules", "rules.yaml", "--out", "run") == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err and "loading base" not in err
    assert not (world / "run").exists()  # nothing scored, nothing written


def test_few_shot_prompts_stay_the_same_from_chunk_to_chunk_and_the_cache_answers_them(tmp_path, tiny_model,
                                                                                      tiny_adapters, monkeypatch):
    work = tmp_path / "fewshot"
    shutil.copytree(Path(__file__).resolve().parents[1] / "examples" / "byo_task", work / "examples" / "byo_task")
    monkeypatch.chdir(work)
    _rules(work / "rules.yaml", {"kind": "ceiling", "task": "capitals", "metric": "exact_match", "value": 0.95,
                                 "arm": "*"})
    common = ["run", "--base", str(tiny_model), "--adapter", f"lora={tiny_adapters[0]}", "--include-path",
              "examples/byo_task", "--tasks", "capitals", "--num-fewshot", "2", "--cache-dir", "cache", "--no-registry",
              "--device", "cpu", "--max-gen-toks", "4", "--until-decided", "--rules", "rules.yaml", "--first-chunk", "4"]
    assert main([*common, "--max-docs", "4", "--out", "first"]) == 0
    first = results.load_run(work / "first")["tasks"]["capitals"]["stopped"]
    assert first["looks"] == [4] and first["method"] is None  # one look: never free to stop, judged as a plain run
    assert first["reason"].startswith("--max-docs 4 is within the first chunk")
    assert main([*common, "--out", "second"]) == 0  # the same 4, then 4 more: only the new ones reach the model
    run = results.load_run(work / "second")
    assert run["tasks"]["capitals"]["stopped"]["looks"][:2] == [4, 8]
    assert {a: t["capitals"]["computed_requests"] for a, t in run["timing"]["arms"].items()} == {"base": 4, "lora": 4}
    for arm in ("base", "lora"):
        before = {r["doc_id"]: r["prompt"] for r in results.read_samples(work / "first", arm, "capitals")}
        after = {r["doc_id"]: r["prompt"] for r in results.read_samples(work / "second", arm, "capitals")}
        assert before and all(after[d] == p for d, p in before.items())  # each document's own two examples
        assert all(p.count("Q: What is the capital of") == 3 for p in after.values())
