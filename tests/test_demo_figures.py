"""The demo's shipped base and recorded figures (fast: no model runs here; tests/test_demo.py runs the demo)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from harness.core.errors import HarnessError
from harness.demo import figures, shipped

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"


def test_the_shipped_bases_are_the_bytes_sha256sums_lists(tmp_path):
    sums = shipped.expected()
    assert sorted(sums) == sorted(f"{size}/{name}" for size in ("quick", "full") for name in shipped.FILES)
    for size in ("quick", "full"):
        assert shipped.digests(shipped.BASES / size) == {k: v for k, v in sums.items() if k.startswith(size + "/")}
        copied = shipped.copy_base(size == "quick", tmp_path / size)
        assert sorted(p.name for p in copied.iterdir()) == sorted(shipped.FILES)


def test_a_damaged_shipped_base_is_one_clear_error(tmp_path, monkeypatch):
    fake = tmp_path / "bases"
    (fake / "quick").mkdir(parents=True)
    for name in shipped.FILES:
        (fake / "quick" / name).write_text("version https://git-lfs.github.com/spec/v1\n")  # an LFS pointer
    (fake / "SHA256SUMS").write_text(shipped.SUMS.read_text())
    monkeypatch.setattr(shipped, "BASES", fake)
    monkeypatch.setattr(shipped, "SUMS", fake / "SHA256SUMS")
    with pytest.raises(HarnessError, match=r"quick/config.json is missing or not the one SHA256SUMS lists"):
        shipped.copy_base(True, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("key, got, want, ok", [
    ("yelp/accuracy/base", 0.2133000001, 0.2133, True),  # the base: within a millionth, below any printed digit
    ("yelp/accuracy/base", 0.2133003, 0.2133, False),
    ("perplexity/token_perplexity/base", 64638.9, 64632.45, False),
    ("yelp/accuracy/adapter", 0.83, 0.93, True),  # the adapter's shares: within 0.10
    ("yelp/accuracy/adapter", 0.82, 0.93, False),
    ("perplexity_general/token_perplexity/adapter", 200.0, 100.0, True),  # its perplexities: a factor of 2
    ("perplexity_general/token_perplexity/adapter", 49.0, 100.0, False),
])
def test_the_tolerance_is_the_one_docs_states(key, got, want, ok):
    assert figures.within(key, got, want) is ok


def test_the_base_tolerance_is_below_every_printed_digit():
    """The README prints at most 5 significant digits (64632) or 4 decimals (0.2133): a relative millionth is far below
    the unit of its last digit (only a figure sitting on a rounding boundary could show it)."""
    assert figures.BASE_RELATIVE * 99999 < 0.5 and figures.BASE_RELATIVE < 0.5e-4


def test_the_readme_and_docs_state_the_tolerance_the_code_checks():
    shares, factor = f"{figures.ADAPTER_ABSOLUTE:.2f}", f"a factor of {1 + figures.ADAPTER_RELATIVE:g}"
    docs = (REPO / "docs" / "demo.md").read_text()
    assert f"within {shares}" in docs and f"within {factor}" in docs
    readme = " ".join((REPO / "README.md").read_text().split())
    assert f"differ by up to {shares}" in readme and f"by up to {factor}" in readme


def _run(values: dict[tuple[str, str, str], float]) -> dict:
    return {"scores": [{"task": t, "metric": m, "arm": a, "value": v} for (t, m, a), v in values.items()]}


def test_the_closing_line_says_same_or_which_figures_differ_and_why(monkeypatch, tmp_path):
    recorded = {"quick": {"date": "2026-12-07", "machine": "2-core test CPU",
                          "figures": {"yelp/accuracy/base": 0.2, "yelp/accuracy/adapter": 0.9}}}
    monkeypatch.setattr(figures, "EXPECTED", tmp_path / "expected.json")
    figures.EXPECTED.write_text(json.dumps(recorded))
    same = figures.verdict_line(_run({("yelp", "accuracy", "base"): 0.2, ("yelp", "accuracy", "r"): 0.85}), True, 0, 0)
    assert same.startswith("headline: the same as recorded for the quick demo (2026-12-07 on a 2-core test CPU)")
    other = figures.verdict_line(_run({("yelp", "accuracy", "base"): 0.2, ("yelp", "accuracy", "r"): 0.5}), True, 0, 0)
    assert "1 figure(s) differ" in other and "yelp/accuracy/adapter 0.5 (README: 0.9)" in other
    assert "trained on this CPU" in other
    assert figures.verdict_line(_run({}), True, 3, 0).startswith("--seed 3: a base pre-trained on this CPU")
    assert "no recorded figures" in figures.verdict_line(_run({}), False, 0, 0)


def test_the_readme_headline_is_the_benchmarks_latest_output():
    """The README's demo table is what `python -m benchmarks.demo --write` recorded, row for row, and its figures are
    the ones the package records for the demo's closing line: neither can drift from the other."""
    sys.path.insert(0, str(REPO))  # benchmarks/ is not an installed package
    from benchmarks import demo

    latest = sorted(RESULTS.glob("*-demo-x86_64-*.json"))[-1]
    result = json.loads(latest.read_text())
    assert demo.readme_block((REPO / "README.md").read_text()) == demo.block(result)
    assert figures.expected(quick=False)["figures"] == result["figures"]
    quick = json.loads(sorted(RESULTS.glob("*-demo-quick-x86_64-*.json"))[-1].read_text())
    assert figures.expected(quick=True)["figures"] == quick["figures"]
