"""The report's Verdict, in words: one sentence per adapter (what it gained on the primary task, what it broke, how
sure, the gate's result, the warnings on its answers) and each run's settings line. document.py puts them first."""

from __future__ import annotations

from harness.core import stats
from harness.core.arms import BASE_ARM
from reports import notes, numbers, stopping, tables, text
from reports.data import Report
from reports.text import comparison_text, count_text


def primary(report: Report) -> tuple[str, str] | None:
    """(task, metric) the Verdict leads with: the run's first task that is not a forgetting probe (nor a perplexity
    probe), its first headline metric; without one, the first task's first headline metric."""
    head = tables.headline(report)
    if head.empty:
        return None
    probes = set(text.general_tasks(report))
    rows = [(r["task"], r["metric"]) for _, r in head.iterrows()]
    own = [x for x in rows if x[0] not in probes and not x[0].startswith("perplexity")]
    return (own or rows)[0]


def significance(c: dict, adjustment: str) -> str:
    if c.get("test") == stats.N_TOO_SMALL or not tables.present(c.get("p_value")):
        return "no test"
    if tables.starred(c):
        hib = c.get("higher_is_better") is not False
        return f"significant {'gain' if (c['delta'] > 0) == hib else 'loss'} after {adjustment}"
    return f"not significant after {adjustment}"


def recorded_gate(report: Report, arm: str) -> dict | None:
    """The gate.json of the run the adapter comes from, or None."""
    a = next(x for x in report.arms if x.name == arm)
    return next((g for g in report.gates if g.get("run_dir") == a.run_dir), None)


def gate_rules(report: Report, arm: str) -> tuple[list, list, list] | None:
    """(the rules of its run's recorded gate that judged the adapter, the run's failed rules, those failed on this
    adapter); None without its run's gate.json, or when that gate judged the adapter on no rule (`harness gate
    --adapter` named others, or no rule selects it). A rule judges an adapter through its checks on it and on the
    base (a floor on the base holds for every adapter), and a rule that matched nothing fails them all; gate.json's
    per-adapter verdicts say which failed, and a gate.json written before them is read from its checks."""
    a = next(x for x in report.arms if x.name == arm)
    gate = recorded_gate(report, arm)
    if gate is None:
        return None
    rules = gate["rules"]
    failed = [r for r in rules if not r["passed"]]
    entries = gate.get("adapters")
    if not isinstance(entries, list):
        mine = [r for r in failed if not r["checks"] or any(not c["passed"] and c.get("arm") in (a.source_arm, None)
                                                             for c in r["checks"])]
        return rules, failed, mine
    entry = next((e for e in entries if isinstance(e, dict) and e.get("name") == a.source_arm), None)
    if entry is None:
        return None
    judged = [r for r in rules if not r["checks"] or any(c.get("arm") in (a.source_arm, BASE_ARM) for c in r["checks"])]
    bad = {f.get("rule") for f in entry.get("failures") or [] if isinstance(f, dict)}
    return judged, failed, [r for r in judged if r.get("index") in bad]


def rule_names(rules: list) -> str:
    return ", ".join(f"{r.get('index', '')}. {r['name']}".lstrip(". ") for r in rules)


def gate_words(report: Report, arm: str) -> str:
    """The gate's result for one adapter: PASS, or FAIL with the failing rules that judged it; "not run" without
    its run's gate.json."""
    found = gate_rules(report, arm)
    if found is None and recorded_gate(report, arm) is not None:
        return "gate: no rule judged this adapter (harness gate --adapter named others, or no rule selects it)"
    if found is None:
        return "gate not run (no gate.json in the run directory; harness gate RUN --rules R --record writes one)"
    rules, failed, mine = found
    names = rule_names
    if mine:
        return f"gate FAIL (failing rules: {names(mine)})"
    if not failed:
        return f"gate PASS ({len(rules)} of {len(rules)} rules)"
    return f"gate: its own checks pass, but the run's gate FAILs on other adapters (rules: {names(failed)})"


def _setting(v) -> str:
    if v is None or v == "" or v == {} or v == []:
        return "n/a"
    return str(v)


