"""What a model card (reports/cards.py) tells the Hub in its YAML front matter, each field only where the run
recorded it, never guessed: `base_model` as a Hub id, `library_name: peft`, `pipeline_tag`, `license`, `language`,
`datasets`, `tags` and a `model-index` of the arm's scores (no counts); and the scrubbing that keeps this machine's
paths out of a card, which is published."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path, PurePosixPath, PureWindowsPath

from harness.core.errors import HarnessError
from reports import numbers
from reports.data import Arm, Report

# owner/name, as harness.models.refs reads --base (a card may not import it: reports only look down to core)
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_LICENSE = re.compile(r"^[A-Za-z0-9][\w.+-]*$")  # the Hub's license ids: apache-2.0, mit, llama3.2, other, ...
# Hub task ids (the pipeline tags the Hub renders) of each task's results.
TASK_TYPES = {"yelp": "text-classification", "yelp_mc": "text-classification", "general_qa": "question-answering",
              "general_mc": "multiple-choice", "docqa": "question-answering", "docqa_lf": "question-answering"}
TASK_NAMES = {"text-classification": "Text Classification", "question-answering": "Question Answering",
              "multiple-choice": "Multiple Choice", "text-generation": "Text Generation"}
# The tasks that read a hub dataset when the run gave them no file: (hub id, name, config, split), as
# tasks/<family>/utils.py's DEFAULT_DATASET loads it (general_mc's split is --task-meta general_mc_split).
HUB_DATASETS = {"yelp": ("Yelp/yelp_review_full", "Yelp Review Full", None, "test"),
                "yelp_mc": ("Yelp/yelp_review_full", "Yelp Review Full", None, "test"),
                "general_qa": ("google-research-datasets/nq_open", "NQ-open", None, "validation"),
                "general_mc": ("cais/mmlu", "MMLU", "all", "test")}
LANGUAGES = {"Yelp/yelp_review_full": "en", "google-research-datasets/nq_open": "en", "cais/mmlu": "en"}


def is_hub_id(s) -> bool:
    return isinstance(s, str) and bool(HUB_ID.match(s))


def is_local(source: str) -> bool:
    return (PurePosixPath(source).is_absolute() or PureWindowsPath(source).is_absolute()
            or source.startswith((".", "~")) or "\\" in source)


def local_name(path: str) -> str:
    """A folder's name, never the machine's path to it."""
    return PurePosixPath(str(path).replace("\\", "/")).name or str(path)


def base_name(run: dict) -> str:
    """The base's name as run.json records it: an alias, a hub id, or a local folder's name (never its path)."""
    name = str(run["base"].get("name") or "base")
    return local_name(name) if is_local(name) else name


def run_of(report: Report, arm: Arm) -> dict:
    return next((r for r, d in zip(report.runs, report.run_dirs) if d == arm.run_dir), report.runs[0])


def base_model_id(run: dict, arm: Arm, given: str | None = None) -> tuple[str | None, str]:
    """(the base's Hub id, where it comes from) or (None, ""): the hub id the run loaded (an alias is recorded as
    its hub id), else `--base-model-id`, else the base's `_name_or_path` as the adapter's config recorded it
    (peft's base_model_name_or_path) or as its training recorded it on the same weights, when that is an id and not
    a path."""
    base = run["base"]
    source = str(base.get("source") or base.get("name") or "")
    if source and not is_local(source):
        return (source, "") if re.fullmatch(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?", source) else (None, "")
    if given:
        return given, "as `--base-model-id` names it"
    claimed = ((arm.adapter or {}).get("peft") or {}).get("base_model_name_or_path")
    if is_hub_id(claimed):
        return claimed, "as the adapter's config names it"
    trained = (arm.train_summary or {}).get("base") or {}
    if is_hub_id(trained.get("source")) and trained.get("fingerprint") == base.get("fingerprint"):
        return trained["source"], "as its training loaded it, the same weights"
    return None, ""


def check(report: Report, base_model_id: str | None, card_license: str | None) -> None:
    """HarnessError, before anything is written, for a --base-model-id that is no Hub id or contradicts the id the
    run loaded its base from, or a --license that is no license id."""
    if base_model_id is not None and not is_hub_id(base_model_id):
        raise HarnessError(f"--base-model-id {base_model_id!r}: not a Hub id; give OWNER/NAME, e.g. Qwen/Qwen2.5-3B")
    if card_license is not None and not _LICENSE.match(card_license):
        raise HarnessError(f"--license {card_license!r}: not a license id; give the Hub's id, e.g. apache-2.0 or mit")
    for run in report.runs:
        source = str(run["base"].get("source") or "")
        if base_model_id and source and not is_local(source) and source != base_model_id:
            raise HarnessError(f"--base-model-id {base_model_id}: run {run['run_id']} loaded its base from the Hub as "
                               f"{source}, which its cards name; leave --base-model-id out")


def license_of(arm: Arm, given: str | None) -> str | None:
    """--license, else the license the adapter's own card (its README.md front matter) or config gives."""
    if given:
        return given
    adapter = arm.adapter or {}
    for v in (adapter.get("license"), (adapter.get("peft") or {}).get("license")):
        if isinstance(v, str) and _LICENSE.match(v):
            return v
    path = adapter.get("path")
    try:
        text = (Path(path) / "README.md").read_text(encoding="utf-8") if isinstance(path, str) else ""
    except (OSError, UnicodeDecodeError):
        return None
    head, sep, _ = text[4:].partition("\n---") if text.startswith("---\n") else ("", "", "")
    import yaml

    try:
        meta = yaml.safe_load(head) if sep else None
    except yaml.YAMLError:
        return None
    v = meta.get("license") if isinstance(meta, dict) else None
    return v if isinstance(v, str) and _LICENSE.match(v) else None


def hub_dataset(run: dict, task: str) -> tuple | None:
    """(hub id, name, config, split) of the default dataset a task read, or None when the run gave it a file
    (--data names a family, yelp, whose members, yelp_mc, read the same file; --task-meta yelp_data=FILE too)."""
    cfg = run.get("config") or {}
    data, meta = cfg.get("data"), cfg.get("task_meta")
    keys = [*(data if isinstance(data, dict) else {})] + [k[:-5] for k in (meta if isinstance(meta, dict) else {})
                                                         if k.endswith("_data")]
    if task not in HUB_DATASETS or any(task == k or task.startswith(k + "_") for k in keys):
        return None
    hub_id, name, config, split = HUB_DATASETS[task]
    if task == "general_mc" and isinstance(meta, dict) and meta.get("general_mc_split"):
        split = str(meta["general_mc_split"])
    return hub_id, name, config, split


def dataset(report: Report, run: dict, task: str) -> dict:
    """The model-index dataset of a task: name, type (the Hub id when it read one), config, split, shots."""
    info = report.tasks.get(task) or {}
    docs = f"{info['n_docs']} documents" if isinstance(info.get("n_docs"), int) else "documents"
    hub = hub_dataset(run, task)
    out = ({"name": f"{hub[1]} ({docs})", "type": hub[0], **({"config": hub[2]} if hub[2] else {}), "split": hub[3]}
           if hub else {"name": f"{task} ({docs}, local data)", "type": task})
    if isinstance(info.get("num_fewshot"), int):
        out["args"] = {"num_few_shot": info["num_fewshot"]}
    return out


def is_count(report: Report, task: str, metric: str) -> bool:
    """n, n_parsed, counts: how many, not how well; never a Hub evaluation result."""
    aggregation = ((report.tasks.get(task) or {}).get("aggregations") or {}).get(metric)
    return metric in ("n", "count") or metric.startswith(("n_", "count_")) or metric.endswith("_count") \
        or aggregation == "count"


def model_index(report: Report, arm: Arm) -> list[dict]:
    """One result per task of the arm, with every (task, metric) score of run.json that is a score as a metric."""
    s, run = report.scores, run_of(report, arm)
    rows = [r for r in s[s.arm == arm.name].to_dict("records")
            if not numbers.missing(r.get("value")) and not isinstance(r.get("value"), bool)
            and not is_count(report, r["task"], r["metric"])]
    twice = Counter((r["task"], r["metric"]) for r in rows)
    by_task: dict[str, list[dict]] = {}
    for r in rows:
        name = r["metric"] + (f" ({r['filter']})" if twice[(r["task"], r["metric"])] > 1 else "")
        by_task.setdefault(r["task"], []).append({"type": r["metric"], "name": name, "value": float(r["value"])})
    out = []
    for task, metrics in by_task.items():
        kind = TASK_TYPES.get(task, "text-generation")
        out.append({"task": {"type": kind, "name": TASK_NAMES[kind]}, "dataset": dataset(report, run, task),
                    "metrics": metrics})
    return [{"name": arm.name, "results": out}]


def front_matter(report: Report, arm: Arm, base_id: str | None, card_license: str | None) -> dict:
    run = run_of(report, arm)
    peft = (arm.adapter or {}).get("peft") or {}
    hubs = list(dict.fromkeys(h[0] for t in report.tasks if (h := hub_dataset(run, t))))
    languages = sorted({LANGUAGES[h] for h in hubs if h in LANGUAGES})
    meta = {**({"base_model": base_id} if base_id else {}), "library_name": "peft",
            "pipeline_tag": "text2text-generation" if peft.get("task_type") == "SEQ_2_SEQ_LM" else "text-generation",
            **({"license": card_license} if card_license else {}), **({"language": languages} if languages else {}),
            **({"datasets": hubs} if hubs else {}),
            "tags": ["peft", str(peft.get("peft_type") or "lora").lower(), "adapter-evaluation",
                     *dict.fromkeys(report.tasks)],
            "model-index": model_index(report, arm)}
    return scrub(meta, local_paths(report))


# --- no path of this machine in a card ----------------------------------------------------------------------------

_ABSOLUTE = re.compile(r"(?<![\w.:/\\~-])(?:~?/|[A-Za-z]:\\)(?:[\w.@+-]+[/\\])+[\w.@+-]*")


def _paths_in(value, found: set[str], depth: int = 0) -> None:
    if isinstance(value, str):
        if len(value) > 1 and (PurePosixPath(value).is_absolute() or PureWindowsPath(value).is_absolute()
                               or value.startswith("~/")):
            found.add(value)
    elif isinstance(value, dict) and depth < 8:
        for k, v in value.items():
            if k not in ("scores", "comparisons", "log"):
                _paths_in(v, found, depth + 1)
    elif isinstance(value, list) and depth < 8:
        for v in value:
            _paths_in(v, found, depth + 1)


def local_paths(report: Report) -> list[str]:
    """Every absolute path the runs recorded (the base, adapters, data, outputs) and the run directories, longest
    first; `adapters` entries NAME=PATH give their PATH."""
    found: set[str] = set()
    for run in report.runs:
        _paths_in(run, found)
        _paths_in([a.partition("=")[2] for a in (run.get("config") or {}).get("adapters") or [] if "=" in a], found)
    for d in report.run_dirs:
        found |= {str(d), str(Path(d).resolve()), str(Path(d).absolute())}
    return sorted((p for p in found if len(p) > 1), key=len, reverse=True)


def scrub(value, paths: list[str]):
    """`value` (a string, or lists and dicts of them) with every local path in it replaced by its last name."""
    if isinstance(value, dict):
        return {k: scrub(v, paths) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, paths) for v in value]
    if not isinstance(value, str):
        return value
    for p in paths:
        if p in value:  # not inside a word: a recorded "/a" is no reason to touch "n/a"
            name = local_name(p.rstrip("/\\"))
            value = re.sub(r"(?<![\w.~-])" + re.escape(p), lambda _, name=name: name, value)
    return _ABSOLUTE.sub(lambda m: local_name(m.group(0).rstrip("/\\")), value)
