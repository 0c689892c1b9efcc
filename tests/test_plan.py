"""`harness plan`: the documents (and clusters) a pilot run's comparisons need to detect an effect: exact for means
of per-document values (harness.core.power, itself checked table by table in tests/test_power.py), the textbook
formula computed here for a corpus metric; and bad input answered in one line, exit 2."""

from __future__ import annotations

import json
import math

import pytest

from harness.cli.app import main
from harness.core import power, results

Z_975, Z_80, Z_90 = 1.959964, 0.841621, 1.281552


def expected(var: float, effect: float, z_power: float = Z_80) -> int:
    """The normal approximation, what a corpus metric (a bootstrap's variance) is planned with."""
    return math.ceil((Z_975 + z_power) ** 2 * var / effect ** 2)


def exact(var: float, effect: float, power_: float = 0.8, deff: float = 1.0) -> int:
    """A mean of per-document values: the smallest effective n at which the shipped test detects `effect`, at the
    churn var / deff, back to documents; power reached there and not one effective document before."""
    n = power.n_needed_exact(var / deff, effect, power_)
    assert power.power_at(n, var / deff, effect) >= power_ > power.power_at(n - 1, var / deff, effect)
    return math.ceil(deff * n)


def _comparison(task, metric, **fields) -> dict:
    row = {"task": task, "metric": metric, "arm": "lora", "vs": "base", "delta": 0.01, "ci95": [-0.05, 0.07],
           "p_value": 0.6, "p_adjusted": 1.0, "significant": False, "family": True, "test": "tango-score", "n": 200,
           "n_clusters": None, "n_missing": 0, "mde": 0.1, "var_unit": 0.25, "mc_error": None, "min_n": 10,
           "n_too_small": False, "unit": "question", "higher_is_better": True}
    return {**row, **fields}


COMPARISONS = [
    _comparison("general_qa", "f1", var_unit=0.0731, mde=0.0535),
    _comparison("docqa", "rougeL", n=120, n_clusters=24, var_unit=0.1337, mde=0.094,
                test="tango-score (clustered: 24 clusters, design effect 1.50)"),
    _comparison("yelp", "f1_macro", var_unit=0.25, test="paired-bootstrap+permutation"),
    _comparison("docqa", "rougeL_corpus", n=12, var_unit=None, mde=None, ci95=None, p_value=None, min_n=20,
                n_too_small=True, test="n too small"),
    _comparison("general_mc", "acc", var_unit=0.0, mde=None),
    _comparison("general_mc", "acc[astronomy]", n=30, var_unit=0.0917, family=False, p_adjusted=None),
]


def _pilot(root, comparisons=COMPARISONS, family_size=4):
    d = root / "pilot"
    tasks = {t: {"version": 1, "n_docs": 200, "config_hash": "h"} for t in ("general_qa", "docqa", "general_mc")}
    run = {"schema": results.SCHEMA, "run_id": "pilot", "created": "2026-01-01T00:00:00+00:00", "config": {},
           "environment": {}, "base": {"name": "b", "source": "b", "fingerprint": "sha256:b", "dtype": "float32",
                                       "quantization": "none"},
           "arms": [{"name": "base", "adapter": None}, {"name": "lora", "adapter": {"path": "/a", "fingerprint": "x",
                                                                                   "peft": {}}}],
           "tasks": tasks, "scores": [], "comparisons": comparisons, "statistics": {"family_size": family_size},
           "timing": {"load_s": 0, "arms": {}}, "resources": {"peak_rss_bytes": 0, "peak_gpu_bytes": None}}
    results.write_json(d / "run.json", run)
    assert results.load_run(d)["comparisons"] == comparisons  # a valid run directory
    return d