def settings_line(run: dict) -> str:
    """'engine hf, dtype bfloat16, quantization none, shots 0, max_gen_toks 256, limit 60, seed 1234, versions torch
    2.4.0 / …, date …': what two reports of one adapter need to be reconciled; a field the run did not record reads
    n/a."""
    conf = run.get("config") if isinstance(run.get("config"), dict) else {}
    env = run.get("environment") if isinstance(run.get("environment"), dict) else {}
    base = run.get("base") if isinstance(run.get("base"), dict) else {}
    engine = env.get("engine")
    engine = engine.get("engine") if isinstance(engine, dict) else engine
    engine = engine or conf.get("engine")
    shots = conf.get("num_fewshot")
    if shots is None:
        per_task = {t: i.get("num_fewshot") for t, i in (run.get("tasks") or {}).items()
                    if isinstance(i, dict) and i.get("num_fewshot") is not None}
        shots = ", ".join(f"{t} {k}" for t, k in per_task.items()) if per_task else None
    def recorded(key, none):  # a key recorded as null means the default: say which, not n/a
        return none if key in conf and conf[key] is None else _setting(conf.get(key))
    names = ("torch", "transformers", "peft", "lm_eval", "vllm", "harness", "python")
    versions = " / ".join(f"{k} {env[k]}" for k in names if env.get(k))
    if isinstance(env.get("engine"), dict) and env["engine"].get("vllm") and not env.get("vllm"):
        versions += (" / " if versions else "") + f"vllm {env['engine']['vllm']}"
    return (f"engine {_setting(engine)}, dtype {_setting(base.get('dtype'))}, quantization "
            f"{_setting(base.get('quantization'))}, shots {_setting(shots)}, max_gen_toks "
            f"{recorded('max_gen_toks', 'task default')}, limit {recorded('limit', 'none (all documents)')}, seed "
            f"{_setting(conf.get('seed'))}, versions {versions or 'n/a'}, date {_setting(run.get('created'))}")


def _caveat(report: Report, c: dict) -> str:
    """What a fixed-n reading must say on a task --until-decided was free to stop early (a metric with no bounds)."""
    return " (fixed-n, which does not account for --until-decided's looks)" if stopping.early(report, c["task"]) else ""


def _loss(c: dict) -> str:
    return "drop" if c.get("higher_is_better") is not False else "rise"


NON_INFERIORITY = ("forgetting", "no_regression")  # the gate's rule kinds that read a probe as non-inferiority


def _gate_metric(report: Report, arm: str, task: str, index: dict) -> str | None:
    """The metric the run's recorded gate judged this adapter on for `task` (a forgetting or no_regression rule's
    first), so that the Verdict and the gate read a probe on one metric; None without such a check."""
    a = next(x for x in report.arms if x.name == arm)
    gate = next((g for g in report.gates if g.get("run_dir") == a.run_dir), None)
    rules = sorted((gate or {}).get("rules") or [],
                   key=lambda r: (r.get("rule") or {}).get("kind") not in NON_INFERIORITY)
    for r in rules:
        for c in r.get("checks") or []:
            row = index.get((task, c.get("metric"), arm))
            if c.get("task") == task and c.get("arm") in (a.source_arm, None) and row and not tables.descriptive(row):
                return c["metric"]
    return None


def reading(report: Report, arm: str, task: str, head=None) -> dict | None:
    """The one comparison the Verdict reads a task on: for a forgetting probe the gate's metric where a recorded
    rule judged it, else the task's first headline metric with a comparison (else its first comparison). `head`:
    tables.headline(report), when the caller has it."""
    index = tables.comparison_index(report)
    head = tables.headline(report) if head is None else head
    metrics = [] if head.empty else list(head[head.task == task]["metric"])
    if task in text.general_tasks(report):
        metrics.insert(0, _gate_metric(report, arm, task, index))
    rows = [index.get((task, m, arm)) for m in metrics]
    rows += [c for (t, _, a), c in index.items() if t == task and a == arm and not tables.descriptive(c)]
    return next((c for c in rows if c), None)


def _key(c: dict) -> tuple[str, str]:
    """One adapter's comparison by (task, metric): each call of tables.comparison_index makes new records."""
    return c["task"], c["metric"]


def _judged(c: dict) -> bool:
    return c.get("test") != stats.N_TOO_SMALL and tables.present(c.get("p_value"))


def _not_judged(c: dict) -> str:
    why = f"{numbers.delta(c['delta'])} (no test: see --resamples)" if c.get("test") != stats.N_TOO_SMALL else \
        comparison_text(c)
    return f"{c['task']} {c['metric']} Δ {why}"


def _losses(report: Report, mine: list[dict], anytime: dict) -> tuple[list[str], set]:
    """What the adapter got worse on, with evidence: its significant losses (on a task stopped early, where its
    anytime-valid bounds show one), in the order of the comparisons; and the tasks they name."""
    parts, lost = [], set()
    for c in mine:
        if _key(c) in anytime:
            if stopping.worse(c, anytime[_key(c)]):
                parts.append(f"{_loss(c)} in {c['task']} {c['metric']} {stopping.text(c, anytime[_key(c)])}")
                lost.add(c["task"])
        elif tables.starred(c) and text.worse(c):
            parts.append(f"significant {_loss(c)} in {c['task']} {c['metric']} {comparison_text(c)}"
                         f"{_caveat(report, c)}")
            lost.add(c["task"])
    return parts, lost


