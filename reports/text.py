"""The report's words: what the per-task sections show (unparseable answers, biggest wins and losses), the forgetting
verdicts and every warning (shared by md and html)."""

from __future__ import annotations

from harness.core import diagnostics, stats
from harness.core.arms import BASE_ARM
from reports import numbers, tables
from reports.data import Report

GENERAL_TASKS = ("general_qa", "general_mc")
OWN_TASKS = ("yelp", "yelp_mc", "docqa", "docqa_lf", "perplexity")


def doc_score(task: str, row: dict) -> float | None:
    """One number per document to rank wins and losses by."""
    m = row.get("metrics") or {}
    if task == "yelp":
        g = m.get("accuracy")
        return float(g[0] == g[1]) if isinstance(g, list) else None
    for key in ("rougeL", "f1", "acc", "exact_match"):
        if isinstance(m.get(key), (int, float)):
            return float(m[key])
    return None


def _choice(row: dict, i: int) -> str:
    choices = row.get("choices")
    if isinstance(choices, list) and 0 <= i < len(choices):
        return str(choices[i]).strip()  # what the loglikelihood scored: " 3" for yelp_mc, " B" for general_mc
    return f"choice {i}"


def answer_text(row: dict) -> str:
    r = row.get("response")
    if isinstance(r, str):
        return r.strip()
    f = row.get("filtered")
    if isinstance(f, list) and f and isinstance(f[0], list):  # multiple choice: [loglikelihood, greedy] per choice
        return _choice(row, diagnostics.mc_choice(f))
    return str(r)


def target_text(task: str, row: dict) -> str:
    t = row.get("target")
    if isinstance(t, int) and isinstance(row.get("choices"), list):
        return _choice(row, t)
    return str(t)


def side_by_side(report: Report, task: str, arm: str, k: int = 3) -> list[dict]:
    """Up to k biggest wins and k biggest losses of `arm` vs base (by the per-document score), with texts."""
    base = {r["doc_id"]: r for r in report.samples(BASE_ARM, task)}
    tuned = {r["doc_id"]: r for r in report.samples(arm, task)}
    scored = []
    for doc_id in sorted(set(base) & set(tuned)):
        b, t = doc_score(task, base[doc_id]), doc_score(task, tuned[doc_id])
        if b is None or t is None:
            continue
        scored.append((t - b, doc_id))
    if not scored:
        return []
    scored.sort()
    wins = [x for x in reversed(scored) if x[0] > 0][:k]
    losses = [x for x in scored if x[0] < 0][:k]
    picked = [("win", d, doc) for d, doc in wins] + [("loss", d, doc) for d, doc in losses]
    if not picked:
        picked = [("same", d, doc) for d, doc in scored[:k]]
    out = []
    for kind, diff, doc_id in picked:
        out.append({"kind": kind, "doc_id": doc_id, "diff": diff, "prompt": base[doc_id].get("prompt") or "",
                    "base": answer_text(base[doc_id]), "adapter": answer_text(tuned[doc_id]),
                    "reference": target_text(task, base[doc_id])})
    return out


def parsed_counts(report: Report, task: str, metric: str) -> str:
    """'parsed: base 28, lora 31' for a *_drop metric, whose value each arm computes over its own parsed answers
    (the task's n_parsed): the n each value used. Empty for any other metric."""
    if not metric.split(":")[0].endswith("_drop"):
        return ""
    counts = [(a, tables.value_of(report.scores, task, "n_parsed", a)) for a in [BASE_ARM, *report.adapters]]
    counts = [f"{a} {numbers.count(v)}" for a, v in counts if v is not None]
    return f"parsed: {', '.join(counts)}" if counts else ""


def unparseable(report: Report, arm: str, k: int = 3) -> list[dict]:
    rows = [r for r in report.samples(arm, "yelp") if isinstance(r.get("filtered"), dict) and r["filtered"].get("star") is None]
    return [{"doc_id": r["doc_id"], "answer": answer_text(r), "rule": r["filtered"].get("rule")} for r in rows[:k]]


def ci_of(c) -> list | None:
    return c if isinstance(c, list) else None


def marker(c: dict) -> str:
    """Stars from the adjusted p-value, and only on a comparison significant after the run's adjustment: a raw
    p < 0.05 alone never earns one, nor does a descriptive per-group row (significant false, no adjusted p)."""
    return numbers.stars(c.get("p_adjusted")) if tables.starred(c) else ""


def comparison_text(c: dict | None) -> str:
    """'+0.0312 [+0.0100, +0.0500] **', or '+108.3 (n too small: 2 documents < 20)'; `c` a comparison record."""
    if not c or numbers.missing(c.get("delta")):
        return numbers.MISSING
    if c.get("test") == stats.N_TOO_SMALL:
        return f"{numbers.delta(c['delta'])} ({small_text(c)})"
    return f"{numbers.delta(c['delta'], ci_of(c.get('ci95')))}{marker(c)}".strip()