def _json(capsys, *argv) -> dict:
    assert main(["plan", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_documents_and_clusters_needed(tmp_path, capsys):
    pilot = _pilot(tmp_path)
    out = _json(capsys, str(pilot), "--effect", "0.02")
    rows = {r["metric"]: r for r in out["rows"]}
    assert "acc[astronomy]" not in rows, "descriptive per-group rows only with --all"
    assert rows["f1"]["documents"] == exact(0.0731, 0.02) == 1419 and rows["f1"]["clusters"] is None
    assert expected(0.0731, 0.02) == 1435  # the normal approximation asked a little more here (104 changes)
    assert rows["f1"]["method"] == "exact" and rows["f1"]["note"] == ""
    docs = exact(0.1337, 0.02, deff=1.5)  # 1736 effective questions at churn 0.0891
    assert rows["rougeL"]["documents"] == docs == 2604
    assert rows["rougeL"]["clusters"] == math.ceil(docs / (120 / 24)) == 521  # documents / mean cluster size
    assert rows["f1_macro"]["documents"] == expected(0.25, 0.02) == 4906 and rows["f1_macro"]["method"] == "normal"
    assert rows["f1_macro"]["note"] == "normal approximation (a corpus metric)"
    assert rows["rougeL_corpus"]["documents"] is None and "n too small" in rows["rougeL_corpus"]["note"]
    assert rows["acc"]["documents"] is None and "no paired difference varies" in rows["acc"]["note"]
    # another power and effect
    rows = {r["metric"]: r for r in _json(capsys, str(pilot), "--effect", "0.05", "--power", "0.9", "--all")["rows"]}
    assert rows["f1"]["documents"] == exact(0.0731, 0.05, 0.9) == 274
    assert rows["acc[astronomy]"]["documents"] == exact(0.0917, 0.05, 0.9)
    assert rows["f1_macro"]["documents"] == expected(0.25, 0.05, Z_90)


def test_the_table_states_the_method_and_the_numbers(tmp_path, capsys):
    assert main(["plan", str(_pilot(tmp_path)), "--effect", "0.02"]) == 0
    out = capsys.readouterr().out
    assert "with 80% power at two-sided 5%" in out and "computed exactly for a 0/1 outcome" in out
    assert "for a corpus metric, the normal approximation n = (z_.975 + z_power)^2 x var_unit / effect^2" in out
    assert "1419 questions" in out and "2604 questions" in out and "521" in out and "4906 questions" in out
    assert "1 descriptive per-group rows left out" in out
    factor = ((2.497705 + Z_80) / (Z_975 + Z_80)) ** 2  # Holm's strictest step over 4: z_{1 - 0.025/4}
    assert f"about {factor:.2f}x these documents" in out
    # the gate is an intersection-union test and never reads the stars: only the stars are adjusted
    assert "Only the report's significance stars are adjusted (Holm) over the run's 4 tested comparisons; the " \
           "gate's checks are not" in out
    assert "gate decisions that claim significance" not in out


def test_too_few_clusters_is_the_reason_when_the_documents_are_enough(tmp_path, capsys):
    """12 questions (min_n 10) in 6 clusters: it is the clusters (below stats.MIN_CLUSTERS = 10) that are too few."""
    rows = [_comparison("docqa", "acc", n=12, n_clusters=6, var_unit=None, mde=None, ci95=None, p_value=None,
                        n_too_small=True, test="n too small"),
            _comparison("docqa", "f1", n=8, n_clusters=4, var_unit=None, mde=None, ci95=None, p_value=None,
                        n_too_small=True, test="n too small"),
            _comparison("docqa", "em", n=8, var_unit=None, mde=None, ci95=None, p_value=None, n_too_small=True,
                        test="n too small")]
    notes = {r["metric"]: r["note"] for r in _json(capsys, str(_pilot(tmp_path, rows)), "--effect", "0.02")["rows"]}
    assert notes["acc"] == ("n too small in the pilot (6 clusters < 10): no variance estimate; pilot on at least 10 "
                            "clusters")
    assert notes["f1"] == ("n too small in the pilot (8 documents < 10): no variance estimate; pilot on at least 10 questions in "
                           "at least 10 clusters")
    assert notes["em"] == "n too small in the pilot (8 documents < 10): no variance estimate; pilot on at least 10 questions"


def test_units_are_pluralised_by_their_first_word(tmp_path, capsys):
    """Perplexity's unit is 'document (all its windows together)': 'documents (all its windows together)'."""
    unit = "document (all its windows together)"
    rows = [_comparison("perplexity", "nll_per_token", unit=unit, n=6, min_n=20, var_unit=None, mde=None, ci95=None,
                        p_value=None, n_too_small=True, test="n too small"),
            _comparison("perplexity", "bits_per_byte", unit=unit, n=40, n_clusters=20, var_unit=0.01)]
    assert main(["plan", str(_pilot(tmp_path, rows)), "--effect", "0.02"]) == 0
    out = capsys.readouterr().out
    assert "pilot on at least 20 documents (all its windows together)" in out
    assert f"{exact(0.01, 0.02)} documents (all its windows together)" in out
    assert "at the pilot's 2 documents (all its windows together) per cluster" in out
    assert "together)s" not in out


def test_a_run_without_planning_data_says_why(tmp_path, capsys):
    old = {k: v for k, v in COMPARISONS[0].items() if k not in ("var_unit", "mde", "n_clusters")}
    rows = _json(capsys, str(_pilot(tmp_path, [old], family_size=None)), "--effect", "0.02")["rows"]
    assert rows[0]["documents"] is None and "records no var_unit" in rows[0]["note"]


@pytest.mark.parametrize("argv, fragment", [
    (["{missing}", "--effect", "0.02"], "no run.json"),
    (["{pilot}", "--effect", "0"], "--effect 0: must be a finite number above 0"),
    (["{pilot}", "--effect", "-0.02"], "--effect -0.02: must be"),
    (["{pilot}", "--effect", "nan"], "--effect nan: must be"),
    (["{pilot}", "--effect", "inf"], "--effect inf: must be"),
    (["{pilot}", "--effect", "0.02", "--power", "0"], "--power 0: must be between 0 and 1"),
    (["{pilot}", "--effect", "0.02", "--power", "1"], "--power 1: must be between 0 and 1"),
    (["{pilot}", "--effect", "0.02", "--power", "1.5"], "--power 1.5: must be between 0 and 1"),
    (["{pilot}", "--effect", "0.02", "--power", "nan"], "--power nan: must be"),
    (["{pilot}", "--effect", "two"], "invalid float value"),
    (["{pilot}"], "--effect"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, argv, fragment):
    pilot = _pilot(tmp_path)
    args = [a.format(pilot=pilot, missing=tmp_path / "nope") for a in argv]
    try:
        code = main(["plan", *args])
    except SystemExit as e:  # argparse's own errors (a flag missing, not a number)
        code = e.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error:") and fragment in err[0], err
