"""The demo's tiny Llama-architecture base, pre-trained from scratch on the generated corpus (world-building, not an
adapter). Torch and transformers are imported inside the functions: the CLI pins the CPU kernels before that."""

from __future__ import annotations

from pathlib import Path


def _tokenizer(texts: list[str]):
    """A byte-level BPE tokenizer trained on the demo's own texts, so that its vocabulary fits the tiny model."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=1000, special_tokens=["<unk>", "<s>", "</s>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<unk>")


def _model(vocab_size: int, quick: bool):
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=64 if quick else 128, intermediate_size=128 if quick else 256,
                      num_hidden_layers=2 if quick else 4, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=256, bos_token_id=1, eos_token_id=2, pad_token_id=0, tie_word_embeddings=True)
    return LlamaForCausalLM(cfg)


def _blocks(corpus: str, fast, block: int = 128) -> list[dict]:
    ids = []
    for doc in corpus.split("\n\n"):
        ids += fast(doc, add_special_tokens=False)["input_ids"] + [fast.eos_token_id]
    return [{"input_ids": ids[i:i + block], "labels": ids[i:i + block]} for i in range(0, len(ids) - block, block)]


def _train(model, blocks: list[dict], checkpoints: Path, seed: int, quick: bool) -> None:
    from transformers import Trainer, TrainingArguments, default_data_collator

    from harness.train.trainer import one_line_progress

    args = TrainingArguments(output_dir=str(checkpoints), per_device_train_batch_size=8, learning_rate=3e-3,
                             num_train_epochs=40 if quick else 14, lr_scheduler_type="cosine", warmup_steps=0.05,
                             weight_decay=0.01, logging_steps=20, save_strategy="steps", save_steps=100,
                             save_total_limit=1, report_to="none", seed=seed, data_seed=seed, use_cpu=True,
                             disable_tqdm=False)
    resume = any(checkpoints.glob("checkpoint-*"))
    trainer = Trainer(model=model, args=args, train_dataset=blocks, data_collator=default_data_collator)
    one_line_progress(trainer, "pre-training")
    trainer.train(resume_from_checkpoint=True if resume else None)


def build_base(world: dict, out: Path, seed: int, quick: bool) -> Path:
    """Pre-train a small model from scratch on the generated corpus and save it, with its tokenizer, in `out`."""
    import torch

    # Seeded before anything draws from torch's generator: the model's initial weights come from it.
    torch.manual_seed(seed)
    corpus = world["corpus"].read_text()
    extra = [world["train"].read_text(), *(p.read_text() for p in sorted(world["manual"].glob("*.md")))]
    fast = _tokenizer([corpus, *extra])
    model = _model(len(fast), quick)
    # Checkpoints every 100 steps: an interrupted demo resumes pre-training where it stopped.
    _train(model, _blocks(corpus, fast), out / "checkpoints", seed, quick)
    model.save_pretrained(out)
    fast.save_pretrained(out)
    return out


def recreate(out: Path, quick: bool) -> Path:
    """Re-create a shipped base (`python -m harness.demo.pretrain [--quick] --out DIR`): the world of seed 0, the
    demo's kernel pins, one thread, then pre-training. Bit-identical to the shipped files only on a CPU that sums
    like the one that made them: pre-training from scratch turns any other rounding into other weights."""
    import os
    import tempfile

    from harness.demo import shipped

    for key, value in shipped.portable_kernels().items():
        os.environ.setdefault(key, value)  # before torch is imported: it reads them once
    import torch

    from harness.demo.world import write_world

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        world = write_world(Path(tmp) / "world", shipped.SEED, quick)
        build_base(world, out, shipped.SEED, quick)
    shipped.remove_checkpoints(out)
    return out


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(prog="python -m harness.demo.pretrain",
                                description="Re-create the demo's shipped base model (seed 0) in --out.")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--quick", action="store_true", help="the --quick demo's smaller base")
    a = p.parse_args()
    from harness.demo import shipped

    for name, digest in shipped.digests(recreate(a.out.resolve(), a.quick)).items():
        print(f"{digest}  {name}")