def better(c: dict) -> bool:
    """A change in the metric's good direction (a gain), not a loss nor exactly nothing."""
    return tables.present(c.get("delta")) and ((c["delta"] > 0) if c.get("higher_is_better") is not False
                                               else (c["delta"] < 0))


def worse(c: dict) -> bool:
    return tables.present(c.get("delta")) and ((c["delta"] < 0) if c.get("higher_is_better") is not False
                                               else (c["delta"] > 0))


def small_text(c: dict) -> str:
    """'n too small: 6 documents < 20; 6 of 6 documents worse, exact p = 0.031': why a comparison has no interval,
    and its exact sign-flip test where the record has one."""
    exact = exact_text(c)
    return f"n too small: {too_small(c)}" + (f"; {exact}" if exact else "")


def units(c: dict) -> str:
    """What the exact test flipped, in the plural: the task's unit ('reviews', 'questions', 'documents'), or
    'clusters' when whole clusters were flipped."""
    return "clusters" if c.get("n_clusters") else f"{str(c.get('unit') or 'document').split()[0]}s"


def exact_p(c: dict) -> str:
    """'exact p = 0.031' ('exact p < 0.001'); a p from random flips says so: 'sign-flip p = 0.048 (Monte Carlo,
    20000 random flips)'."""
    shown = numbers.p_value(c.get("p_exact"))
    said = f"p < {shown[1:]}" if shown.startswith("<") else f"p = {shown}"
    draws = c.get("p_draws")
    return f"sign-flip {said} (Monte Carlo, {int(draws)} random flips)" if draws else f"exact {said}"


def exact_evidence(c: dict) -> bool:
    """A too-small comparison whose sign-flip test shows its change at two-sided ALPHA (unadjusted); a p from
    random flips only when it stays below ALPHA by two Monte Carlo standard errors (another seed would not flip it)."""
    p, draws = c.get("p_exact"), c.get("p_draws")
    if c.get("test") != stats.N_TOO_SMALL or not tables.present(p):
        return False
    return p + (2 * (p * (1 - p) / draws) ** 0.5 if draws else 0.0) < stats.ALPHA


def exact_text(c: dict) -> str | None:
    """'6 of 6 documents worse, exact p = 0.031'; None for a record without the exact sign-flip test."""
    counts = direction_text(c)
    return None if counts is None or not tables.present(c.get("p_exact")) else f"{counts}, {exact_p(c)}"


def direction_text(c: dict) -> str | None:
    """'6 of 6 documents worse': the units whose own value went each way, in the metric's good direction, led by
    the way its delta went (the other way's count after it); None for a record without the counts."""
    up, down = c.get("n_up"), c.get("n_down")
    if not (tables.present(up) and tables.present(down)):
        return None
    hib = c.get("higher_is_better") is not False
    n_worse, n_better = (int(down), int(up)) if hib else (int(up), int(down))
    of = numbers.count(c.get("n_clusters") or c.get("n"))
    if not n_worse and not n_better:
        return f"none of {of} {units(c)} went either way"
    lead, other = (((n_worse, "worse"), (n_better, "better")) if worse(c) or not n_better
                   else ((n_better, "better"), (n_worse, "worse")))
    return f"{lead[0]} of {of} {units(c)} {lead[1]}" + (f", {other[0]} {other[1]}" if other[0] else "")


def count_text(c: dict) -> str:
    """'40', '100 in 20 clusters', '38 + 2 missing': the pairs a comparison used, its clusters, what it left out."""
    out = numbers.count(c.get("n"))
    if c.get("n_clusters"):
        out += f" in {numbers.count(c['n_clusters'])} clusters"
    if c.get("n_missing"):
        out += f" + {numbers.count(c['n_missing'])} missing"
    return out


def too_small(c: dict) -> str:
    """Why a comparison has no verdict: '6 documents < 20', or '6 clusters < 10' when its documents are enough
    but its clusters are not."""
    changed = c.get("n_changed")
    return stats.too_small(c.get("n"), c.get("min_n"), c.get("n_clusters"), stats.MIN_CLUSTERS,
                           None if changed is None or changed != changed else changed)


def bound_text(hib: bool, bad: float, base=None) -> str:
    """What the bad side of an interval rules out: 'rules out a drop larger than 0.0387' (a rise, where lower is
    better). A higher-is-better score cannot drop by more than the base's own `base` score, so a bound past it
    rules out nothing and says so, and a base at 0 has nothing to lose."""
    word = "drop" if hib else "rise"
    if hib and tables.present(base) and base <= 0:
        return "the base scores 0, so nothing can be forgotten on this probe; it judges nothing"
    if bad <= 0:
        return f"rules out any {word}"
    if hib and tables.present(base) and bad >= base:
        return (f"cannot rule out any drop: the base itself scores {numbers.value(base)} and the interval reaches "
                f"a drop of {numbers.value(bad)}, so the probe cannot show forgetting at all")
    return f"rules out a {word} larger than {numbers.value(bad)}"


