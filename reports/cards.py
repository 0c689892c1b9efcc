"""A Hugging Face Hub model card per adapter, `cards/<arm>/README.md`: YAML front matter the Hub reads (`base_model`,
`library_name: peft`, `tags`, and a `model-index` holding every score of the arm, which the Hub shows as evaluation
results), then what the report says about that adapter: the headline, every delta vs base with its 95% CI,
forgetting, n, and how it was measured. Numbers are the report's (reports/numbers.py); the values in the front
matter are run.json's, unrounded."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import PurePosixPath, PureWindowsPath

from harness.core import results, stats
from reports import markdown, numbers, tables, text, verdict
from reports.data import Arm, Report

CARDS_DIR = "cards"
ADJUSTMENTS = {"holm": "Holm", "bh": "Benjamini-Hochberg"}
# Hub task ids (the pipeline tags the Hub renders) and dataset ids of the tasks that read a hub dataset by default.
TASK_TYPES = {"yelp": "text-classification", "yelp_mc": "text-classification", "general_qa": "question-answering",
              "general_mc": "multiple-choice", "docqa": "question-answering", "docqa_lf": "question-answering"}
TASK_NAMES = {"text-classification": "Text Classification", "question-answering": "Question Answering",
              "multiple-choice": "Multiple Choice", "text-generation": "Text Generation"}
HUB_DATASETS = {"yelp": ("Yelp/yelp_review_full", "Yelp Review Full"),
                "yelp_mc": ("Yelp/yelp_review_full", "Yelp Review Full"),
                "general_qa": ("nq_open", "NQ-open"), "general_mc": ("cais/mmlu", "MMLU")}


def folder_name(arm: str) -> str:
    """A folder name any file system and the Hub accept: letters, digits, '.', '_' and '-' only, never '..' or
    hidden, at most 96 characters."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", arm).strip("._-")[:96]
    return safe or "adapter"


def base_model(run: dict) -> str:
    """The hub id the base was loaded from, or, for a local folder, its name."""
    base = run["base"]
    source = str(base.get("source") or base["name"])
    local = PurePosixPath(source).is_absolute() or PureWindowsPath(source).is_absolute() or source.startswith(".")
    return base["name"] if local else source


def _dataset(report: Report, task: str) -> dict:
    run = report.runs[0]
    info = report.tasks.get(task) or {}
    docs = f"{info['n_docs']} documents" if isinstance(info.get("n_docs"), int) else "documents"
    # --data names a family (yelp), whose members (yelp_mc) read the same file
    local = any(task == k or task.startswith(k + "_") for k in (run.get("config") or {}).get("data") or {})
    if task in HUB_DATASETS and not local:
        hub_id, pretty = HUB_DATASETS[task]
        return {"name": f"{pretty} ({docs})", "type": hub_id}
    return {"name": f"{task} ({docs}, local data)", "type": task}


def model_index(report: Report, arm: str) -> list[dict]:
    """One result per task of the arm, with every (task, metric) score of run.json as a metric."""
    s = report.scores
    rows = [r for r in s[s.arm == arm].to_dict("records")
            if not numbers.missing(r.get("value")) and not isinstance(r.get("value"), bool)]
    twice = Counter((r["task"], r["metric"]) for r in rows)
    by_task: dict[str, list[dict]] = {}
    for r in rows:
        name = r["metric"] + (f" ({r['filter']})" if twice[(r["task"], r["metric"])] > 1 else "")
        by_task.setdefault(r["task"], []).append({"type": r["metric"], "name": name, "value": float(r["value"])})
    out = []
    for task, metrics in by_task.items():
        kind = TASK_TYPES.get(task, "text-generation")
        out.append({"task": {"type": kind, "name": TASK_NAMES[kind]}, "dataset": _dataset(report, task),
                    "metrics": metrics})
    return [{"name": arm, "results": out}]


def front_matter(report: Report, arm: Arm) -> str:
    import yaml

    peft_type = str(((arm.adapter or {}).get("peft") or {}).get("peft_type") or "lora").lower()
    meta = {"base_model": base_model(report.runs[0]), "library_name": "peft",
            "tags": ["peft", peft_type, "adapter-evaluation", *dict.fromkeys(report.tasks)],
            "model-index": model_index(report, arm.name)}
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1000) + "---\n"


