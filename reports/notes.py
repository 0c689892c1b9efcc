"""The report's explanations, in words: how the comparisons were made (the statistics note), how to read the
headline's stars and the forgetting verdicts, what the gate section is. Built from run.json's `statistics` and
comparisons, so the words follow the run (its adjustment, its family, its clusters, its missing values)."""

from __future__ import annotations

from harness.core import stats
from harness.core.bootstrap import MAX_RESAMPLES
from reports import numbers, tables
from reports.data import Report

ADJUSTMENTS = {  # run.json statistics.multiplicity -> (short name, what it controls)
    "holm": ("Holm", "Holm's step-down adjustment keeps the chance of even one false star in the run at 5% or less "
                     "(the family-wise error), whatever the dependence between the comparisons"),
    "bh": ("BH", "Benjamini-Hochberg's adjustment keeps the expected share of false stars among the stars at 5% or "
                 "less (the false discovery rate): more stars than Holm would give, a few of which may be false"),
}


def _infos(report: Report) -> list[dict]:
    return [r.get("statistics") or {} for r in report.runs]


def adjustment(report: Report) -> str:
    """The adjustment's short name ('Holm', 'BH'; both, for merged runs that differ)."""
    methods = dict.fromkeys(i.get("multiplicity", "holm") for i in _infos(report))
    return " / ".join(ADJUSTMENTS.get(m, (str(m), ""))[0] for m in methods)


def family_words(report: Report) -> str:
    """'the run's 28 comparisons', or for merged runs 'each run's own comparisons (28 in A, 14 in B)'."""
    infos = _infos(report)
    if len(infos) == 1:
        size = infos[0].get("family_size")
        return f"the run's {size} comparisons" if size is not None else "the run's comparisons"
    sizes = ", ".join(f"{i.get('family_size', '?')} in {r['run_id']}" for i, r in zip(infos, report.runs))
    return f"each run's own comparisons ({sizes})"


def markers(report: Report) -> str:
    name = adjustment(report)
    return f"* {name}-adjusted p < 0.05, ** < 0.01, *** < 0.001 ({name} over {family_words(report)})"


def unstarred(report: Report) -> str:
    """The sentence every caption that shows a CI beside stars carries."""
    return (f"A CI that excludes 0 without a star is not significant once {family_words(report)} are accounted "
            "for: each CI holds for its own comparison, the stars for the whole family.")


def headline_caption(report: Report) -> str:
    return ("Base model vs adapters on the same documents (a *_drop metric leaves out each arm's unparseable "
            "answers, so its values cover each arm's own parsed answers: the n cell gives those counts, and its Δ "
            "is still paired by document). Best value in bold. n (MDE): the documents compared and "
            "the minimum detectable effect, the change that comparison would detect with 80% power at two-sided 5%. "
            f"Δ = adapter − base with its per-comparison 95% CI; {markers(report)}. {unstarred(report)} "
            "↑ higher is better, ↓ lower is better. How each number was computed: the Statistics section; what "
            "each metric is: the Metrics section.")


def _clusters(report: Report, index: dict) -> str:
    clustered = {}
    for (task, _, _), c in index.items():
        if c.get("n_clusters"):
            clustered.setdefault(task, set()).add(int(c["n_clusters"]))
    if not clustered:
        return ("Clusters: no task here declares any, so each document is its own unit. Questions that share a source "
                "document are not independent and should carry a cluster key (docqa's do): their comparisons then "
                "count clusters, not questions.")
    where = "; ".join(f"{t}: {'/'.join(str(k) for k in sorted(ks))} clusters" for t, ks in clustered.items())
    return (f"Clusters ({where}): questions that share a source document are not independent, so these comparisons "
            "count clusters: means of per-document values by a design effect (Rao-Scott: the counts divided by the "
            "variance inflation the clusters show, Student's t on K − 1 degrees of freedom), corpus metrics by a "
            "cluster bootstrap. n reads \"N in K clusters\".")