def forgetting_verdict(c: dict, base=None) -> tuple[str, bool]:
    """(the verdict on one general-task comparison, whether it is a loss), read as non-inferiority: never "no
    significant change" as a pass. `c`: a comparison record; `base`: the base's score on its metric, which caps
    what the probe can rule out."""
    hib = c.get("higher_is_better") is not False
    word = "drop" if hib else "rise"  # lower is better (perplexity): the loss is a rise
    lost = worse(c)
    if c.get("test") == stats.N_TOO_SMALL:
        if exact_evidence(c) and lost:
            return (f"a {word} by the exact sign-flip test ({exact_p(c)}, not adjusted); too few for an interval "
                    f"({too_small(c)})", True)
        return f"n too small ({too_small(c)}): no verdict", False
    ci = c.get("ci95")
    if not isinstance(ci, list) or not tables.present(c.get("p_value")):
        return "no test (see --resamples)", False
    if tables.starred(c):
        return (f"significant {word}", True) if lost else ("significant improvement", False)
    bad = -ci[0] if hib else ci[1]  # how far the CI reaches on the bad side
    descriptive = "descriptive (per group): " if tables.descriptive(c) else ""
    shown = bound_text(hib, bad, base)
    if (ci[1] < 0) if hib else (ci[0] > 0):  # the whole CI on the bad side, yet no star
        return f"{descriptive}a {word} by its own CI, not significant among the run's comparisons; {shown}", False
    return descriptive + shown, False


def forgetting(report: Report) -> list[dict]:
    """Per adapter and general-task metric: the comparison record, with its verdict (`verdict`) and whether it is a
    loss (`loss`)."""
    c = report.comparisons
    if c.empty:
        return []
    general = set(general_tasks(report))
    out = []
    for (task, metric, _), row in tables.comparison_index(report).items():
        if task in general:
            verdict, loss = forgetting_verdict(row, tables.value_of(report.scores, task, metric, BASE_ARM))
            out.append(dict(row, verdict=verdict, loss=loss))
    return out


MAJORITY_SHARE = 0.75  # an arm that gives one answer this often is flagged even below the near-constant share


def below_chance(d: dict) -> bool:
    """Accuracy below the chance level (always the most frequent label) by more than two binomial standard errors."""
    n, chance, acc = d.get("n") or 0, d.get("chance_accuracy"), d.get("accuracy")
    if not n or chance is None or acc is None:
        return False
    return acc < chance - 2 * (chance * (1 - chance) / n) ** 0.5


def diagnostic_flag(d: dict) -> str:
    """A classifier's verdict in a word or two: diagnostics' own, or what its "ok" still hides (accuracy below
    chance, one answer for most documents); "ok" when nothing."""
    if d["verdict"] != "ok":
        return d["verdict"]
    if below_chance(d):
        return "below chance"
    if (d.get("majority_share") or 0) >= MAJORITY_SHARE:
        return "majority answer"
    return "ok"


def degenerate_warnings(report: Report, arm: str | None = None) -> list[str]:
    """The warnings on what the classifiers answered (all arms, or one): harness.core.diagnostics' verdicts, and
    accuracy below chance or one answer for most documents where those call the arm "ok"."""
    out = []
    for d in report.diagnostics:
        if arm is not None and d["arm"] != arm:
            continue
        unit = d.get("unit", "document")
        w = diagnostics.describe(d, d["task"], d["arm"], unit)
        flag = diagnostic_flag(d)
        if w is None and flag == "below chance":
            w = (f"{d['arm']} on {d['task']}: accuracy {d['accuracy']:.4f} is below the chance level "
                 f"{d['chance_accuracy']:.4f} of always answering the most frequent label ({d['n']} {unit}s, "
                 f"{100 * d['unparseable_share']:.1f}% unparseable); its scores say nothing good about the task.")
        elif w is None and flag == "majority answer":
            w = (f"{d['arm']} on {d['task']}: it answered {d['majority_answer']} for "
                 f"{100 * d['majority_share']:.1f}% of {d['n']} {unit}s (accuracy {d['accuracy']:.4f}, chance "
                 f"{d['chance_accuracy']:.4f}); read its scores as those of a near-majority predictor.")
        if w:
            out.append(w)
    return out


