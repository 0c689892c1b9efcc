"""`harness gate`: every rule kind passing and failing, decided on the interval of the change (non-inferiority for
forgetting and no_regression, the lower bound against the margin for improves), every line showing the change, its
CI, n and what decided it, JUnit XML, a gate on a real run."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from statistics import NormalDist
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from conftest import ENGINE_TASKS

from harness.cli.app import main
from harness.core import power, results
from harness.gate import checks
from harness.gate import judge as gate

DATA = Path(__file__).resolve().parent / "data"
GOLDEN = DATA / "golden_run"
Z = NormalDist().inv_cdf(0.975) + NormalDist().inv_cdf(0.8)  # two-sided 5%, power 80%: 1.95996 + 0.84162


def needed(var_unit: float, effect: float) -> int:
    """Documents at which a 0/1 comparison at churn `var_unit` clears -effect 80% of the time when nothing changed
    (harness.core.power; test_the_needed_n_is_exact checks it by enumerating every table here)."""
    return power.n_needed_exact(var_unit, effect, kind="noninferiority")


def clears_rate(n: int, churn: float, budget: float, delta: float = 0.0, top: int = 90) -> float:
    """The chance that the interval's lower bound is above -budget (Tango's Z(-budget) >= z_.975, score.tango_z as
    score_compare uses it), summed over every table of up to `top` changes when P(+1) = (c + delta) / 2 and
    P(-1) = (c - delta) / 2."""
    from scipy.stats import multinomial

    from harness.core import score

    up, down = (churn + delta) / 2, (churn - delta) / 2
    x, y = (a.ravel() for a in np.meshgrid(np.arange(top + 1), np.arange(top + 1)))
    x, y = x[x + y <= min(top, n)], y[x + y <= min(top, n)]
    w = np.exp(multinomial.logpmf(np.stack([x, y, n - x - y], -1), n, [up, down, 1 - up - down]))
    passes = [score.tango_z(a, b, n, -budget) >= NormalDist().inv_cdf(0.975) for a, b in zip(x, y)]
    return float(np.sum(w * np.array(passes)))


def write_rules(tmp_path, *rules) -> Path:
    path = tmp_path / "gates.yaml"
    path.write_text(yaml.safe_dump({"rules": list(rules)}))
    return path


def run_gate(tmp_path, *rules, run=GOLDEN, baseline=None, extra=()) -> int:
    argv = ["gate", str(run), "--rules", str(write_rules(tmp_path, *rules)), *extra]  # fixtures stay as they are
    if baseline:
        argv += ["--baseline", str(baseline)]
    return main(argv)


def patched(tmp_path, edit) -> Path:
    """A copy of the golden run (its samples linked) whose run.json `edit(run)` changed."""
    d = tmp_path / "patched"
    run = json.loads((GOLDEN / "run.json").read_text())
    edit(run)
    d.mkdir(parents=True)
    (d / "samples").symlink_to(GOLDEN / "samples")
    results.write_json(d / "run.json", run)
    return d


DROP = object()


def set_comparison(task, metric, arm, **fields):
    """An edit for patched(): replace fields of one comparison (DROP removes the field)."""
    def edit(run):
        (c,) = [c for c in run["comparisons"] if (c["task"], c["metric"], c["arm"]) == (task, metric, arm)]
        for k, v in fields.items():
            if v is DROP:
                c.pop(k, None)
            else:
                c[k] = v
    return edit


def lines(out: str) -> list[str]:
    """The check lines of the console output (one per task/metric/arm judged)."""
    return [ln.strip() for ln in out.splitlines() if ln.startswith("        ")]


# (rule, expected exit code) on the golden run, whose comparisons (adapter - base, 95% CI) are: yelp f1_macro
# lora_r8 +0.32 [+0.12, +0.54], lora_r16 +0.24 [-0.00, +0.50]; yelp unparseable_rate (lower is better) -0.175 with
# the whole CI below 0 for both; yelp accuracy +0.35 [+0.13, +0.54] / +0.28 [+0.02, +0.49]; docqa rougeL +0.23
# [-0.10, +0.53] / +0.20 [-0.17, +0.52] (12 questions: every unseen change priced at the full range); general_qa f1 -0.10
# [-0.34, +0.16] / +0.03 [-0.22, +0.28]; perplexity n = 6, too small for a test.
CASES = [
    ({"kind": "floor", "task": "yelp", "metric": "f1_macro", "value": 0.6}, 0),
    ({"kind": "floor", "task": "yelp", "metric": "f1_macro", "value": 0.65}, 1),
    ({"kind": "floor", "task": "yelp", "metric": "f1_macro", "arm": "lora_r8", "value": 0.65}, 0),
    ({"kind": "floor", "task": "yelp", "metric": "f1_macro", "arm": "base", "value": 0.5}, 1),
    ({"kind": "ceiling", "task": "yelp", "metric": "unparseable_rate", "value": 0.05}, 0),
    ({"kind": "ceiling", "task": "yelp", "metric": "unparseable_rate", "arm": "base", "value": 0.05}, 1),
    # improves: require_ci is the default; the lower bound must clear the margin
    ({"kind": "improves", "task": "docqa", "metric": "rougeL"}, 1),  # both lower bounds below 0 at n = 12
    ({"kind": "improves", "task": "yelp", "metric": "accuracy", "arm": "lora_r8"}, 0),  # +0.35 [+0.13, +0.54]
    ({"kind": "improves", "task": "docqa", "metric": "rougeL", "arm": "lora_r8", "margin": 0.15}, 1),  # gain 0.23, bound 0.05
    ({"kind": "improves", "task": "docqa", "metric": "rougeL", "margin": 0.15, "require_ci": False}, 0),
    ({"kind": "improves", "task": "docqa", "metric": "rougeL", "margin": 0.22, "require_ci": False}, 1),
    ({"kind": "improves", "task": "yelp", "metric": "f1_macro", "arm": "lora_r8", "margin": 0.30}, 1),  # the case
    ({"kind": "improves", "task": "yelp", "metric": "f1_macro", "arm": "lora_r8", "margin": 0.30, "require_ci": False}, 0),
    ({"kind": "improves", "task": "perplexity", "metric": "token_perplexity"}, 1),  # n too small: no interval
    ({"kind": "improves", "task": "perplexity", "metric": "token_perplexity", "margin": 3.0, "require_ci": False}, 0),
    ({"kind": "improves", "task": "perplexity", "metric": "token_perplexity", "margin": 4.0, "require_ci": False}, 1),
    # forgetting: the lower bound of the change must be above -budget
    ({"kind": "forgetting", "task": "general_*", "metric": "f1", "budget": 0.05}, 1),  # inconclusive at n = 30
    ({"kind": "forgetting", "task": "general_*", "metric": "f1", "budget": 0.15}, 1),  # still: -0.34 < -0.15
    ({"kind": "forgetting", "task": "general_*", "metric": "f1", "budget": 0.5}, 0),
    ({"kind": "forgetting", "task": "yelp", "metric": "unparseable_rate", "budget": 0.01}, 0),  # fell: a gain
    ({"kind": "forgetting", "task": "perplexity", "metric": "token_perplexity", "budget": 100.0}, 1),  # no test
]


@pytest.mark.parametrize("rule, code", CASES)
def test_rule_kinds(rule, code, tmp_path):
    assert run_gate(tmp_path, rule) == code


def test_improves_checks_the_margin_against_the_lower_bound(tmp_path, capsys):
    """A gain of +0.32 whose interval starts at +0.12 does not clear a margin of 0.30; the point estimate would."""
    run = patched(tmp_path, set_comparison("yelp", "f1_macro", "lora_r8", delta=0.32, ci95=[0.12, 0.52]))
    rule = {"kind": "improves", "task": "yelp", "metric": "f1_macro", "arm": "lora_r8", "margin": 0.30}
    assert run_gate(tmp_path, rule, run=run) == 1
    assert lines(capsys.readouterr().out) == [
        "BAD lora_r8 yelp/f1_macro: change +0.3200 [95% CI +0.1200, +0.5200] (n=40): lower bound +0.1200 <= margin "
        "0.3: the gain is not shown to clear the margin"]
    assert run_gate(tmp_path, {**rule, "require_ci": False}, run=run) == 0
    assert lines(capsys.readouterr().out)[0].endswith(": gain +0.3200 >= margin 0.3: point estimate only (require_ci: false)")
    clear = patched(tmp_path / "c", set_comparison("yelp", "f1_macro", "lora_r8", delta=0.40, ci95=[0.31, 0.49]))
    assert run_gate(tmp_path, rule, run=clear) == 0
    assert lines(capsys.readouterr().out)[0].endswith("lower bound +0.3100 > margin 0.3: improves")


F1 = ("general_qa", "f1", "lora_r8")


@pytest.mark.parametrize("fields, budget, code, said", [
    ({"delta": -0.01, "ci95": [-0.031, 0.011]}, 0.05, 0, "lower bound -0.0310 > -0.05: within the budget"),
    ({"delta": -0.2, "ci95": [-0.3, -0.1]}, 0.05, 1, "upper bound -0.1000 < -0.05: drop beyond the budget"),
    ({"delta": -0.03, "ci95": [-0.1176, 0.0], "n": 40, "var_unit": 0.09, "unit": "question"}, 0.05, 1,
     f"lower bound -0.1176 <= -0.05: inconclusive: n = 40 cannot show a drop smaller than 0.05; about "
     f"{needed(0.09, 0.05)} questions would, if the adapter changed nothing (at the churn observed)"),
    ({"delta": -0.03, "ci95": [-0.1176, 0.0], "var_unit": DROP, "mde": DROP}, 0.05, 1,
     "inconclusive: n = 30 cannot show a drop smaller than 0.05; the comparison records no var_unit"),
    # the observed change at or past -budget: "about N would" keeps its assumption and gets a warning (with a true
    # drop at the budget, those N would pass only about 2.5% of the time)
    ({"delta": -0.05, "ci95": [-0.1176, 0.0], "n": 40, "var_unit": 0.09, "unit": "question"}, 0.05, 1,
     "lower bound -0.1176 <= -0.05: inconclusive: n = 40 cannot show a drop smaller than 0.05; about "
     f"{needed(0.09, 0.05)} questions would, if the adapter changed nothing (at the churn observed); but the observed "
     "change (-0.0500) is at or beyond the budget: more questions would more likely confirm the drop than clear it"),
    ({"delta": 0.075 - 0.125, "ci95": [-0.1176, 0.0], "n": 40, "var_unit": 0.09}, 0.05, 1,
     "the observed change (-0.0500) is at or beyond the budget"),  # -0.04999999999999999: at the budget all the same
    ({"delta": -0.1, "ci95": [-0.25, 0.05], "n": 40, "var_unit": DROP, "mde": DROP}, 0.02, 1,
     "inconclusive: n = 40 cannot show a drop smaller than 0.02; but the observed change (-0.1000) is at or beyond "
     "the budget: more documents would more likely confirm the drop than clear it"),  # no var_unit: no N
    ({"delta": -0.045, "ci95": [-0.06, -0.03], "n": 900, "var_unit": 0.05}, 0.05, 1,
     f"with no true change about {needed(0.05, 0.05)} documents would, so the change itself (-0.0450) is close to -0.05"),
    ({"delta": -0.1, "ci95": None, "p_value": None, "test": "n too small", "n": 6, "min_n": 10}, 0.5, 1,
     "n too small (6 documents < 10): no interval, so nothing shows the drop is within the budget"),
])
def test_forgetting_is_non_inferiority(tmp_path, capsys, fields, budget, code, said):
    run = patched(tmp_path, set_comparison(*F1, **fields))
    assert run_gate(tmp_path, {"kind": "forgetting", "task": "general_qa", "metric": "f1", "arm": "lora_r8",
                               "budget": budget}, run=run) == code
    (line,) = lines(capsys.readouterr().out)
    assert said in line, line


def test_the_needed_n_is_exact():
    """Churn 0.09, budget 0.05: 310 questions clear -0.05 80% of the time when nothing changed, 309 do not, and the
    normal approximation's (1.95996 + 0.84162)^2 * 0.09 / 0.05^2 = 282.56, so 283, clears it 76% of the time."""
    assert needed(0.09, 0.05) == 310 and math.ceil(Z * Z * 0.09 / 0.05 ** 2) == 283
    assert clears_rate(310, 0.09, 0.05) >= 0.8 > clears_rate(309, 0.09, 0.05)
    assert clears_rate(283, 0.09, 0.05) < 0.77
    ch = checks.Change(-0.03, (-0.1176, 0.0), 40, None, 0, 0.09, "question", False, "", design=(1.0, 1.0))
    assert checks.within(ch, 0.05, "budget") == (False, "lower bound -0.1176 <= -0.05: inconclusive: n = 40 cannot "
                                                        "show a drop smaller than 0.05; about 310 questions would, if "
                                                        "the adapter changed nothing (at the churn observed)")
    assert checks.within(ch, 0.2, "budget") == (True, "lower bound -0.1176 > -0.2: within the budget")
    # a corpus metric's variance (no design): the normal approximation
    assert "about 283 questions would" in checks.within(replace(ch, design=None), 0.05, "budget")[1]