def _resampling(report: Report, index: dict) -> str:
    """How the corpus metrics were resampled, and what a run made with --resamples 0 lacks."""
    resampled = [c for c in index.values() if c.get("mc_error") is not None]
    starved = [c for c in index.values() if "needs --resamples" in str(c.get("test") or "")]
    starts = sorted({int(i["resamples"]) for i in _infos(report) if tables.present(i.get("resamples"))})
    seeds = " / ".join(str(s) for s in dict.fromkeys(i.get("seed", stats.SEED) for i in _infos(report)))
    text = ("Corpus metrics (F1 over classes, corpus ROUGE/BLEU, perplexity, macro averages): a paired bootstrap over "
            "documents with the metric recomputed on every resample (the expanded percentile interval), significant "
            "only when the paired swap test agrees, so they need resampling. ")
    lack = ("they show the delta alone, with no CI, no p-value, no star and no verdict (run.json's test reads "
            "\"paired-bootstrap (needs --resamples > 0)\"); run again with --resamples above 0 (1000 by default) to "
            "test them.")
    if starts and starts[-1] == 0:
        if not starved:
            return text + "This run was made with --resamples 0; none of its comparisons needed resampling."
        return text + (f"This run was made with --resamples 0, so none were drawn: its {len(starved)} corpus-metric "
                       f"comparisons needed resampling and got none; {lack}")
    first = " / ".join(str(s) for s in starts if s) or "n/a"
    text += (f"A resampled p-value starts from {first} resamples (seed {seeds}); the resamples are doubled, up to "
             f"{numbers.count(MAX_RESAMPLES)}, while p is within two Monte Carlo errors of 0.05, so a verdict does "
             "not turn on the seed; a p below the smallest value its resamples can show is extended by the normal "
             "approximation of both tests' spreads (never above that floor), so a clear difference can reach ** or "
             "*** after the adjustment. ")
    if starved:
        text += (f"{len(starved)} corpus-metric comparisons here, from a run made with --resamples 0, needed "
                 f"resampling and got none; {lack} ")
    if not resampled:
        return (text + ("" if starved else "No comparison here needed resampling.")).rstrip()
    used = [int(c["resamples"]) for c in resampled if c.get("resamples")]
    if not used:
        return text.rstrip()
    low, high = min(used), max(used)
    start = min((s for s in starts if s), default=low)
    doubled = sum(u > start for u in used)
    if low == high:
        span = f"{low} resamples each" + ("" if low <= start else " (doubled: p near 0.05)")
    else:
        span = (f"{low} to {high} resamples ({len(used) - doubled} kept the {start} they started from, {doubled} were "
                "doubled: p near 0.05)")
    return text + (f"Here: {len(resampled)} comparisons, {span}; Monte Carlo error of p at most "
                   f"{numbers.value(max(c['mc_error'] for c in resampled))} (run.json: resamples, mc_error).")


def _missing(index: dict) -> str:
    short = [c for c in index.values() if c.get("n_missing")]
    here = ("none here" if not short else
            f"here {len(short)} comparisons, {sum(int(c['n_missing']) for c in short)} document pairs in all")
    return ("Missing values: a document without a value on either side is left out of that comparison and counted "
            f"(n reads \"38 + 2 missing\"; run.json: n_missing): {here}.")


def _few_changed(index: dict, info: dict) -> str:
    """The corpus metrics' second minimum: documents whose values differ between the arms."""
    least = int(info.get("min_changed_corpus", stats.MIN_CHANGED_CORPUS))
    few = [c for c in index.values() if c.get("test") == stats.N_TOO_SMALL and tables.present(c.get("n_changed"))
           and int(c["n_changed"]) < least]
    here = f"here {len(few)} comparisons" if few else "none here"
    return (f"A corpus metric also needs at least {least} documents whose values differ between the arms; with "
            f"fewer it reads, for example, \"n too small: 3 changed documents < {least}\" ({here}), because a "
            "bootstrap over documents of which only a few changed is far too narrow (macro F1: 35% coverage instead "
            "of 95% with about 1 changed document, 61% with 3, 80-86% with 4 to 10). So when few answers change, a "
            "\"did not break\" rule (a gate's forgetting budget) should gate on a per-document metric (accuracy, "
            "exact match, token F1), whose interval stays honest with few changes.")


