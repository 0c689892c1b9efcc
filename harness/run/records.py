"""lm-eval's output -> the run directory's records: scores, sample rows, task facts. Pure functions of what
simple_evaluate returns (and of the task object it ran), so they are tested without a model."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field

_SKIP_KEYS = {"alias", "name", "sample_len", "sample_count", " "}


@dataclass
class ArmTaskResult:
    scores: list[dict] = field(default_factory=list)
    samples: dict[str, list[dict]] = field(default_factory=dict)
    tasks: dict[str, dict] = field(default_factory=dict)
    timing: dict[str, dict] = field(default_factory=dict)


def metric_name(metric: str, flt: str, n_filters: int) -> str:
    # One filter pipeline (the usual case): the bare metric name, stable for reports and gates to key on.
    return metric if n_filters == 1 or flt == "none" else f"{metric}:{flt}"


def parse_scores(res: dict) -> list[dict]:
    rows = []
    for task, vals in res["results"].items():
        keys = [k for k in vals if "," in k and k.split(",")[0] not in _SKIP_KEYS and "_stderr" not in k.split(",")[0]]
        n_filters = len({k.split(",", 1)[1] for k in keys})
        hib = res.get("higher_is_better", {}).get(task, {})
        n = res.get("n-samples", {}).get(task, {}).get("effective")
        for k in keys:
            metric, flt = k.split(",", 1)
            value = vals[k]
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            stderr = vals.get(f"{metric}_stderr,{flt}")
            stderr = float(stderr) if isinstance(stderr, (int, float)) and stderr == stderr else None
            # No normal-approximation CI here (it crosses 0 for F1 and ROUGE): comparisons.fill puts the bootstrap
            # CI that the tables and plots show.
            ci = None
            rows.append({
                "task": task, "metric": metric_name(metric, flt, n_filters), "filter": flt, "value": float(value),
                "stderr": stderr, "ci95": ci, "n": n, "higher_is_better": hib.get(metric),
            })
    return rows


def _flatten(resps):
    # lm-eval keeps one list per request and, inside, one entry per repeat; we keep the first repeat.
    out = [r[0] if isinstance(r, (list, tuple)) and len(r) == 1 else r for r in resps]
    return out[0] if len(out) == 1 else out


def sample_rows(samples: list[dict]) -> list[dict]:
    rows = []
    for s in samples:
        args = s.get("arguments") or [[None]]
        rows.append({
            "doc_id": s["doc_id"], "doc_hash": s.get("doc_hash"), "filter": s.get("filter"),
            "prompt": args[0][0] if isinstance(args[0], (list, tuple)) else args[0],
            "target": s.get("target"),
            "response": _flatten(s.get("resps", [])),
            "filtered": _flatten([[r] for r in s.get("filtered_resps", [])]) if s.get("filtered_resps") else None,
            "metrics": {m: s.get(m) for m in s.get("metrics", [])},
        })
        if len(args) > 1 and all(isinstance(a, (list, tuple)) and len(a) == 2 for a in args):
            rows[-1]["choices"] = [a[1] for a in args]  # multiple choice: what each loglikelihood scored
        cluster = _cluster(s.get("doc"))
        if cluster is not None:
            rows[-1]["cluster"] = cluster
    return rows


def _cluster(doc) -> str | None:
    """The document's cluster key (its `cluster` field: docqa's source page, a user task's own), which the paired
    statistics resample by; None when the document has none (it is then its own cluster). Always text (a number as
    its digits, anything else as its JSON), so equal keys stay equal and no key can be taken for a doc_id."""
    value = doc.get("cluster") if isinstance(doc, dict) else None
    if value is None or (isinstance(value, float) and value != value):
        return None
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _shots(res: dict, name: str, samples: list[dict]) -> int | None:
    """The solved examples each prompt of the task holds: the task's own count where its documents carry one (general_mc
    writes its examples into the prompt), otherwise lm-eval's num_fewshot for the task."""
    own = {s["doc"]["num_fewshot"] for s in samples
           if isinstance(s.get("doc"), dict) and isinstance(s["doc"].get("num_fewshot"), int)}
    if own:
        return own.pop() if len(own) == 1 else None
    n = (res.get("n-shot") or {}).get(name)
    return n if isinstance(n, int) and not isinstance(n, bool) else None