def test_the_needed_n_is_what_passes_when_nothing_changed_not_when_the_drop_is_at_the_budget():
    """What "about N would" promises, over every table: with no true change, N documents clear -budget 80% of the
    time; with a true drop at the budget, about 2.5%."""
    n = needed(0.09, 0.05)
    assert 0.8 <= clears_rate(n, 0.09, 0.05) <= 0.83
    assert 0.01 <= clears_rate(n, 0.09, 0.05, delta=-0.05) <= 0.03


def _count_scale(run):
    """A comparison on a metric counted in whole documents (as contract 4 compared yelp's n_parsed): +7.00
    [+2.88, +12.78], so that bounds of more than one digit are written."""
    (acc,) = [c for c in run["comparisons"] if (c["task"], c["metric"], c["arm"]) == ("yelp", "accuracy", "lora_r8")]
    run["comparisons"].append(dict(acc, metric="n_parsed", delta=7.0, ci95=[2.882, 12.78], mde=7.4))


def test_bounds_are_written_like_the_interval(tmp_path, capsys):
    """+7.00 [95% CI +2.88, +12.78]; the bound that decided is the interval's own text, not +2.882."""
    counted = patched(tmp_path / "counted", _count_scale)
    assert run_gate(tmp_path, {"kind": "improves", "task": "yelp", "metric": "n_parsed", "arm": "lora_r8"},
                    run=counted) == 0
    assert lines(capsys.readouterr().out) == [
        "ok  lora_r8 yelp/n_parsed: change +7.00 [95% CI +2.88, +12.78] (n=40): lower bound +2.88 > margin 0: improves"]
    assert run_gate(tmp_path, {"kind": "forgetting", "task": "yelp", "metric": "n_parsed", "arm": "lora_r8",
                               "budget": 1}, run=counted) == 0
    assert lines(capsys.readouterr().out)[0].endswith("lower bound +2.88 > -1: within the budget")
    assert run_gate(tmp_path, {"kind": "improves", "task": "yelp", "metric": "n_parsed", "arm": "lora_r8",
                               "margin": 9, "require_ci": False}, run=counted) == 1
    assert lines(capsys.readouterr().out)[0].endswith("gain +7.00 < margin 9: point estimate only (require_ci: false)")
    def beyond_budget(run):
        _count_scale(run)
        set_comparison("yelp", "n_parsed", "lora_r8", delta=-7.0, ci95=[-12.78, -2.882])(run)

    beyond = patched(tmp_path, beyond_budget)
    assert run_gate(tmp_path, {"kind": "forgetting", "task": "yelp", "metric": "n_parsed", "arm": "lora_r8",
                               "budget": 1}, run=beyond) == 1
    assert lines(capsys.readouterr().out)[0].endswith("[95% CI -12.78, -2.88] (n=40): upper bound -2.88 < -1: drop "
                                                      "beyond the budget")