def statistics_note(report: Report) -> list[str]:
    """The statistics note, one paragraph per point: what was compared, how, what a star and an MDE mean."""
    info = _infos(report)[0]
    index = tables.comparison_index(report)
    units = " / ".join(sorted({str(v.get("unit", "document")) for v in report.tasks.values()}))
    family = info.get("family") if len(report.runs) == 1 and info.get("family") else family_words(report)
    method = dict.fromkeys(i.get("multiplicity", "holm") for i in _infos(report))
    return [
        f"Δ = adapter − base on the same documents, paired by document; the unit is the {units}, and n counts the "
        "pairs compared.",
        "Means of per-document values (accuracy, exact match, per-answer F1 or ROUGE): the CI is Tango's score "
        "interval for a difference of paired proportions. The p-value is the larger of McNemar's score test "
        "(Tango's statistic at 0) and McNemar's exact mid-p test, because the score test alone rejects too often "
        "when few answers change (4 of 4 changes one way gives p = 0.046, which happens 12.5% of the time with no "
        "difference); where the two disagree the CI is widened to 0, so \"the CI excludes 0\" and \"p < 0.05\" "
        "are one statement. The interval stays honest when few answers change (0 of 40 changed gives about ±0.09, "
        "not [0, 0]). Values in [0, 1] other than 0/1 (token F1, per-answer ROUGE) enter as the counts a random "
        "rounding of each difference to -1/0/+1 gives in expectation, so a large change the sample did not show is "
        "allowed for as it is for 0/1, and tiny changes never narrow the interval; planning numbers (MDE) are "
        "computed exactly for this test.",
        _resampling(report, index),
        _clusters(report, index),
        f"Stars: p adjusted over the family, {family}. "
        + " ".join(ADJUSTMENTS[m][1] + "." for m in method if m in ADJUSTMENTS)
        + " run.json keeps both p-values (p_value, p_adjusted), and the forgetting table prints both. "
        f"{unstarred(report)} Per-group rows (metric[group], such as general_mc's acc[subject]) are descriptive: "
        "outside the family, never starred; subjects are strata, not clusters.",
        "MDE: the change a comparison would detect with 80% power in a two-sided test at 5%, from its n, how often "
        "the two arms' answers differ, and its clusters (for a corpus metric, from the bootstrap spread of its "
        "delta), before the adjustment: a star needs somewhat more. A delta "
        "without a star that is smaller than its MDE says the run could not see it, not that there is none; "
        "harness plan RUN --effect E gives the documents a smaller effect needs.",
        _missing(index),
        f"With fewer than {info.get('min_pairs', stats.MIN_PAIRS)} paired documents "
        f"({info.get('min_pairs_corpus', stats.MIN_PAIRS_CORPUS)} for corpus metrics, "
        f"{info.get('min_clusters', stats.MIN_CLUSTERS)} clusters) a comparison reads \"n too small\": no CI, no "
        "p-value, no star, and no gate rule passes on it. Beside it stand how many documents (or clusters) went each way and the exact "
        "paired sign-flip test, valid at any n (\"6 of 6 documents worse, exact p = 0.031\"; 2/2^m is the least p "
        "m changed documents can give; a p from random flips, beyond 16 changed units, says so), unadjusted and "
        "outside the family; the Verdict lists a task worse by it "
        "(p < 0.05) and names every task it could not judge. " + _few_changed(index, info) + " Per-arm values in the "
        "task tables: Wilson "
        "intervals for proportions (on the effective n for other values in [0, 1] and for clusters), a t interval "
        "for other means, the percentile bootstrap for corpus metrics.",
    ]


def forgetting_caption(report: Report) -> str:
    name = adjustment(report)
    return ("Forgetting is read as non-inferiority: no significant drop is not evidence that nothing was lost. "
            f"\"significant drop\": significant after the {name} adjustment over {family_words(report)}. \"rules "
            "out a drop larger than X\": the 95% CI's bound on the bad side is at −X, so a drop larger than X is "
            "excluded and a smaller one is not; set X against the drop you can accept (a gate's forgetting budget). "
            "\"n too small\": too few documents (for a corpus metric, or too few whose values changed) for an "
            "interval; the exact sign-flip p beside it (unadjusted) can still show a change. MDE: the change the comparison would detect with 80% power at two-sided 5%. "
            f"p: raw, then {name}-adjusted; per-group rows are descriptive (no adjusted p).")


def gate_caption(gate: dict) -> str:
    rules = gate["rules"]
    passed = sum(r["passed"] for r in rules)
    verdict = "PASS" if rules and passed == len(rules) else "FAIL"
    return (f"harness gate on run {gate['run_id']} (its gate.json): {verdict}, "
            f"{passed} of {len(rules)} rules passed. A rule passes only when every one of its checks does; each "
            "check's line gives the value or change, its 95% CI and n, and what decided it. The checks read each "
            "comparison's own 95% CI, not the stars: a verdict that needs every check to pass needs no adjustment "
            "for their number." + (" A line with a 95% CS judged a task --until-decided was free to stop early "
                                   "(looked at after more than one chunk) on its anytime-valid bounds (floor and "
                                   "ceiling too: on the score's bounds, not its point estimate, which an early stop "
                                   "biases)." if _anytime(rules) else ""))


def _anytime(rules: list[dict]) -> bool:
    return any("[95% CS " in str(c.get("detail")) for r in rules for c in r.get("checks") or [])
