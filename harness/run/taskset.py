"""Resolve task names to lm-eval tasks before any model loads.

The project's own `tasks/` folder and the user's --include-path folders are indexed first (milliseconds). lm-eval's
thousands of built-in task files are indexed only when a name is not found there: that index costs ~10 s, most of
a small run's start-up with the stock CLI.
"""

from __future__ import annotations

import difflib
import fnmatch
import logging
import os
from pathlib import Path

from harness.core.errors import ConfigError, HarnessError, first_line
from tasks import PROJECT_DIR as PROJECT_TASKS_DIR


def _quiet_lm_eval() -> None:
    # lm-eval logs every task's dataset and kwargs at WARNING/INFO; our console shows its own progress.
    for name in ("lm_eval", "lm-eval", "lm_eval.api.task", "lm_eval.evaluator"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _unknown(names: list[str], known: list[str]) -> list[str]:
    out = []
    for n in names:
        if any(c in n for c in "*?["):
            if not fnmatch.filter(known, n):
                out.append(n)
        elif n not in known:
            out.append(n)
    return out


def task_manager(names: list[str], include_paths: list[Path], metadata: dict | None = None):
    """A TaskManager that knows every name in `names`, or a ConfigError listing the unknown ones with close matches."""
    from lm_eval.tasks import TaskManager

    _quiet_lm_eval()
    paths = [PROJECT_TASKS_DIR, *[Path(p).resolve() for p in include_paths]]
    tm = TaskManager(include_path=[str(p) for p in paths], include_defaults=False, metadata=metadata)
    if not _unknown(names, tm.all_tasks):
        return tm

    tm = TaskManager(include_path=[str(p) for p in paths], include_defaults=True, metadata=metadata)
    unknown = _unknown(names, tm.all_tasks)
    if unknown:
        problems = []
        for n in unknown:
            close = difflib.get_close_matches(n, tm.all_tasks, n=5, cutoff=0.6)
            hint = f"close matches: {', '.join(close)}" if close else "no close match"
            problems.append(
                f"--tasks: unknown task '{n}' ({hint}); the project's tasks are in {PROJECT_TASKS_DIR}, "
                f"add your own YAML folder with --include-path"
            )
        raise ConfigError(problems)
    return tm


def task_digest(name: str, tm, metadata: dict) -> str:
    """A digest of a task's definition and metadata: the per-arm cache is also split by it, because lm-eval's
    request key does not include task settings that change answers without changing the request
    (a perplexity window, say)."""
    import hashlib
    import json

    entry = tm.task_index.get(name)
    cfg = getattr(entry, "cfg", None) or {}
    blob = json.dumps([name, cfg, metadata], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _hub_dataset_of(name: str, tm, error: Exception) -> str:
    entry = tm.task_index.get(name)
    cfg = getattr(entry, "cfg", None) or {}
    if cfg.get("dataset_path"):
        return cfg["dataset_path"] + (f" ({cfg['dataset_name']})" if cfg.get("dataset_name") else "")
    import re

    m = re.search(r"'([\w.-]+/[\w.-]+)'", str(error))
    return m.group(1) if m else "its dataset"


def _hub_problem(name: str, tm, error: Exception) -> str:
    dataset = _hub_dataset_of(name, tm, error)
    offline = " (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE") in ("1", "true") \
        or os.environ.get("HF_DATASETS_OFFLINE") in ("1", "true") else ""
    if name.startswith("mmlu"):
        fix = ("run MMLU from local hendrycks CSV files instead: --tasks general_mc --data general_mc=<folder with "
               "dev/ and test/>")
    else:
        fix = ("download it once with network access, or copy the task's YAML into a folder with dataset_path set to "
               "local files and pass --include-path (README: Bring your own task)")
    return f"--tasks {name}: its dataset {dataset} is on the Hugging Face hub and could not be loaded{offline}; {fix}"


def _load_task(name: str, tm) -> dict:
    try:
        return tm.load([name])
    except HarnessError:
        raise
    except TypeError as e:  # lm-eval's TaskConfig(**yaml): a field it does not know, or a value of the wrong kind
        first = first_line(e, empty="")
        raise ConfigError([f"--tasks {name}: lm-eval cannot build this task from its YAML ({first}); fix that field "
                           "in the task's YAML (lm-eval's TaskConfig lists the fields a task may have)"]) from None
    except (ConnectionError, OSError) as e:  # datasets' offline and not-found errors are both
        filename = getattr(e, "filename", None)
        if isinstance(e, OSError) and filename and Path(str(filename)).exists():
            # a local file that exists but cannot be read: say that, not "on the hub"
            raise ConfigError([f"--tasks {name}: cannot read {filename} ({e.strerror or e}); check that it is a "
                               "readable file"]) from None
        raise ConfigError([_hub_problem(name, tm, e)]) from None


# Tasks that write their own solved examples into the prompt (lm-eval's num_fewshot stays 0 for them); for these
# RunConfig.task_metadata turns --num-fewshot into their metadata setting (general_mc_shots).
OWN_SHOTS = ("general_mc",)


def _is_project_task(task) -> bool:
    source = str((getattr(task.config, "metadata", None) or {}).get("config_source") or "")
    try:
        return Path(source).resolve().is_relative_to(Path(PROJECT_TASKS_DIR).resolve())
    except (OSError, ValueError):
        return False


def apply_num_fewshot(task, num_fewshot: int) -> str | None:
    """Make `task` (a built lm-eval task) use exactly `num_fewshot` examples, or say in one line why it cannot.

    lm-eval's simple_evaluate ignores num_fewshot, without a word, for a task whose config says `num_fewshot: 0`:
    the project's yelp, yelp_mc and docqa say so only as their default, and draw examples from their own documents
    (fewshot_split), so the number is set on the task itself; a stock or user task that pins 0 is refused. A
    perplexity task scores its documents' own text: examples do not apply, and a number above 0 is refused."""
    cfg = task.config
    name = cfg.task
    if name in OWN_SHOTS:
        return None  # its loader wrote the examples into the prompt (the metadata carries the number)
    if cfg.output_type == "loglikelihood_rolling":
        if num_fewshot > 0:
            return (f"--num-fewshot {num_fewshot}: task {name} scores the perplexity of its documents' own text "
                    "(loglikelihood_rolling), where solved examples do not apply; run it in a separate run without "
                    "--num-fewshot")
        return None
    if cfg.num_fewshot == 0 and num_fewshot > 0:
        if _is_project_task(task) and cfg.fewshot_split:
            task.set_config(key="num_fewshot", value=num_fewshot)
            return None
        return (f"--num-fewshot {num_fewshot}: task {name} sets num_fewshot: 0 in its config, so lm-eval would ignore "
                f"the flag for it; run {name} in a separate run without --num-fewshot, or set num_fewshot in your "
                "copy of its YAML (--include-path)")
    return None  # lm-eval sets the task's num_fewshot to the number


def preload(names: list[str], tm, num_fewshot: int | None = None) -> dict:
    """Build every task once, now: bad data, and a hub dataset that cannot be reached, are reported before the model
    loads, and every arm reuses the built task (its dataset read and processed once, not once per arm). With
    `num_fewshot`, every task either uses that many examples or is refused here (apply_num_fewshot)."""
    out = {}
    problems = []
    for name in names:
        if any(c in name for c in "*?["):
            continue  # a glob: lm-eval expands it per call
        loaded = _load_task(name, tm)
        obj = loaded["tasks"].get(name) or (loaded.get("groups") or {}).get(name)
        if obj is not None:
            out[name] = obj
        if num_fewshot is not None:
            problems += [p for t in loaded["tasks"].values() if (p := apply_num_fewshot(t, num_fewshot))]
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)))
    return out