def test_not_degenerate_names_no_answer_when_nothing_parsed(tmp_path, capsys):
    """An arm that answered nothing readable has no most frequent answer: the line says so, not "answer None"."""
    def nothing_parsed(run):
        (d,) = [d for d in run["diagnostics"] if d["arm"] == "lora_r8"]
        d.update(classes_predicted=0, majority_answer=None, majority_share=0.0, unparseable_share=1.0, accuracy=0.0,
                 verdict="no parseable answer")
    run = patched(tmp_path, nothing_parsed)
    assert run_gate(tmp_path, {"kind": "not_degenerate", "task": "yelp", "arm": "lora_r8"}, run=run) == 1
    assert lines(capsys.readouterr().out) == [
        "BAD lora_r8 yelp/predictions: 0 of 5 classes predicted (need >= 2); no parseable answer among n=40"]


def test_lower_is_better_flips_the_interval(tmp_path, capsys):
    """unparseable_rate: a rise is a drop. Raw CI [+0.10, +0.30] is a good-direction [-0.30, -0.10]."""
    rule = {"kind": "forgetting", "task": "yelp", "metric": "unparseable_rate", "arm": "lora_r8", "budget": 0.05}
    worse = patched(tmp_path, set_comparison("yelp", "unparseable_rate", "lora_r8", delta=0.2, ci95=[0.1, 0.3]))
    assert run_gate(tmp_path, rule, run=worse) == 1
    assert lines(capsys.readouterr().out) == [
        "BAD lora_r8 yelp/unparseable_rate: change -0.2000 [95% CI -0.3000, -0.1000] (n=40, lower is better: a fall "
        "counts as a gain): upper bound -0.1000 < -0.05: drop beyond the budget"]
    same = patched(tmp_path / "s", set_comparison("yelp", "unparseable_rate", "lora_r8", delta=0.0, ci95=[-0.02, 0.03]))
    assert run_gate(tmp_path, rule, run=same) == 0  # good direction [-0.03, +0.02]: -0.03 > -0.05
    assert run_gate(tmp_path, {**rule, "budget": 0.02}, run=same) == 1  # -0.03 <= -0.02
    assert "lower bound -0.0300 <= -0.02: inconclusive" in capsys.readouterr().out


