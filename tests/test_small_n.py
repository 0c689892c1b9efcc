"""Small n is a verdict of its own, never a pass: the exact sign-flip test beside "n too small" (checked against an
enumeration written here), its fields in run.json, and a Verdict that names what got worse with evidence and every
task it could not judge, and never bounds a drop past what the base itself scores."""

from __future__ import annotations

import itertools
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_reports import RULES  # the gate rules the report tests judge the golden run with

from harness.cli.app import main
from harness.core import aggregations, comparisons, results, signflip, stats
from reports import data, markdown, numbers, stopping, text
from reports import verdict as words

GOLDEN_RUN = Path(__file__).resolve().parent / "data" / "golden_run"


def _enumerated_p(statistic, n: int) -> float:
    """The two-sided sign-flip p by brute force: every one of the 2**n swap patterns of all n units (unchanged ones
    included, which cannot matter), the share at least as extreme as the observed."""
    observed = statistic((False,) * n)
    flipped = [statistic(pattern) for pattern in itertools.product((False, True), repeat=n)]
    return sum(s >= observed - 1e-9 * max(1.0, observed) for s in flipped) / len(flipped)


def test_six_of_six_one_way_is_two_in_sixty_four():
    p, draws, up, down = signflip.mean_test(np.array([0.5, 1.0, 2.0, 0.1, 3.0, 0.7]))
    assert draws is None  # every pattern enumerated: exact
    assert p == 2 / 64 == 0.03125 and (up, down) == (6, 0)
    assert signflip.mean_test(np.zeros(5)) == (1.0, None, 0, 0)  # nothing changed: nothing to show


@pytest.mark.parametrize("seed", range(5))
def test_mean_test_matches_enumeration(seed):
    rng = np.random.default_rng(seed)
    d = np.round(rng.normal(0.3, 1.0, size=9), 1)
    d[rng.random(9) < 0.3] = 0.0  # unchanged documents: left out of the flips, without changing p
    p, _, up, down = signflip.mean_test(d)
    stat = lambda pattern: abs(sum(-x if f else x for x, f in zip(d, pattern)))  # noqa: E731
    assert p == pytest.approx(_enumerated_p(stat, len(d)), abs=1e-12)
    assert (up, down) == (int(np.sum(d > 0)), int(np.sum(d < 0)))


def test_mean_test_flips_whole_clusters():
    d = np.array([1.0, 0.5, -0.2, 1.0, 0.0, 0.3, 0.4, -1.0])
    clusters = ["a", "a", "b", "c", "c", "d", "e", "e"]
    totals = [1.5, -0.2, 1.0, 0.3, -0.6]
    p, _, up, down = signflip.mean_test(d, clusters)
    stat = lambda pattern: abs(sum(-t if f else t for t, f in zip(totals, pattern)))  # noqa: E731
    assert p == pytest.approx(_enumerated_p(stat, len(totals)), abs=1e-12)
    assert (up, down) == (3, 2)


def test_corpus_test_on_weighted_perplexity_matches_enumeration():
    """Each document's (log-likelihood, words) swapped between the arms, the corpus perplexity recomputed."""
    to_array, reduce = aggregations.spec("weighted_perplexity")
    base = [(-120.0, 80), (-60.0, 50), (-200.0, 90), (-30.0, 40), (-90.0, 60), (-75.0, 45), (-10.0, 20)]
    tuned = [(-150.0, 80), (-58.0, 50), (-260.0, 90), (-45.0, 40), (-90.0, 60), (-70.0, 45), (-30.0, 20)]
    a, b = to_array(base), to_array(tuned)
    p, _, up, down = signflip.corpus_test(a, b, reduce)

    def stat(pattern):
        x = [t if not f else s for s, t, f in zip(base, tuned, pattern)]
        y = [s if not f else t for s, t, f in zip(base, tuned, pattern)]
        return abs(aggregations.weighted_perplexity(x) - aggregations.weighted_perplexity(y))

    assert p == pytest.approx(_enumerated_p(stat, len(base)), abs=1e-12)
    own = [math.exp(-t[0] / t[1]) - math.exp(-s[0] / s[1]) for s, t in zip(base, tuned)]
    assert (up, down) == (sum(x > 0 for x in own), sum(x < 0 for x in own)) == (4, 2)


def test_corpus_test_perplexity_six_of_six_worse():
    to_array, reduce = aggregations.spec("weighted_perplexity")
    base = to_array([(-100.0 - i, 70 + i) for i in range(6)])
    tuned = to_array([(-400.0 - 7 * i, 70 + i) for i in range(6)])
    assert signflip.corpus_test(base, tuned, reduce) == (2 / 64, None, 6, 0)


def test_monte_carlo_beyond_sixteen_changed_matches_the_sign_test():
    """20 documents each +1 or -1: |sum| over random flips is the sign test, whose exact two-sided p is binomial."""
    d = np.array([1.0] * 15 + [-1.0] * 5)
    p, draws, up, down = signflip.mean_test(d, rng=np.random.default_rng(1))
    assert draws == signflip.DRAWS  # drawn at random, and recorded as such (never called exact)
    exact = sum(math.comb(20, k) for k in range(21) if abs(2 * k - 20) >= 10) / 2 ** 20
    assert (up, down) == (15, 5)
    assert abs(p - exact) < 4 * math.sqrt(exact * (1 - exact) / signflip.DRAWS) + 1 / signflip.DRAWS