def one_answer(report: Report) -> list[dict]:
    """Generation tasks (those without a classifier's diagnostics) where an arm gave one answer for most documents:
    {task, arm, answer, count, n, unit}. Empty answers are the empty-answer warning's; this catches the adapter that
    answers "2" to every question, whose scores then measure one string, not the task."""
    classified = {d["task"] for d in report.diagnostics}
    out = []
    for task, info in report.tasks.items():
        if task in classified or (info or {}).get("output_type") != "generate_until":
            continue
        for arm in [BASE_ARM, *report.adapters]:
            answers = [answer_text(r).strip() for r in report.samples(arm, task)]
            answers = [a for a in answers if a]
            if len(answers) < stats.MIN_PAIRS:
                continue
            top = max(set(answers), key=answers.count)
            if answers.count(top) >= MAJORITY_SHARE * len(answers):
                out.append({"task": task, "arm": arm, "answer": top, "count": answers.count(top), "n": len(answers),
                            "unit": (info or {}).get("unit", "document")})
    return out


def one_answer_warnings(report: Report) -> list[str]:
    return [f"{d['arm']} on {d['task']}: it gave the same answer “{d['answer'][:80]}” to {d['count']} of its {d['n']} "
            f"non-empty answers ({100 * d['count'] / d['n']:.1f}%); its scores there measure one answer, not the task."
            for d in one_answer(report)]


def _per_arm(report: Report):
    """(run, arm name as the report shows it, the arm's name inside its run) for every arm of every merged run; the
    base arm once, from the first run."""
    for i, run in enumerate(report.runs):
        run_dir = report.run_dirs[i]
        for a in report.arms:
            if a.run_dir == run_dir and (a.name != BASE_ARM or i == 0):
                yield run, a.name, a.source_arm


def empty_answer_warnings(report: Report) -> list[str]:
    """Generation tasks where most of an arm's answers are empty (harness.core.diagnostics, run["generation_diagnostics"])."""
    out = []
    for run, arm, source in _per_arm(report):
        for d in run.get("generation_diagnostics") or []:
            if d.get("arm") == source:
                w = diagnostics.describe_empty(d, d["task"], arm, d.get("unit", "document"))
                if w:
                    out.append(w)
    return out


def truncation_warnings(report: Report) -> list[str]:
    """Tasks whose prompts were cut to fit the model's context (run.json timing: requests, truncated): one line per
    task naming every arm it happened to, with its count (one count when the arms share it)."""
    by_task: dict[str, list] = {}
    for run, arm, source in _per_arm(report):
        for task, t in ((run.get("timing") or {}).get("arms") or {}).get(source, {}).items():
            cut, n = t.get("truncated"), t.get("requests")
            if isinstance(cut, int) and cut > 0 and n:
                by_task.setdefault(task, []).append((arm, cut, n, t.get("max_length")))
    out = []
    for task, hits in by_task.items():
        generation = (report.tasks.get(task) or {}).get("output_type") == "generate_until"
        limits = {m for *_, m in hits if m}
        limit = f" of {'/'.join(str(m) for m in sorted(limits))} tokens" if limits else ""
        budget = " with room for the answer to generate" if generation else ""
        counts = {(cut, n) for _, cut, n, _ in hits}
        arms = ", ".join(a for a, *_ in hits)
        if len(counts) == 1:
            cut, n = next(iter(counts))
            what = f"{cut} of {n} requests ({100 * cut / n:.1f}%) of {arms}"
        else:
            what = "requests of " + ", ".join(f"{a} ({cut} of {n}, {100 * cut / n:.1f}%)" for a, cut, n, _ in hits)
        out.append(f"{task}: {what} did not fit the model's context{limit}{budget} and were cut from the left; "
                   "their scores are for prompts the model did not see whole.")
    return out


def warnings(report: Report) -> list[str]:
    """Every warning a reader must see before the numbers: degenerate classifiers, generation tasks answered mostly
    with nothing, prompts cut to fit the context."""
    return (degenerate_warnings(report) + one_answer_warnings(report) + empty_answer_warnings(report)
            + truncation_warnings(report))


def dropped_note(info: dict) -> str | None:
    """What a task's loader left out (run.json tasks.<task>.dropped: {reason: count}), in a sentence."""
    dropped = info.get("dropped") or {}
    if not dropped:
        return None
    total = sum(dropped.values())
    reasons = "; ".join(f"{n}: {reason}" for reason, n in dropped.items())
    return f"Documents left out of the scoring: {total} ({reasons})."


# --- the verdict ----------------------------------------------------------------------------------------------------

def general_tasks(report: Report) -> list[str]:
    """The run's forgetting probes (general tasks, and tasks the harness does not own), in the run's order."""
    return [t for t in dict.fromkeys(report.scores["task"]) if t in GENERAL_TASKS or t not in OWN_TASKS
            and not t.startswith("perplexity_ctx")] if not report.scores.empty else []