def test_every_line_shows_the_interval_n_and_what_decided(tmp_path, capsys):
    run = patched(tmp_path, set_comparison(*F1, n_clusters=12, n_missing=3))
    golden = results.load_run(GOLDEN)
    f1 = {s["arm"]: s for s in golden["scores"] if (s["task"], s["metric"]) == ("yelp", "f1_macro")}
    rules = [{"kind": "floor", "task": "yelp", "metric": "f1_macro", "arm": "lora_r8", "value": 0.1},
             {"kind": "ceiling", "task": "yelp", "metric": "f1_macro", "arm": "lora_r8", "value": 0.2},
             {"kind": "forgetting", "task": "general_qa", "metric": "f1", "arm": "lora_r8", "budget": 0.9},
             {"kind": "improves", "task": "yelp", "metric": "accuracy", "arm": "lora_r8"}]
    assert run_gate(tmp_path, *rules, run=run) == 1
    out = lines(capsys.readouterr().out)
    lo, hi = f1["lora_r8"]["ci95"]
    assert out[0] == f"ok  lora_r8 yelp/f1_macro: {f1['lora_r8']['value']:.4f} [95% CI {lo:.4f}, {hi:.4f}] (n=40) >= 0.1"
    assert out[1] == f"BAD lora_r8 yelp/f1_macro: {f1['lora_r8']['value']:.4f} [95% CI {lo:.4f}, {hi:.4f}] (n=40) > the ceiling 0.2"
    assert re.fullmatch(r"ok  lora_r8 general_qa/f1: change -0\.1000 \[95% CI -0\.\d{4}, \+0\.\d{4}\] "
                        r"\(n=30, 12 clusters, 3 missing\): lower bound -0\.\d{4} > -0\.9: within the budget", out[2]), out[2]
    assert re.fullmatch(r"ok  lora_r8 yelp/accuracy: change \+0\.3500 \[95% CI \+0\.\d{4}, \+0\.\d{4}\] \(n=40\): "
                        r"lower bound \+0\.\d{4} > margin 0: improves", out[3]), out[3]