def test_every_small_n_branch_fills_the_exact_test():
    """Means below MIN_PAIRS, a corpus metric below MIN_PAIRS_CORPUS, one with too few changed documents, one with too
    few clusters: all "n too small", no p_value, and p_exact with the counts beside it."""
    mean = stats.compare([0, 0, 0, 0, 1, 0], [1, 1, 1, 1, 1, 1])
    base = [(-100.0, 70)] * 30
    tuned = [(-400.0, 70)] * 3 + base[3:]
    few_changed = stats.compare(base, tuned, "weighted_perplexity")
    few_docs = stats.compare(base[:6], [(-400.0, 70)] * 6, "weighted_perplexity")
    few_clusters = stats.compare(base, [(-400.0, 70)] * 30, "weighted_perplexity", clusters=[i % 4 for i in range(30)])
    for c in (mean, few_changed, few_docs, few_clusters):
        assert c.test == stats.N_TOO_SMALL and c.p_value is None and c.ci95 is None and not c.significant
    assert (mean.p_exact, mean.n_up, mean.n_down) == (2 / 32, 5, 0)  # 5 of 6 changed, all up: 5 flips
    assert few_changed.n_changed == 3 and (few_changed.p_exact, few_changed.n_up) == (2 / 8, 3)
    assert (few_docs.p_exact, few_docs.n_up, few_docs.n_down) == (2 / 64, 6, 0)
    assert (few_clusters.n_clusters, few_clusters.p_exact, few_clusters.n_up) == (4, 2 / 16, 4)