def _probe(report: Report, c: dict, anytime: dict) -> str:
    """A forgetting probe with no loss, read as non-inferiority (capped at the base's own score)."""
    base = tables.value_of(report.scores, c["task"], c["metric"], BASE_ARM)
    if _key(c) in anytime:
        return (f"{c['task']} {c['metric']}: {stopping.non_inferiority(c, anytime[_key(c)], base)} "
                f"(Δ {stopping.text(c, anytime[_key(c)])})")
    return f"{c['task']} {c['metric']}: {text.forgetting_verdict(c, base)[0]} (Δ {comparison_text(c)})"


def assess(report: Report, arm: str) -> dict:
    """What an adapter broke, in parts: `losses` (its significant regressions on any task, and every task whose
    comparison is too small for an interval but whose exact sign-flip test shows it worse), `readings` (each
    forgetting probe with no loss, read as non-inferiority), `unjudged` (every task it could not judge), `judged`
    (how many tasks were), `probes` (the run's forgetting probes). Computed once per adapter and report (the marks,
    their lines and the sentences all read it)."""
    key = ("assess", arm)
    if key not in report.derived:
        report.derived[key] = _assess(report, arm)
    return report.derived[key]


def _assess(report: Report, arm: str) -> dict:
    mine = [c for (_, _, a), c in tables.comparison_index(report).items() if a == arm]
    anytime = {_key(c): b for c in mine if (b := stopping.change(report, c)) is not None}
    parts, lost = _losses(report, mine, anytime)
    probes, readings, unjudged, judged = text.general_tasks(report), [], [], 0
    head = tables.headline(report)
    for task in dict.fromkeys(report.scores["task"]) if not report.scores.empty else []:
        c = reading(report, arm, task, head)
        if c is None or task in lost:
            continue
        if _key(c) not in anytime and text.exact_evidence(c) and text.worse(c):
            parts.append(f"{task} {c['metric']}: {text.direction_text(c)} (Δ {numbers.delta(c['delta'])}; "
                         f"{text.exact_p(c)}, not adjusted for the run's comparisons)")
        elif _key(c) not in anytime and not _judged(c) and not (text.exact_evidence(c) and text.better(c)):
            # a gain shown by the exact test was judged (nothing broke there); anything else small was not
            unjudged.append(_not_judged(c))
            continue
        elif task in probes:
            readings.append(_probe(report, c, anytime))
        judged += 1
    return {"losses": parts, "readings": readings, "unjudged": unjudged, "judged": judged, "probes": probes}


def broke(report: Report, arm: str) -> str:
    """What an adapter broke, in words (assess()'s parts in one clause). It never says "nothing" while a task went
    unjudged."""
    a = assess(report, arm)
    parts, readings, unjudged = a["losses"], a["readings"], a["unjudged"]
    tail = f"; not judged: {'; '.join(unjudged)}" if unjudged else ""
    if parts:
        return "; ".join(parts + readings) + tail
    head = ("nothing significant" if not unjudged else
            "no significant loss among the tasks judged" if a["judged"] else "no task could be judged")
    if not a["probes"]:
        return head + " (no forgetting probe in this run)" + tail
    if not readings:
        return head + "; no forgetting probe could be judged" + tail
    return f"{head}; forgetting read as non-inferiority: " + "; ".join(readings) + tail


def warning_flags(report: Report, arm: str) -> list[str]:
    """'yelp constant predictor', 'general_qa one answer': the warnings on an adapter's answers, in a few words."""
    flags = [f"{d['task']} {text.diagnostic_flag(d)}" for d in report.diagnostics
             if d["arm"] == arm and text.diagnostic_flag(d) != "ok"]
    return flags + [f"{d['task']} one answer" for d in text.one_answer(report) if d["arm"] == arm]


def sentence(report: Report, arm: str) -> str:
    """One sentence per adapter: what it gained (the primary task's Δ with its CI), what it broke, how sure (n, MDE),
    the gate's result, and the warnings on its answers."""
    main, c = primary(report), None
    parts = []
    if main is None:
        parts.append("no scores")
    else:
        c = tables.comparison_index(report).get((main[0], main[1], arm))
        if c is None:
            parts.append(f"gained: no comparison on {main[0]} {main[1]} (the primary task)")
        else:
            head = f"{'gained' if text.better(c) else 'changed'}: {main[0]} {main[1]} (primary task) Δ "
            b = stopping.change(report, c)
            parts.append(head + (f"{stopping.text(c, b)} (fixed-n stars do not apply after stopping early)"
                                 if b is not None else
                                 f"{comparison_text(c)}, {significance(c, notes.adjustment(report))}"
                                 f"{_caveat(report, c)}"))
            sure = f"n {count_text(c)}" + stopping.of_n(report, main[0])
            if tables.present(c.get("mde")):
                sure += f", MDE {numbers.mde(c['mde'])}"
    parts.append("broke: " + broke(report, arm))
    if main is not None and c is not None:
        parts.append("how sure: " + sure)
    parts.append(gate_words(report, arm))
    flags = warning_flags(report, arm)
    if flags:
        parts.append("warning: " + ", ".join(flags) + " (below)")
    return f"{arm}: " + "; ".join(parts) + "."