# --- no_regression: the paired test against the baseline run, always computed ------------------------------------

def _run_dir(root: Path, name: str, values: np.ndarray, base_fp: str = "sha256:b") -> Path:
    d = root / name
    rows = [{"doc_id": i, "doc_hash": f"h{i}", "filter": "none", "metrics": {"acc": float(v)}} for i, v in enumerate(values)]
    results.write_jsonl(results.samples_path(d, "lora", "t"), rows)
    run = {"schema": results.SCHEMA, "run_id": name, "created": "2026-01-01T00:00:00+00:00", "config": {},
           "environment": {}, "base": {"name": "b", "source": "b", "fingerprint": base_fp, "dtype": "float32",
                                       "quantization": "none"},
           "arms": [{"name": "base", "adapter": None}, {"name": "lora", "adapter": {"path": "/a", "fingerprint": "x", "peft": {}}}],
           "tasks": {"t": {"version": 1, "n_docs": len(values), "config_hash": "h", "aggregations": {"acc": "mean"},
                           "unit": "question"}},
           "scores": [{"task": "t", "metric": "acc", "arm": "lora", "value": float(values.mean()), "stderr": None,
                       "ci95": None, "n": len(values), "higher_is_better": True}],
           "comparisons": [], "timing": {"load_s": 0, "arms": {}}, "resources": {"peak_rss_bytes": 0, "peak_gpu_bytes": None}}
    results.write_json(d / "run.json", run)
    return d


