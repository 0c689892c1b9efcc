"""Simulated runs with a known truth, for benchmarks/simulate.py: paired per-document values as the tasks write
them, each generator returning a list of (base values, adapter values, cluster keys or None), one per comparison.
`delta` is the true difference (adapter - base) of the metric; delta 0 makes the two arms the same process (A/A).

Four generators of per-document scores in [0, 1] draw the shapes a symmetric redraw hides (tiny_large, drops_only,
skewed, ties): a rare component (large drops, drops of random size, large moves against many small ones, documents
leaving or joining a mass of zeros) whose frequency is solved from `delta`, so the population delta is exact at any
target; `changed_share` gives the share of documents whose value differs between the arms.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import beta, norm, poisson

BASE_ACCURACY = 0.7
SCORE_MIX = (0.4, 0.2)  # per-document scores: P(1.0), P(0.0), the rest Beta(2, 2): mean 0.6


def _categories(rng, size, churn: float, delta: float, accuracy: float = BASE_ACCURACY) -> np.ndarray:
    """Per question: 0 right in both arms, 1 wrong in both, 2 right->wrong ((churn - delta)/2 of them), 3 wrong->right
    ((churn + delta)/2): a share `churn` of answers changes and the true delta is `delta`."""
    worse, better = (churn - delta) / 2, (churn + delta) / 2
    return rng.choice(4, size=size, p=[accuracy - worse, 1 - accuracy - better, worse, better])


def _arms(cat: np.ndarray, keys=None) -> list[tuple]:
    return [(np.isin(cat, (0, 2)).astype(float).tolist(), np.isin(cat, (0, 3)).astype(float).tolist(), keys)]


def binary(rng, n: int, churn: float, delta: float, accuracy: float = BASE_ACCURACY) -> list[tuple]:
    """Paired 0/1 outcomes, n independent questions."""
    return _arms(_categories(rng, n, churn, delta, accuracy))


def _mixture(rng, size: int, ones: float, zeros: float) -> np.ndarray:
    u, out = rng.random(size), rng.beta(2, 2, size)
    out[u < ones] = 1.0
    out[(u >= ones) & (u < ones + zeros)] = 0.0
    return out


def scores(rng, n: int, churn: float, delta: float) -> list[tuple]:
    """Per-document scores in [0, 1] (token F1 style): many exactly 0 or 1; a share `churn` of documents gets a new
    score, drawn from a mixture whose mean is lower by -delta/churn (the same mixture when delta = 0)."""
    base = _mixture(rng, n, *SCORE_MIX)
    shift = -delta / churn
    changed = rng.random(n) < churn
    tuned = base.copy()
    tuned[changed] = _mixture(rng, int(changed.sum()), SCORE_MIX[0] - shift, SCORE_MIX[1] + shift)
    return [(base.tolist(), tuned.tolist(), None)]


def _swapped(sample: list[tuple]) -> list[tuple]:
    """The arms exchanged: the same law with every change reversed, so the true delta changes sign."""
    return [(tuned, base, keys) for base, tuned, keys in sample]


LARGE_DROP = (0.5, 1.0)  # tiny_large: a large drop's size, uniform on this range


def tiny_large(rng, n: int, delta: float, tiny: float = 0.6, step: float = 0.01) -> list[tuple]:
    """Many tiny changes and rare large drops: a share `tiny` of documents (base Uniform(0.05, 0.95)) moves by
    +-`step` (symmetric, mean 0); a share -delta / E[drop] falls by a drop Uniform on LARGE_DROP (mean 0.75) to a
    score Uniform(0, 1 - drop). delta > 0: the arms swapped (rare large gains)."""
    if delta > 0:
        return _swapped(tiny_large(rng, n, -delta, tiny, step))
    drop = -delta / (sum(LARGE_DROP) / 2)
    if drop + tiny > 1:
        raise ValueError(f"tiny_large: delta {delta} needs {drop:.1%} drops beside {tiny:.0%} tiny changes")
    u, size = rng.random(n), rng.uniform(*LARGE_DROP, n)
    fallen = rng.random(n) * (1 - size)
    base = np.where(u < drop, fallen + size, rng.uniform(0.05, 0.95, n))
    tuned = base + np.where(rng.random(n) < 0.5, -step, step) * ((u >= drop) & (u < drop + tiny))
    tuned = np.where(u < drop, fallen, tuned)
    return [(base.tolist(), tuned.tolist(), None)]


MIXTURE_MEAN = SCORE_MIX[0] + 0.5 * (1 - sum(SCORE_MIX))  # the mean of _mixture(*SCORE_MIX): Beta(2, 2) has mean 0.5


def drops_only(rng, n: int, delta: float) -> list[tuple]:
    """Drops only, of random size: base scores as in `scores` (40% exactly 1, 20% exactly 0); a share
    -delta / (MIXTURE_MEAN / 2) of documents loses Uniform(0, 1) of its base score, the rest keep theirs.
    delta > 0: the arms swapped (gains only)."""
    if delta > 0:
        return _swapped(drops_only(rng, n, -delta))
    drop = -delta / (MIXTURE_MEAN / 2)
    if drop > 1:
        raise ValueError(f"drops_only: delta {delta} is beyond the largest mean drop, {-MIXTURE_MEAN / 2}")
    base = _mixture(rng, n, *SCORE_MIX)
    tuned = np.where(rng.random(n) < drop, base * (1 - rng.random(n)), base)
    return [(base.tolist(), tuned.tolist(), None)]


def skewed(rng, n: int, delta: float, rare: str = "gains", small: float = 0.02, share: float = 0.4,
           large: float = 0.8) -> list[tuple]:
    """Rare large moves against many small ones the other way. rare "gains": a share `share` of documents loses
    `small`, a share (delta + share x small) / large gains `large` (bases drawn where the move fits in [0, 1]);
    rare "drops": the arms of the "gains" law at -delta swapped (many small gains, rare large drops)."""
    if rare == "drops":
        return _swapped(skewed(rng, n, -delta, "gains", small, share, large))
    gain = (delta + share * small) / large
    if not 0 <= gain <= 1 - share:
        raise ValueError(f"skewed: delta {delta} needs a share {gain:.1%} of large gains; choose another `small`")
    u = rng.random(n)
    gains, losses = u < gain, (u >= gain) & (u < gain + share)
    base = np.where(gains, rng.uniform(0, 1 - large, n), np.where(losses, rng.uniform(small, 1, n), rng.random(n)))
    tuned = base + large * gains - small * losses
    return [(base.tolist(), tuned.tolist(), None)]


def ties(rng, n: int, delta: float, zeros: float = 0.85, moves: float = 0.05) -> list[tuple]:
    """Heavy ties at 0 (token F1 on a hard probe): a share `zeros` of documents scores exactly 0 in both arms, the
    rest Uniform(0, 1) in the base; a share `moves` of documents redraws its score (mean change 0), a share
    -2 delta falls to 0. delta > 0: the arms swapped (documents leave the zeros)."""
    if delta > 0:
        return _swapped(ties(rng, n, -delta, zeros, moves))
    fall = -2 * delta
    if fall + moves > 1 - zeros:
        raise ValueError(f"ties: delta {delta} needs {fall:.1%} falls beside {moves:.0%} moves among the non-zeros")
    u = rng.random(n)
    base = np.where(u < 1 - zeros, rng.random(n), 0.0)
    tuned = np.where(u < fall, 0.0, np.where(u < fall + moves, rng.random(n), base))
    return [(base.tolist(), tuned.tolist(), None)]


def changed_share(kind: str, delta: float, **params) -> float:
    """The expected share of documents whose value differs between the arms, for the four generators above (every
    move is almost surely a change, but a drop of a base score of 0: drops_only's bases are 0 a share SCORE_MIX[1])."""
    d = abs(delta)
    if kind == "tiny_large":
        return params.get("tiny", 0.6) + d / (sum(LARGE_DROP) / 2)
    if kind == "drops_only":
        return d / (MIXTURE_MEAN / 2) * (1 - SCORE_MIX[1])
    if kind == "skewed":
        share, small = params.get("share", 0.4), params.get("small", 0.02)
        signed = delta if params.get("rare", "gains") == "gains" else -delta
        return share + (signed + share * small) / params.get("large", 0.8)
    if kind == "ties":
        return params.get("moves", 0.05) + 2 * d
    raise ValueError(f"changed_share: no expected churn for {kind!r}")


def clustered_binary(rng, n: int, m: int, icc: float, churn: float, delta: float) -> list[tuple]:
    """n questions, m per document, paired 0/1: each question's outcome pair is drawn as in `binary` or, with
    probability sqrt(icc), copied from one draw shared by its document; so the paired differences (and each arm's
    outcomes) have intraclass correlation exactly `icc`, while churn and true delta stay as given."""
    k = n // m
    shared = _categories(rng, (k, 1), churn, delta)
    cat = np.where(rng.random((k, m)) < math.sqrt(icc), shared, _categories(rng, (k, m), churn, delta))
    return _arms(cat.ravel(), np.repeat(np.arange(k), m).tolist())


def clustered_scores(rng, n: int, m: int, icc: float, delta: float) -> list[tuple]:
    """n questions, m per document, scores in [0, 1]: base uniform on [0.3, 0.7]; adapter = base + delta + a document
    effect + a question effect (bounded, sd 0.1 together, intraclass correlation `icc`): no clipping, truth exact."""
    def uniform(shape):  # variance 1
        return rng.uniform(-math.sqrt(3), math.sqrt(3), shape)

    k, base = n // m, rng.uniform(0.3, 0.7, n)
    d = 0.1 * (math.sqrt(icc) * uniform((k, 1)) + math.sqrt(1 - icc) * uniform((k, m))).ravel()
    keys = np.repeat(np.arange(k), m).tolist()
    return [(base.tolist(), (base + delta + d).tolist(), keys)]


CLASS_SHARE = np.array([0.1, 0.15, 0.2, 0.25, 0.3])
CLASS_ACCURACY = np.array([0.5, 0.55, 0.6, 0.65, 0.7])
UNPARSEABLE = 0.05


def _answer_law(lift) -> np.ndarray:
    """P(pred | gold) as a 5 x 6 matrix, column 0 = unparseable (-1), columns 1..5 = classes 0..4."""
    acc = (1 - UNPARSEABLE) * (CLASS_ACCURACY + np.asarray(lift))
    law = np.zeros((5, 6))
    law[:, 0] = UNPARSEABLE
    law[:, 1:] = ((1 - UNPARSEABLE - acc) / 4)[:, None]
    law[np.arange(5), np.arange(5) + 1] = acc
    return law


def _macro_f1(joint: np.ndarray) -> float:
    tp = np.diagonal(joint[:, 1:])
    return float(np.mean(2 * tp / (joint.sum(1) + joint[:, 1:].sum(0))))


def macro_truth(churn: float, lift) -> float:
    """Population macro F1 of the adapter minus the base's, from the expected confusion matrices."""
    base = CLASS_SHARE[:, None] * _answer_law(0.0)
    tuned = CLASS_SHARE[:, None] * ((1 - churn) * _answer_law(0.0) + churn * _answer_law(lift))
    return _macro_f1(tuned) - _macro_f1(base)


def macro_f1(rng, n: int, churn: float, lift, delta: float) -> list[tuple]:
    """yelp-style [gold, pred] pairs (pred -1: unparseable); the adapter re-answers a share `churn` of reviews, with
    accuracies raised by `lift` per class (none when delta is 0: the A/A runs redraw from the base's own law)."""
    gold = rng.choice(5, size=n, p=CLASS_SHARE)
    law = np.cumsum(_answer_law(0.0), axis=1)
    new_law = np.cumsum(_answer_law(lift if delta else 0.0), axis=1)
    base = (rng.random(n)[:, None] > law[gold]).sum(1) - 1
    redraw = (rng.random(n)[:, None] > new_law[gold]).sum(1) - 1
    tuned = np.where(rng.random(n) < churn, redraw, base)
    return [(np.stack([gold, base], 1).tolist(), np.stack([gold, tuned], 1).tolist(), None)]


def metrics(rng, n: int, churn: float, adapters: int, count: int, delta: float = 0.0) -> list[tuple]:
    """`adapters` adapters, each equal to the base (it re-answers a share `churn` of documents from the same law),
    scored by `count` metrics that are noisy functions of the same answers (half 0/1 at different thresholds, half
    scores in [0, 1]): every comparison is null, and they are correlated as a run's metrics are."""
    def answer(size):  # an answer's quality and its metric-specific noise
        return rng.standard_normal(size), rng.standard_normal((size, count))

    def score(quality, noise):
        latent = quality[:, None] + 0.5 * noise
        half = count // 2
        cut = np.linspace(-0.5, 0.5, half)
        return np.hstack([(latent[:, :half] > cut).astype(float), np.round(norm.cdf(latent[:, half:]), 1)])

    base = score(*answer(n))
    out = []
    for _ in range(adapters):
        tuned = np.where((rng.random(n) < churn)[:, None], score(*answer(n)), base)
        out += [(base[:, j].tolist(), tuned[:, j].tolist(), None) for j in range(count)]
    return out


def groups(rng, n: int, churn: float, count: int, delta: float = 0.0) -> list[tuple]:
    """`count` groups (MMLU subjects) of n questions, accuracies between 0.3 and 0.9, the adapter equal to the base."""
    return [binary(rng, n, churn, 0.0, accuracy)[0] for accuracy in rng.uniform(0.3, 0.9, count)]


def corpus_rouge(rng, n: int, effect: float, delta: float) -> list[tuple]:
    """docqa's rouge1_corpus: per answer, ROUGE-1 matches among min(prediction, reference) tokens (lengths 10 +
    Poisson(20)) at a rate ~ Beta(3, 3) per question, `effect` higher for the adapter (none when delta is 0); each
    arm draws its own matches, so every answer differs."""
    pred_len, ref_len, rate = 10 + rng.poisson(20, n), 10 + rng.poisson(20, n), rng.beta(3, 3, n)

    def answer(q):
        m = rng.binomial(np.minimum(pred_len, ref_len), np.clip(q, 0, 1))
        return [{"rouge1": {"matches": int(x), "pred_len": int(y), "ref_len": int(z)}}
                for x, y, z in zip(m, pred_len, ref_len)]

    return [(answer(rate), answer(rate + (effect if delta else 0.0)), None)]


def rouge_truth(effect: float) -> float:
    """Population corpus ROUGE-1 F of the adapter minus the base's: E[matches] / E[length] (precision = recall, the
    lengths being alike), E[min of two lengths] = sum over k of P(length >= k)^2."""
    k = np.arange(1, 200)
    at_least = np.where(k <= 10, 1.0, poisson.sf(k - 11, 20))
    shorter = float(np.sum(at_least ** 2))
    gain = float(beta(3, 3).expect(lambda x: min(x + effect, 1.0))) - 0.5
    return shorter / 30 * gain


def perplexity(rng, n: int, effect: float, delta: float) -> list[tuple]:
    """[summed loglikelihood, tokens] per document (20 + Poisson(200) tokens, hardness ~ N(3, 0.5) nats per token,
    the adapter `effect` nats harder when delta is not 0): weighted perplexity exp(-sum ll / sum tokens)."""
    tokens, hardness = 20 + rng.poisson(200, n), rng.normal(3, 0.5, n)

    def ll(shift):
        return [[float(x), int(t)] for x, t in zip(-tokens * (hardness + shift + rng.normal(0, 0.05, n)), tokens)]

    return [(ll(0.0), ll(effect if delta else 0.0), None)]


GENERATORS = {"binary": binary, "scores": scores, "clustered_binary": clustered_binary,
              "clustered_scores": clustered_scores, "macro_f1": macro_f1, "corpus_rouge": corpus_rouge,
              "perplexity": perplexity, "metrics": metrics, "groups": groups, "tiny_large": tiny_large,
              "drops_only": drops_only, "skewed": skewed, "ties": ties}
# the aggregations tasks register (tasks/yelp, tasks/docqa) or lm-eval names; every other kind is a mean
AGGREGATION = {"macro_f1": "f1_macro", "corpus_rouge": "rouge1_corpus", "perplexity": "weighted_perplexity"}