def _comparisons(report: Report, arm: str) -> tuple[list[dict], list[dict]]:
    """(the arm's comparisons outside the forgetting probes, its forgetting rows with their verdicts)."""
    forgetting = [r for r in text.forgetting(report) if r["arm"] == arm]
    probes = {(r["task"], r["metric"]) for r in forgetting}
    own = [c for (task, metric, a), c in tables.comparison_index(report).items()
           if a == arm and (task, metric) not in probes]
    return own, forgetting


def _n(c: dict) -> str:
    return f"{numbers.count(c.get('n'))} (MDE {numbers.mde(c.get('mde'))})"


def _value(metric: str, v) -> str:
    return numbers.value(v, integer=metric.startswith("n_") and not numbers.missing(v))


def _delta(report: Report, c: dict) -> str:
    """The delta with its interval, or with why it has none."""
    shown = numbers.delta(c.get("delta"), c.get("ci95"))
    if isinstance(c.get("ci95"), list):
        return shown
    if c.get("test") == stats.N_TOO_SMALL:
        return f"{shown} ({text.small_text(c)})"
    return f"{shown} (no CI: {tables.no_ci_reason(report, c.get('n'), c.get('task'))})"


def _p(c: dict) -> str:
    adjusted = numbers.p_value(c.get("p_adjusted"))
    return adjusted + (" (significant)" if tables.starred(c) else "")