def _paired(rng, n: int, p: float, lose: float, gain: float) -> tuple[np.ndarray, np.ndarray]:
    """A baseline right with probability p; the candidate loses each right answer with probability `lose` and gets
    each wrong one right with probability `gain` (true change: (1 - p) * gain - p * lose)."""
    base = rng.random(n) < p
    u = rng.random(n)
    cand = np.where(base, u >= lose, u < gain)
    return base.astype(float), cand.astype(float)


def test_no_regression_is_non_inferiority_by_simulation(tmp_path):
    """A true drop exactly at the tolerance passes at most about 2.5% of the time (the one-sided level), where a
    point-estimate rule would pass about half of those; no true change at 200 questions passes nearly always."""
    rule = [{"kind": "no_regression", "task": "t", "metric": "acc", "tolerance": 0.1}]

    def judged(seed, lose, gain):
        base, cand = _paired(np.random.default_rng(seed), 200, 0.7, lose, gain)
        c, b = _run_dir(tmp_path / str(seed), "cand", cand), _run_dir(tmp_path / str(seed), "base", base)
        (check,) = gate.evaluate(rule, results.load_run(c), c, results.load_run(b), b)[0].checks
        return check.passed, check.observed >= -0.1  # the gate, and a rule on the point estimate

    edge = [judged(s, (0.1 + 0.3 * 0.1) / 0.7, 0.1) for s in range(200)]  # 0.7 * 0.186 - 0.3 * 0.1 = 0.10
    assert sum(g for g, _ in edge) / 200 <= 0.06, edge
    assert sum(p for _, p in edge) / 200 >= 0.3  # what a point-estimate rule would have let through
    unchanged = [judged(1000 + s, 0.3 * 0.1 / 0.7, 0.1) for s in range(40)]  # 3% lost, 3% gained
    assert sum(g for g, _ in unchanged) / 40 >= 0.95, unchanged


def test_no_regression_lines_and_verdicts(tmp_path, capsys):
    rng = np.random.default_rng(7)
    truth = (rng.random(200) < 0.75).astype(float)
    rule = {"kind": "no_regression", "task": "t", "metric": "acc", "tolerance": 0.05}
    base = _run_dir(tmp_path, "base", truth)
    same = _run_dir(tmp_path, "same", truth)
    assert run_gate(tmp_path, rule, run=same, baseline=base) == 0
    (line,) = lines(capsys.readouterr().out)
    assert re.fullmatch(rf"ok  lora t/acc: {truth.mean():.4f} vs baseline {truth.mean():.4f} \(lora\), paired change "
                        r"\+0\.0000 \[95% CI -0\.\d{4}, \+0\.\d{4}\] \(n=200\): lower bound -0\.\d{4} > -0\.05: within "
                        r"the tolerance", line), line
    dropped = _run_dir(tmp_path, "dropped", truth * (rng.random(200) > 0.5))  # half of what was right is lost
    assert run_gate(tmp_path, rule, run=dropped, baseline=base) == 1
    assert "drop beyond the tolerance" in capsys.readouterr().out