def _dropped(task_obj) -> dict[str, int]:
    """Documents the task's loader left out, counted by reason: the rows of a `dropped` split of its dataset (general_qa
    puts there the questions no answer can match)."""
    ds = getattr(task_obj, "dataset", None)
    try:
        rows = ds["dropped"] if ds is not None and "dropped" in ds else []
    except (KeyError, TypeError):
        return {}
    return dict(Counter(str(r.get("reason") or "left out by the task's loader") for r in rows))


def _aggregations(task_obj) -> dict[str, str]:
    """Each metric's aggregation by name, from the task itself (what statistics recompute on resamples)."""
    if not hasattr(task_obj, "aggregation"):
        return {}
    return {m: getattr(fn, "__name__", str(fn)) for m, fn in task_obj.aggregation().items()}


def _aggregations_from_config(config: dict) -> dict[str, str]:
    aggs = {}
    for m in config.get("metric_list") or []:
        agg = m.get("aggregation", "mean")
        if not isinstance(agg, str):
            agg = getattr(agg, "__name__", "unknown")
        # lm-eval's logged config holds a !function aggregation as its source code: keep the function's name.
        named = re.match(r"\s*def\s+(\w+)\s*\(", agg)
        aggs[m["metric"]] = named.group(1) if named else agg
    return aggs


def count_tokens(tokenizer, samples: list[dict]) -> int:
    total = 0
    for s in samples:
        for arg in s.get("arguments", []):
            text = "".join(a for a in arg if isinstance(a, str)) if isinstance(arg, (list, tuple)) else str(arg)
            total += len(tokenizer(text, add_special_tokens=False)["input_ids"])
        if s.get("resps") and isinstance(s["resps"][0], (list, tuple)) and s["resps"][0] and isinstance(s["resps"][0][0], str):
            total += len(tokenizer(s["resps"][0][0], add_special_tokens=False)["input_ids"])
    return total


def task_facts(res: dict, name: str, samples: list[dict], task_obj=None) -> dict:
    """What run.json's `tasks` records about one task lm-eval ran: version, documents, config hash, output type,
    each metric's aggregation, conventions, unit, shots, and the documents its loader left out. `task_obj` is the task
    object the harness built and passed to lm-eval (None for a task lm-eval built itself, e.g. a group's member)."""
    config = res["configs"].get(name, {})
    meta = config.get("metadata") or {}
    # The glossary's words change no score: left out of the hash, so rewording them keeps runs comparable.
    hashed = {**config, "metadata": {k: v for k, v in meta.items() if k != "definitions"}} if meta else config
    cfg_json = json.dumps(hashed, sort_keys=True, default=str)
    facts = {
        "version": res.get("versions", {}).get(name),
        "n_docs": res.get("n-samples", {}).get(name, {}).get("effective", len({s["doc_id"] for s in samples})),
        "config_hash": "sha256:" + hashlib.sha256(cfg_json.encode()).hexdigest(),
        "output_type": config.get("output_type"),
    }
    facts["aggregations"] = (_aggregations(task_obj) if task_obj is not None else {}) or _aggregations_from_config(config)
    for key in ("conventions", "definitions"):
        if meta.get(key):
            facts[key] = meta[key]
    facts["unit"] = str(meta.get("unit") or "document")
    facts["num_fewshot"] = _shots(res, name, samples)
    dropped = _dropped(task_obj) if task_obj is not None else {}
    if dropped:
        facts["dropped"] = dropped
    return facts
