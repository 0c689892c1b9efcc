"""The demo's headline figures, and how far they may move between machines: the README's table is the full demo's,
recorded by `python -m benchmarks.demo --write` in expected.json (the quick demo's too), and the demo's last lines
say whether the user's figures are the same, within the tolerance below, and why they may not be. No torch here.

What is exact everywhere: the generated world (Python's seeded random) and the base's bytes (shipped, sha256-checked),
so the base's scores match to the printed digits (its evaluation sums in another order on another CPU: the last
bits of a perplexity move, never a printed digit). The adapter is trained on the user's CPU, and a different order
of floating-point sums gives other weights: its figures move within TOLERANCE, measured with two kernel sets
(tests/test_demo.py) and stated in docs/demo.md.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.core.arms import BASE_ARM

EXPECTED = Path(__file__).resolve().parent / "expected.json"
# the README's rows: the first figure of each task, and the yelp figures a reader asks about first
ROWS = (("yelp", "accuracy"), ("yelp", "f1_macro"), ("yelp", "unparseable_rate"), ("yelp_mc", "acc"),
        ("docqa", "rougeL"), ("perplexity", "token_perplexity"), ("perplexity_general", "token_perplexity"),
        ("general_qa", "f1"))
BASE_RELATIVE = 1e-6  # the base's figures: within a millionth, below every printed digit (measured: 3e-7)
ADAPTER_ABSOLUTE = 0.10  # the adapter's shares (accuracy, F1, rates): within 0.10
ADAPTER_RELATIVE = 1.0  # the adapter's perplexities: within a factor of 2 (how much it forgets is the chaotic part)


def headline(run: dict) -> dict[str, float]:
    """'task/metric/arm' -> the score, for the README's rows and both arms."""
    return {f"{s['task']}/{s['metric']}/{'base' if s['arm'] == BASE_ARM else 'adapter'}": s["value"]
            for s in run["scores"] if (s["task"], s["metric"]) in ROWS and s.get("value") is not None}


def within(key: str, got: float, want: float) -> bool:
    if key.endswith("/base"):
        return abs(got - want) <= BASE_RELATIVE * max(abs(want), 1e-12)
    if "perplexity" in key.split("/")[1]:
        return max(got, want) <= (1 + ADAPTER_RELATIVE) * min(got, want)
    return abs(got - want) <= ADAPTER_ABSOLUTE + 1e-12  # exactly 0.10 apart is within


def differences(got: dict[str, float], want: dict[str, float]) -> list[str]:
    """The figures outside the tolerance, as 'key: got (README: want)'."""
    return [f"{k} {got.get(k, float('nan')):.4g} (README: {v:.4g})" for k, v in want.items()
            if k not in got or not within(k, got[k], v)]


def expected(quick: bool) -> dict | None:
    try:
        return json.loads(EXPECTED.read_text())["quick" if quick else "full"]
    except (OSError, ValueError, KeyError):
        return None


def verdict_line(run: dict, quick: bool, seed: int, seed_shipped: int) -> str:
    """The demo's closing word on reproducibility: the same figures as recorded, or which differ and why."""
    want = expected(quick)
    if seed != seed_shipped:
        return (f"--seed {seed}: a base pre-trained on this CPU, with figures of its own (the README's are those of "
                f"the shipped base, --seed {seed_shipped})")
    if want is None:
        return "no recorded figures in this installation to compare with (harness/demo/expected.json)"
    where = f"{want['date']} on a {want['machine']}"
    bad = differences(headline(run), want["figures"])
    if not bad:
        return (f"headline: the same as {'recorded for the quick demo' if quick else 'the README'} ({where}): the "
                "base's figures to the printed digits, the adapter's within the stated tolerance")
    return (f"headline: {len(bad)} figure(s) differ from the recorded ones ({where}) beyond the tolerance: "
            f"{'; '.join(bad[:4])}{' ...' if len(bad) > 4 else ''}. The base is the same bytes everywhere; the "
            "adapter was trained on this CPU, whose floating-point sums run in another order than the recording "
            "machine's (docs/demo.md: what is exact everywhere)")