def test_no_regression_inconclusive_names_the_n(tmp_path, capsys, monkeypatch):
    """The rule reads the paired comparison's interval and var_unit (here a stand-in for stats.compare's)."""
    fake = SimpleNamespace(delta=-0.02, ci95=[-0.08, 0.04], p_value=0.5, test="tango-score", n=50, min_n=10,
                           n_clusters=None, n_missing=2, var_unit=0.05)
    monkeypatch.setattr(checks, "paired_vs_baseline", lambda *a: (fake, "mean"))
    truth = np.ones(50)
    base, cand = _run_dir(tmp_path, "base", truth), _run_dir(tmp_path, "cand", truth)
    assert run_gate(tmp_path, {"kind": "no_regression", "task": "t", "metric": "acc", "tolerance": 0.05},
                    run=cand, baseline=base) == 1
    (line,) = lines(capsys.readouterr().out)
    # churn 0.05, tolerance 0.05: 205 questions (the normal approximation's 157 would pass 67% of the time)
    assert line.endswith("paired change -0.0200 [95% CI -0.0800, +0.0400] (n=50, 2 missing): lower bound -0.0800 "
                         f"<= -0.05: inconclusive: n = 50 cannot show a drop smaller than 0.05; about {needed(0.05, 0.05)} "
                         "questions would, if the candidate changed nothing (at the churn observed)"), line
    assert needed(0.05, 0.05) == 205
    # a drop at the tolerance itself: the n with its assumption, and the warning that more would rather confirm it
    monkeypatch.setattr(checks, "paired_vs_baseline",
                        lambda *a: (SimpleNamespace(**{**vars(fake), "delta": -0.05, "ci95": [-0.11, 0.01]}), "mean"))
    assert run_gate(tmp_path, {"kind": "no_regression", "task": "t", "metric": "acc", "tolerance": 0.05},
                    run=cand, baseline=base) == 1
    (line,) = lines(capsys.readouterr().out)
    assert line.endswith("lower bound -0.1100 <= -0.05: inconclusive: n = 50 cannot show a drop smaller than 0.05; "
                         f"about {needed(0.05, 0.05)} questions would, if the candidate changed nothing (at the churn "
                         "observed); but the observed change (-0.0500) is at or beyond the tolerance: more questions "
                         "would more likely confirm the drop than clear it"), line


def test_no_regression_without_a_test(tmp_path, capsys):
    """Perplexity on 6 documents: the paired test has too few documents, so nothing shows there was no regression."""
    rule = {"kind": "no_regression", "task": "perplexity", "metric": "token_perplexity", "tolerance": 1000.0}
    assert run_gate(tmp_path, rule, baseline=GOLDEN) == 1
    said = "n too small (6 documents < 20): no interval, so nothing shows the drop is within the tolerance"
    assert [said in line for line in lines(capsys.readouterr().out)] == [True, True]


