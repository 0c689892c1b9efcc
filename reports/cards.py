"""A Hugging Face Hub model card per adapter, `cards/<arm>/README.md`: YAML front matter the Hub reads
(reports/card_meta.py: `base_model` as a Hub id, `library_name: peft`, `pipeline_tag`, `license`, `language` and
`datasets` where known, and a `model-index` holding every score of the arm, which the Hub shows as evaluation
results), then what the report says about that adapter: the gate's result and the report's warnings first, the
headline, how to load it, every delta vs base with its 95% CI, forgetting, n, and how it was measured. Numbers are
the report's (reports/numbers.py); the values in the front matter are run.json's, unrounded. A card is published:
no path of this machine is in it, only folder names."""

from __future__ import annotations

import re

from harness.core import results, stats
from reports import card_meta, markdown, numbers, tables, text, verdict
from reports.data import Arm, Report

CARDS_DIR = "cards"
ADJUSTMENTS = {"holm": "Holm", "bh": "Benjamini-Hochberg"}
LONG = 100_000  # what a card never cuts: the gate's checks, the warnings


def folder_name(arm: str) -> str:
    """A folder name any file system and the Hub accept: letters, digits, '.', '_' and '-' only, never '..' or
    hidden, at most 96 characters."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", arm).strip("._-")[:96]
    return safe or "adapter"


def base_text(run: dict, base_id: str | None, said: str) -> str:
    """The base as a card names it: its Hub id (and, for a local folder, that folder's name), or the local model's
    name when no Hub id is known."""
    name = card_meta.base_name(run)
    if base_id is None:
        return (f"the local model named `{markdown.esc(name)}` (no Hub id recorded: `harness report --base-model-id "
                "OWNER/NAME` names it)")
    if not said:
        return f"`{markdown.esc(base_id)}`"
    return f"`{markdown.esc(base_id)}` ({said}; the run loaded a local folder named `{markdown.esc(name)}`)"


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


def _data_source(run: dict, task: str) -> str:
    hub = card_meta.hub_dataset(run, task)
    return f"{hub[0]}, {hub[3]} split" if hub else "local data"


def measured_section(report: Report, arm: Arm, base_id: str | None) -> list[str]:
    run = card_meta.run_of(report, arm)
    name = card_meta.base_name(run)
    base = f"`{markdown.esc(name)}`" + (" (a local model)" if base_id is None else "" if base_id == name
                                        else f" (`{markdown.esc(base_id)}`)")
    cfg, env, stat = run.get("config") or {}, run.get("environment") or {}, run.get("statistics") or {}
    settings = {k: cfg.get(k) for k in ("engine", "seed", "limit", "num_fewshot", "max_gen_toks")
                if cfg.get(k) is not None}
    versions = {k: env.get(k) for k in ("harness", "lm_eval", "transformers", "peft") if env.get(k)}
    tasks = ", ".join(f"{markdown.esc(t)} ({numbers.count(i.get('n_docs'))} documents, {_data_source(run, t)})"
                      for t, i in report.tasks.items())
    peft = (arm.adapter or {}).get("peft") or {}
    lines = ["## How it was measured", "",
             f"- Run `{markdown.esc(run['run_id'])}` ({markdown.esc(run.get('created', ''))}): the adapter and its "
             f"base {base} ({markdown.esc(run['base'].get('dtype'))}, quantization "
             f"{markdown.esc(run['base'].get('quantization'))}) scored the same documents, on {tasks}.",
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
    return lines


def gate_lines(report: Report, arm: Arm) -> list[str]:
    """The checks `harness gate` made on this adapter, when its run directory holds the gate's verdict: the result,
    then every failed check whole."""
    gate = next((g for g in report.gates if g["run_dir"] == arm.run_dir), None)
    if gate is None:
        return []
    checks = [(rule["name"], c) for rule in gate["rules"] for c in rule["checks"] if c.get("arm") == arm.source_arm]
    failed = [f"- {markdown.esc(name, LONG)}: {markdown.esc(c['detail'], LONG)}" for name, c in checks
              if not c["passed"]]
    return [f"**Gate** (`harness gate`): {'FAIL' if failed else 'PASS'}, {len(checks) - len(failed)} of "
            f"{len(checks)} checks on this adapter passed{'; failed:' if failed else '.'}", *failed, ""]


def warning_lines(report: Report, arm: str) -> list[str]:
    """The report's warnings on this adapter and its base, and the notes on the runs, whole."""
    others = [a for a in report.adapters if a != arm]
    said = [*report.notes, *(w for w in text.warnings(report) if not any(w.startswith(f"{o} on ") for o in others))]
    return ["## Warnings", "", *(f"- {markdown.esc(w, LONG)}" for w in said), ""] if said else []


def usage_section(run: dict, base_id: str | None) -> list[str]:
    """How to load the adapter on its base, with placeholders for what the card cannot know."""
    base = base_id or "<base-model-id>"
    extra = ", trust_remote_code=True" if (run.get("config") or {}).get("trust_remote_code") is True else ""
    lines = ["## Usage", "", "```python", "from peft import PeftModel",
             "from transformers import AutoModelForCausalLM, AutoTokenizer", "",
             f'base = AutoModelForCausalLM.from_pretrained("{base}"{extra})',
             f'tokenizer = AutoTokenizer.from_pretrained("{base}"{extra})',
             'model = PeftModel.from_pretrained(base, "<your-username>/<adapter-name>")', "```"]
    if base_id is None:
        lines += ["", "`<base-model-id>`: the Hub id (or a local copy) of the base this adapter was evaluated on, "
                      f"the local model named `{markdown.esc(card_meta.base_name(run))}`."]
    return lines


def _setting(v) -> str:
    if isinstance(v, str) and card_meta.is_local(v) and len(v) > 1:
        v = card_meta.local_name(v)  # a card is shared: a folder's name, never this machine's path
    return markdown.esc(", ".join(map(str, v)) if isinstance(v, list) else v)


def render(report: Report, arm: Arm, base_model_id: str | None = None, card_license: str | None = None) -> str:
    import yaml

    run = card_meta.run_of(report, arm)
    base_id, said = card_meta.base_model_id(run, arm, base_model_id)
    base = base_text(run, base_id, said)
    own, forgetting = _comparisons(report, arm.name)
    peft_type = str(((arm.adapter or {}).get("peft") or {}).get("peft_type") or "PEFT")
    peft_type = {"LORA": "LoRA", "ADALORA": "AdaLoRA", "IA3": "IA³"}.get(peft_type.upper(), peft_type)
    body = [f"# {markdown.esc(arm.name)}", "",
            f"A {markdown.esc(peft_type)} adapter on {base}, evaluated against its base on the same documents.", "",
            *gate_lines(report, arm), *warning_lines(report, arm.name), "## Headline", "",
            headline(report, arm.name, own), "", *usage_section(run, base_id), "",
            *deltas_section(report, arm.name, own, forgetting), "",
            *measured_section(report, arm, base_id)]
    meta = card_meta.front_matter(report, arm, base_id, card_meta.license_of(arm, card_license))
    return ("---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1000) + "---\n\n"
            + card_meta.scrub("\n".join(body), card_meta.local_paths(report)) + "\n")


def write_all(report: Report, out, base_model_id: str | None = None, card_license: str | None = None) -> list[str]:
    """Write cards/<folder>/README.md for every adapter arm under `out`; return the paths written (relative).
    `base_model_id`: the Hub id of a local base (--base-model-id); `card_license`: the adapters' license (--license)."""
    card_meta.check(report, base_model_id, card_license)
    written, used = [], set()
    for arm in report.arms:
        if arm.name not in report.adapters:
            continue
        name, i = folder_name(arm.name), 2
        while name.lower() in used:  # two arms whose names differ only in odd characters or case
            name, i = f"{folder_name(arm.name)}-{i}", i + 1
        used.add(name.lower())
        rel = f"{CARDS_DIR}/{name}/README.md"
        results.atomic_write_text(out / rel, render(report, arm, base_model_id, card_license))
        written.append(rel)
    return written
