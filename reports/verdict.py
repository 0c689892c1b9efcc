"""The report's Verdict, in words: one sentence per adapter (what it gained on the primary task, what it broke, how
sure, the gate's result, the warnings on its answers) and each run's settings line. document.py puts them first."""

from __future__ import annotations

from harness.core import stats
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


def better(c: dict) -> bool:
    """A change in the metric's good direction (a gain), not a loss nor exactly nothing."""
    return tables.present(c.get("delta")) and ((c["delta"] > 0) if c.get("higher_is_better") is not False
                                               else (c["delta"] < 0))


def worse(c: dict) -> bool:
    return tables.present(c.get("delta")) and ((c["delta"] < 0) if c.get("higher_is_better") is not False
                                               else (c["delta"] > 0))


def gate_words(report: Report, arm: str) -> str:
    """The gate's result for one adapter: PASS, or FAIL with the failing rules that judged it; "not run" without
    its run's gate.json."""
    a = next(x for x in report.arms if x.name == arm)
    gate = next((g for g in report.gates if g.get("run_dir") == a.run_dir), None)
    if gate is None:
        return "gate not run (no gate.json in the run directory; harness gate RUN --rules R --record writes one)"
    rules = gate["rules"]
    failed = [r for r in rules if not r["passed"]]
    mine = [r for r in failed if not r["checks"] or any(not c["passed"] and c.get("arm") in (a.source_arm, None)
                                                         for c in r["checks"])]
    names = lambda rs: ", ".join(f"{r.get('index', '')}. {r['name']}".lstrip(". ") for r in rs)  # noqa: E731
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


def broke(report: Report, arm: str) -> str:
    """What an adapter broke, in words: its significant regressions (any task) and significant forgetting, then for
    each forgetting probe with no significant loss what its non-inferiority reading can say ("inconclusive" where
    the probe cannot tell)."""
    index = tables.comparison_index(report)
    probes = text.general_tasks(report)
    mine = [c for (_, _, a), c in index.items() if a == arm]
    anytime = {id(c): b for c in mine if (b := stopping.change(report, c)) is not None}
    bad = [c for c in mine if tables.starred(c) and worse(c) and id(c) not in anytime]
    parts = [f"significant {_loss(c)} in {c['task']} {c['metric']} {comparison_text(c)}{_caveat(report, c)}"
             for c in bad]
    for c in mine:  # a task stopped early: a loss where its anytime-valid bounds show one, never a fixed-n star
        if id(c) in anytime and stopping.worse(c, anytime[id(c)]):
            bad.append(c)
            parts.append(f"{_loss(c)} in {c['task']} {c['metric']} {stopping.text(c, anytime[id(c)])}")
    lost = {c["task"] for c in bad}
    for task in probes:
        if task in lost:
            continue
        first = next((c for c in mine if c["task"] == task and not tables.descriptive(c)), None)
        if first is None:
            continue
        if id(first) in anytime:
            parts.append(f"{task} {first['metric']}: {stopping.non_inferiority(first, anytime[id(first)])} "
                         f"(Δ {stopping.text(first, anytime[id(first)])})")
            continue
        verdict, _ = text.forgetting_verdict(first)
        if first.get("test") == stats.N_TOO_SMALL or verdict.startswith("no test"):
            # the change itself, however large: "inconclusive" alone would hide a perplexity that rose 200-fold
            parts.append(f"{task} {first['metric']}: inconclusive ({verdict}; Δ {numbers.delta(first['delta'])})")
        else:
            parts.append(f"{task} {first['metric']}: {verdict} (Δ {comparison_text(first)})")
    if not bad:
        head = "nothing significant"
        if not probes:
            return head + " (no forgetting probe in this run)"
        return f"{head}; forgetting read as non-inferiority: " + "; ".join(parts)
    return "; ".join(parts)


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
            head = f"{'gained' if better(c) else 'changed'}: {main[0]} {main[1]} (primary task) Δ "
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
    flags = [f"{d['task']} {text.diagnostic_flag(d)}" for d in report.diagnostics
             if d["arm"] == arm and text.diagnostic_flag(d) != "ok"]
    flags += [f"{d['task']} one answer" for d in text.one_answer(report) if d["arm"] == arm]
    if flags:
        parts.append("warning: " + ", ".join(flags) + " (below)")
    return f"{arm}: " + "; ".join(parts) + "."