def headline(report: Report, arm: str, own: list[dict]) -> str:
    """One sentence: the primary task's first headline metric, with its interval, n, MDE and significance."""
    main = verdict.primary(report)  # the Verdict's primary task and metric: a card never leads with another
    c = next((c for c in own if main and (c["task"], c["metric"]) == main), None)
    if c is None:
        return "No comparison against the base on the primary task."
    base = tables.value_of(report.scores, c["task"], c["metric"], "base")
    mine = tables.value_of(report.scores, c["task"], c["metric"], arm)
    said = ("significant after the run's adjustment" if tables.starred(c)
               else f"not significant after the run's adjustment (adjusted p {numbers.p_value(c.get('p_adjusted'))})")
    return (f"**{markdown.esc(c['task'])} {markdown.esc(c['metric'])}**: {_value(c['metric'], base)} (base) → "
            f"{_value(c['metric'], mine)} (adapter), Δ {_delta(report, c)} on n = "
            f"{numbers.count(c.get('n'))} documents (MDE {numbers.mde(c.get('mde'))}); {said}.")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return (["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
            + ["| " + " | ".join(row) + " |" for row in rows])


def deltas_section(report: Report, arm: str, own: list[dict], forgetting: list[dict]) -> list[str]:
    out = ["## Deltas vs base", ""]
    rows = [[markdown.esc(c["task"]), markdown.esc(c["metric"]), _n(c),
             _value(c["metric"], tables.value_of(report.scores, c["task"], c["metric"], "base")),
             _value(c["metric"], tables.value_of(report.scores, c["task"], c["metric"], arm)),
             _delta(report, c), _p(c)] for c in own]
    out += _table(["task", "metric", "n (MDE)", "base", "adapter", "Δ [95% CI]", "adjusted p"], rows) if rows else \
        ["No comparison on the adapter's own tasks."]
    out += ["", "## Forgetting", ""]
    rows = [[markdown.esc(c["task"]), markdown.esc(c["metric"]), _n(c), _delta(report, c), _p(c),
             markdown.esc(c["verdict"])] for c in forgetting]
    out += (_table(["task", "metric", "n (MDE)", "Δ [95% CI]", "adjusted p", "verdict"], rows)
            + ["", "Read as non-inferiority: \"rules out a drop larger than X\" is the CI's bound on the bad side, "
                   "to set against the drop you can accept (never past the base's own score: a probe whose base "
                   "scores less than the bound cannot show forgetting at all); a probe too small for a verdict says "
                   "so."]) if rows else \
        ["No general-task probe (general_qa, general_mc) was run: forgetting was not measured."]
    return out


def measured_section(report: Report, arm: Arm) -> list[str]:
    run = next((r for r, d in zip(report.runs, report.run_dirs) if d == arm.run_dir), report.runs[0])
    cfg, base, env = run.get("config") or {}, run["base"], run.get("environment") or {}
    stat = run.get("statistics") or {}
    settings = {k: cfg.get(k) for k in ("engine", "seed", "limit", "num_fewshot", "max_gen_toks")
                if cfg.get(k) is not None}
    versions = {k: env.get(k) for k in ("harness", "lm_eval", "transformers", "peft") if env.get(k)}
    tasks = ", ".join(f"{markdown.esc(t)} ({numbers.count(i.get('n_docs'))} documents)"
                      for t, i in report.tasks.items())
    peft = (arm.adapter or {}).get("peft") or {}
    lines = ["## How it was measured", "",
             f"- Run `{markdown.esc(run['run_id'])}` ({markdown.esc(run.get('created', ''))}): the adapter and its "
             f"base `{markdown.esc(base_model(run))}` ({markdown.esc(base.get('dtype'))}, quantization "
             f"{markdown.esc(base.get('quantization'))}) scored the same documents, on {tasks}.",
             "- Settings: " + (", ".join(f"{k} {markdown.esc(v)}" for k, v in settings.items())
                               or "as recorded in run.json") + ".",
             "- Adapter: " + (", ".join(f"{k} {_setting(v)}" for k, v in peft.items()) or "no PEFT config") + "."]
    if versions:
        lines.append("- Versions: " + ", ".join(f"{k} {markdown.esc(v)}" for k, v in versions.items()) + ".")
    ci = markdown.esc(stat.get("ci") or "as the run recorded", limit=1000)
    family = markdown.esc(stat.get("family") or "the run's adapter-vs-base comparisons", limit=1000)
    adjustment = ADJUSTMENTS.get(stat.get("multiplicity") or "holm", "Holm")
    lines.append(f"- Δ = adapter − base on the same documents, with its per-comparison 95% CI ({ci}). Adjusted p: "
                 f"{adjustment} over {family}. MDE: the change a comparison would detect with 80% power at "
                 "two-sided 5%.")
    return lines + gate_lines(report, arm)


def gate_lines(report: Report, arm: Arm) -> list[str]:
    """The checks `harness gate` made on this adapter, when its run directory holds the gate's verdict."""
    gate = next((g for g in report.gates if g["run_dir"] == arm.run_dir), None)
    if gate is None:
        return []
    checks = [(rule["name"], c) for rule in gate["rules"] for c in rule["checks"] if c.get("arm") == arm.source_arm]
    failed = [f"{markdown.esc(name)}: {markdown.esc(c['detail'], limit=300)}" for name, c in checks if not c["passed"]]
    verdict = "PASS" if not failed else "FAIL (" + "; ".join(failed) + ")"
    return [f"- Gate (`harness gate`): {verdict}, {len(checks) - len(failed)} of {len(checks)} checks on this adapter "
            "passed."]


def _setting(v) -> str:
    if isinstance(v, str) and (PurePosixPath(v).is_absolute() or PureWindowsPath(v).is_absolute()):
        v = PurePosixPath(v.replace("\\", "/")).name or v  # a card is shared: a folder's name, never this machine's path
    return markdown.esc(", ".join(map(str, v)) if isinstance(v, list) else v)


def render(report: Report, arm: Arm) -> str:
    own, forgetting = _comparisons(report, arm.name)
    peft_type = str(((arm.adapter or {}).get("peft") or {}).get("peft_type") or "PEFT")
    body = [f"# {markdown.esc(arm.name)}", "",
            f"A {markdown.esc(peft_type)} adapter on `{markdown.esc(base_model(report.runs[0]))}`, evaluated against "
            "its base on the same documents.", "", "## Headline", "", headline(report, arm.name, own), "",
            *deltas_section(report, arm.name, own, forgetting), "", *measured_section(report, arm)]
    return front_matter(report, arm) + "\n" + "\n".join(body) + "\n"


def write_all(report: Report, out) -> list[str]:
    """Write cards/<folder>/README.md for every adapter arm under `out`; return the paths written (relative)."""
    written, used = [], set()
    for arm in report.arms:
        if arm.name not in report.adapters:
            continue
        name, i = folder_name(arm.name), 2
        while name.lower() in used:  # two arms whose names differ only in odd characters or case
            name, i = f"{folder_name(arm.name)}-{i}", i + 1
        used.add(name.lower())
        rel = f"{CARDS_DIR}/{name}/README.md"
        results.atomic_write_text(out / rel, render(report, arm))
        written.append(rel)
    return written