def _golden(tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    shutil.copytree(GOLDEN_RUN, run_dir)
    return run_dir


def test_run_json_records_the_exact_test_outside_the_family(tmp_path):
    run_dir = _golden(tmp_path)
    run = comparisons.fill(results.load_run(run_dir), run_dir)
    results.write_json(run_dir / "run.json", run)
    run = results.load_run(run_dir)
    small = [c for c in run["comparisons"] if c["test"] == stats.N_TOO_SMALL]
    assert {c["task"] for c in small} >= {"perplexity"}
    for c in small:
        assert c["p_value"] is None and c["p_adjusted"] is None and not c["significant"]
        assert 0 < c["p_exact"] <= 1 and c["n_up"] + c["n_down"] <= (c["n_clusters"] or c["n"])
    for c in run["comparisons"]:
        if c["test"] != stats.N_TOO_SMALL:
            assert c["p_exact"] is None and c["n_up"] is None and c["n_down"] is None
    tested = sum(c["p_value"] is not None for c in run["comparisons"] if c["family"])
    assert run["statistics"]["family_size"] == tested  # the exact p joins no family
    ppl = next(c for c in small if (c["task"], c["metric"], c["arm"]) == ("perplexity", "token_perplexity", "lora_r8"))
    assert text.comparison_text(ppl).startswith(f"{numbers.delta(ppl['delta'])} (n too small: 6 documents < 20; ")
    assert f"of 6 documents better, exact p = {ppl['p_exact']:.3f})" in text.comparison_text(ppl)


def _edit(tmp_path: Path, change) -> Path:
    """The golden run, recomputed under this contract, with `change(comparison)` applied to every comparison."""
    run_dir = _golden(tmp_path)
    run = comparisons.fill(results.load_run(run_dir), run_dir)
    for c in run["comparisons"]:
        change(c)
    results.write_json(run_dir / "run.json", run)
    return run_dir


def _broke(run_dir: Path, arm: str = "lora_r8") -> str:
    return words.broke(data.load([run_dir]), arm)


def test_a_too_small_probe_is_not_judged_never_nothing(tmp_path):
    def small(c):
        if c["task"] == "general_qa":
            c.update(test=stats.N_TOO_SMALL, ci95=None, p_value=None, p_adjusted=None, significant=False, n=4,
                     min_n=10, n_up=1, n_down=2, p_exact=0.75)

    said = _broke(_edit(tmp_path, small))
    assert "nothing" not in said and "not judged: " in said
    assert said.startswith("no significant loss among the tasks judged; no forgetting probe could be judged")
    assert ("general_qa exact_match Δ -0.1000 (n too small: 4 documents < 10; 2 of 4 documents worse, 1 better, "
            "exact p = 0.750)") in said


def test_too_small_but_worse_by_the_exact_test_is_a_loss(tmp_path):
    def worse(c):
        if c["task"] == "perplexity":
            c.update(delta=abs(c["delta"]), n_up=6, n_down=0, p_exact=2 / 64)

    said = _broke(_edit(tmp_path, worse))
    assert said.startswith("perplexity token_perplexity: 6 of 6 documents worse (Δ +3.512; exact p = 0.031, not "
                           "adjusted for the run's comparisons)")
    assert said.count("perplexity ") == 1  # one row per task, not one per metric
    assert "not judged" not in said and "nothing" not in said


def test_everything_judged_still_says_nothing_significant(tmp_path):
    def judged(c):
        if c["task"] == "perplexity":
            c.update(test="paired-bootstrap+permutation", ci95=[-9.0, 1.0], p_value=0.2)

    assert _broke(_edit(tmp_path, judged)).startswith("nothing significant; forgetting read as non-inferiority: ")


@pytest.mark.parametrize("base, said", [
    (0.5, "rules out a drop larger than 0.2000"),
    (0.075, "cannot rule out any drop: the base itself scores 0.0750 and the interval reaches a drop of 0.2000, so "
            "the probe cannot show forgetting at all"),
    (0.0, "the base scores 0, so nothing can be forgotten on this probe; it judges nothing"),
])
def test_no_bound_past_the_base_score(base, said):
    c = {"delta": -0.05, "ci95": [-0.2, 0.1], "p_value": 0.4, "p_adjusted": 1.0, "significant": False,
         "higher_is_better": True, "test": "tango-score", "family": True}
    assert text.forgetting_verdict(c, base) == (said, False)
    assert stopping.non_inferiority(c, (-0.2, 0.1), base) == said
    lower = dict(c, higher_is_better=False)  # a rise in perplexity has no ceiling: the bound stands
    assert text.forgetting_verdict(lower, base)[0] == "rules out a rise larger than 0.1000"


def test_the_verdict_caps_the_bound_at_the_base_score(tmp_path):
    run_dir = _golden(tmp_path)
    run = results.load_run(run_dir)
    for s in run["scores"]:
        if (s["task"], s["arm"]) == ("general_qa", "base"):
            s["value"] = 0.1  # below the 0.3425 the interval reaches
    results.write_json(run_dir / "run.json", run)
    md = markdown.render(data.load([run_dir]), [])
    assert "general_qa exact_match: cannot rule out any drop: the base itself scores 0.1000" in md
    assert "rules out a drop larger than 0.3425" not in md


def test_the_verdict_reads_a_probe_on_the_gate_metric(tmp_path):
    run_dir = _golden(tmp_path)
    (tmp_path / "rules.yaml").write_text(RULES)  # its forgetting rule judges general_qa on f1
    assert main(["gate", str(run_dir), "--rules", str(tmp_path / "rules.yaml"), "--record"]) in (0, 1)
    report = data.load([run_dir])
    assert words.reading(report, "lora_r8", "general_qa")["metric"] == "f1"
    said = words.broke(report, "lora_r8")
    assert "general_qa f1: " in said and "general_qa exact_match" not in said
    assert words.reading(data.load([GOLDEN_RUN]), "lora_r8", "general_qa")["metric"] == "exact_match"


@pytest.mark.parametrize("record, said", [
    ({"unit": "question", "n": 8, "n_up": 1, "n_down": 6, "delta": -0.6}, "6 of 8 questions worse, 1 better"),
    ({"unit": "document (all its windows together)", "n": 6, "n_up": 6, "n_down": 0, "delta": 900.0,
      "higher_is_better": False}, "6 of 6 documents worse"),
    ({"unit": "question", "n": 12, "n_clusters": 6, "n_up": 1, "n_down": 0, "delta": 0.05}, "1 of 6 clusters better"),
    ({"unit": "review", "n": 5, "n_up": 0, "n_down": 0, "delta": 0.0}, "none of 5 reviews went either way"),
])
def test_direction_in_the_metrics_good_direction_and_the_tasks_unit(record, said):
    c = dict(record, test=stats.N_TOO_SMALL, p_exact=0.0004, min_n=10)
    assert text.direction_text(c) == said
    assert text.comparison_text(c).endswith(f"; {said}, exact p < 0.001)")


def test_a_unit_whose_own_metric_did_not_move_is_not_flipped():
    """Corpus ROUGE-like ratio: one document's score rose, five kept their score with answers of another length.
    Only the one that moved is flipped, so the p (1.0) never claims more than 1 changed document can show."""
    to_array, reduce = aggregations.spec("weighted_perplexity")
    base = [(-100.0, 50)] * 6
    tuned = [(-50.0, 50)] + [(-200.0, 100)] * 5  # the five: the same per-token loss over twice the tokens
    p, draws, up, down = signflip.corpus_test(to_array(base), to_array(tuned), reduce)
    assert (p, draws, up, down) == (1.0, None, 0, 1)


def test_a_monte_carlo_p_is_never_called_exact_nor_evidence_near_alpha():
    from reports import text

    c = {"test": stats.N_TOO_SMALL, "p_exact": 0.048, "p_draws": 2000, "n_up": 14, "n_down": 0, "n": 19}
    assert text.exact_p(c) == "sign-flip p = 0.048 (Monte Carlo, 2000 random flips)"
    assert not text.exact_evidence(c)  # 0.048 + 2 x 0.0048 is above 0.05: another seed could say otherwise
    assert text.exact_evidence({**c, "p_exact": 0.01}) and text.exact_evidence({**c, "p_exact": 0.031, "p_draws": None})
