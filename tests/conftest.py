"""Shared fixtures: a tiny random Llama built here (no downloads), adapters for it, and the real assets in shared/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # Several workers on a few cores: one thread each (inherited by the subprocesses tests start), or torch's thread
    # pools oversubscribe the machine and a 20 s test takes minutes. Results never depend on it.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parent.parent
ENGINE_TASKS = Path(__file__).resolve().parent / "engine_tasks"

_CORPUS = [
    "Once upon a time there was a little girl named Lily.",
    "The dog ran to the park and saw a big ball.",
    "Tom liked to play with his red car in the sun.",
    "The cat was sad because it lost its toy.",
    "She opened the box and found a shiny ring.",
    "At night the moon was big and bright.",
    "The frog jumped into the pond and swam away.",
    "Ben wanted to eat a big red apple with his mom.",
    "Sam and Amy went to the beach to build a sandcastle.",
    "Mom said let us go to the store today.",
]


@pytest.fixture(autouse=True)
def _work_in_temp_folder(tmp_path, monkeypatch):
    """Every test runs from its own empty working folder, as a user runs from theirs: relative paths in a test mean
    what they mean on the command line, and nothing can land in the repository by accident."""
    monkeypatch.chdir(tmp_path)


def shared_dir() -> Path | None:
    root = Path(os.environ.get("HARNESS_SHARED", REPO.parent / "shared"))
    return root if root.is_dir() else None


@pytest.fixture(scope="session")
def shared() -> Path:
    root = shared_dir()
    if root is None:
        if os.environ.get("CI") == "true":
            pytest.fail("the shared assets folder is missing (set HARNESS_SHARED); CI must not skip these tests")
        pytest.skip("shared assets folder not found (set HARNESS_SHARED)")
    return root


@pytest.fixture(scope="session")
def tinystories(shared) -> Path:
    path = shared / "models" / "tinystories-656k"
    assert (path / "model.safetensors").is_file(), f"{path} lacks model.safetensors"
    return path


def build_tiny_llama(out: Path, seed: int = 0, hidden: int = 64, heads: int = 4, kv_heads: int = 2) -> Path:
    """A 2-layer, 64-wide random Llama (64: bitsandbytes quantises in blocks of 64) and a byte-level BPE tokenizer
    trained on a few sentences. `hidden=128, heads=2, kv_heads=2` gives head_dim 64, which vLLM's CPU attention needs."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_CORPUS, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<unk>")
    fast.save_pretrained(out)
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(fast), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2,
                      num_attention_heads=heads, num_key_value_heads=kv_heads, max_position_embeddings=256,
                      bos_token_id=1, eos_token_id=2, pad_token_id=0, tie_word_embeddings=True)
    LlamaForCausalLM(cfg).save_pretrained(out)
    return out


def build_adapter(base: Path, out: Path, seed: int = 0, r: int = 4, targets=("q_proj", "v_proj"), scale: float = 1.0,
                  **lora_kwargs) -> Path:
    """A LoRA adapter with random (non-zero) B, so the adapter arm really differs from the base (B times `scale`:
    a small scale keeps the model's text readable, as a trained adapter's is)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base)
    torch.manual_seed(seed)
    peft_model = get_peft_model(model, LoraConfig(r=r, lora_alpha=2 * r, target_modules=list(targets),
                                                  init_lora_weights=False, **lora_kwargs))
    if scale != 1.0:
        with torch.no_grad():
            for name, p in peft_model.named_parameters():
                if "lora_B" in name:
                    p.mul_(scale)
    peft_model.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_adapters(tiny_model, tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("tiny-adapters")
    return [build_adapter(tiny_model, root / f"lora{i}", seed=i) for i in range(3)]


@pytest.fixture(scope="session")
def tinystories_adapter(tinystories, tmp_path_factory) -> Path:
    return build_adapter(tinystories, tmp_path_factory.mktemp("ts-adapter") / "ts_lora", seed=7)


# Every test run records into its own registry, never the user's.
os.environ.setdefault("HARNESS_REGISTRY", str(Path(__import__("tempfile").mkdtemp(prefix="harness-reg-")) / "registry.sqlite"))


# The longest files first: two workers each take whole files (--dist loadfile), and a long file scheduled last keeps
# one worker busy while the other has nothing left (the quick start, two minutes, used to end the suite alone).
LONGEST_FIRST = ("test_demo.py", "test_vllm_engine.py", "test_quickstart.py", "test_stats_simulation.py",
                 "test_benchmark.py", "test_bad_input_corpus.py", "test_reports.py", "test_train.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONGEST_FIRST)))  # stable: the rest keep their order