def test_bad_rules_list_every_problem(tmp_path):
    other = _run_dir(tmp_path, "other", np.ones(5), base_fp="sha256:other")
    rules = write_rules(tmp_path,
                        {"kind": "floor", "task": "yelpp", "metric": "f1_macro", "value": 0.4},
                        {"kind": "floor", "task": "yelp", "metric": "f1_makro", "value": "high"},
                        {"kind": "ceiling", "task": "yelp", "metric": "unparseable_rate", "arm": "lora_r9", "value": 0.1},
                        {"kind": "improve", "task": "docqa", "metric": "rougeL"},
                        {"kind": "forgetting", "task": "general_qa", "metric": "f1", "budget": 0.02, "significant_only": "yes"},
                        {"kind": "no_regression", "task": "docqa", "metric": "rougeL", "tolrance": 0.1})
    r = subprocess.run([sys.executable, "-m", "harness", "gate", str(GOLDEN), "--rules", str(rules), "--baseline", str(other),
                        ],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    (line,) = r.stderr.strip().splitlines()
    for fragment in ("unknown task 'yelpp' (close matches: yelp", "'value' must be a number, got 'high'",
                     "unknown metric 'f1_makro' (close matches: f1_macro", "unknown arm 'lora_r9' (close matches: lora_r8",
                     "kind 'improve' is not one of", "'significant_only' was removed",
                     "unknown field 'tolrance' (close matches: tolerance", "'tolerance' is missing",
                     "--baseline: evaluated another base model"):
        assert fragment in line, fragment
    assert line.startswith("error: 9 problems in the gate rules")


def test_missing_baseline(tmp_path, capsys):
    assert run_gate(tmp_path, {"kind": "no_regression", "task": "docqa", "metric": "rougeL", "tolerance": 0.1}) == 2
    assert "needs a baseline" in capsys.readouterr().err
    assert run_gate(tmp_path, {"kind": "floor", "task": "yelp", "metric": "f1_macro", "value": 0},
                    baseline=tmp_path / "nowhere") == 2


def test_a_rule_that_checked_nothing_does_not_pass():
    run = results.load_run(GOLDEN)
    [result] = gate.evaluate([{"kind": "floor", "task": "general_*", "metric": "rougeL", "value": 0}], run, GOLDEN)
    assert result.checks == [] and not result.passed


def test_junit_json_and_step_summary(tmp_path, monkeypatch):
    import xmlschema

    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    rc = run_gate(tmp_path, CASES[0][0], CASES[1][0], CASES[7][0],
                  extra=("--junit", str(tmp_path / "gate.xml"), "--json", str(tmp_path / "gate.json")))
    assert rc == 1
    xmlschema.XMLSchema(str(DATA / "junit.xsd")).validate(str(tmp_path / "gate.xml"))
    import xml.etree.ElementTree as ET

    suite = ET.parse(tmp_path / "gate.xml").getroot().find("testsuite")
    cases = suite.findall("testcase")
    # one case per (rule, adapter it judges); the two rules of one name are told apart by their index
    assert [c.get("name") for c in cases] == [
        "1. floor yelp/f1_macro[lora_r8]", "1. floor yelp/f1_macro[lora_r16]", "2. floor yelp/f1_macro[lora_r8]",
        "2. floor yelp/f1_macro[lora_r16]", "improves yelp/accuracy[lora_r8]"]
    assert suite.get("tests") == "5" and suite.get("failures") == "1" and len(cases) == 5
    assert [c.find("failure") is not None for c in cases] == [False, False, False, True, False]
    verdict = json.loads((tmp_path / "gate.json").read_text())
    assert verdict["passed"] is False and [r["passed"] for r in verdict["rules"]] == [True, False, True]
    improves = verdict["rules"][2]["checks"][0]
    assert improves["n"] == 40 and len(improves["ci95"]) == 2 and improves["ci95"][0] > 0
    text = summary.read_text()
    assert text.startswith("earlier step\n") and "Adapter gate: ❌ FAIL" in text and "2 of 3 rules passed" in text


def test_gate_on_a_tiny_real_run(tiny_model, tiny_adapters, tmp_path, capsys):
    reg = tmp_path / "reg.sqlite"
    out = tmp_path / "run"
    assert main(["run", "--base", str(tiny_model), "--adapter", str(tiny_adapters[0]), "--tasks", "tiny_ll,tiny_gen",
                 "--include-path", str(ENGINE_TASKS), "--limit", "12", "--out", str(out), "--registry", str(reg)]) == 0
    run = results.load_run(out)
    acc = next(s["value"] for s in run["scores"] if s["arm"] == "lora0" and s["metric"] == "acc")
    rules = write_rules(tmp_path, {"kind": "floor", "task": "tiny_ll", "metric": "acc", "value": acc},
                        {"kind": "ceiling", "task": "tiny_*", "metric": "*", "arm": "lora0", "value": 1.0},
                        {"kind": "forgetting", "task": "tiny_ll", "metric": "acc", "budget": 1.0})
    assert main(["gate", str(out), "--rules", str(rules)]) == 0
    strict = write_rules(tmp_path, {"kind": "floor", "task": "tiny_ll", "metric": "acc", "value": acc + 0.01})
    assert main(["gate", str(out), "--rules", str(strict)]) == 1
    # against the accepted baseline from the registry: the same run, so the paired change is 0 on every question
    assert main(["registry", "--registry", str(reg), "accept", str(out)]) == 0
    same = write_rules(tmp_path, {"kind": "no_regression", "task": "tiny_ll", "metric": "acc", "tolerance": 0.5})
    capsys.readouterr()
    assert main(["gate", str(out), "--rules", str(same), "--baseline", "registry:accepted", "--registry", str(reg)]) == 0
    assert "paired change +0.0000 [95% CI" in capsys.readouterr().out
