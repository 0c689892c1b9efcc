"""The engine axis: the same documents and tasks through `harness run --engine hf` and `--engine vllm`.

    python -m benchmarks.engines [--shape tiny|qwen2.5-3b] [--docs N] [--adapters N] [--gen-toks N] [--4bit]

A model is built from a config with random weights (no download: random weights cost the compute real ones do), with
LoRA adapters of rank 16 on the attention and MLP projections. The task is Yelp rating prompts of review length
(generated reviews, greedy, a fixed number of new tokens: the generation never stops early, so both engines generate
the same number of tokens). Reported per engine: wall time, model load, docs/s per arm, peak RSS (and peak GPU
memory on CUDA), and the projected time for 50,000 documents per arm. Results go to
benchmarks/results/<date>-engines-<shape>-<machine>.json.

`tiny` (hidden 128, head_dim 64: vLLM's CPU attention needs head_dim >= 32) is for CPU, where the figures show
correctness and overhead only; `qwen2.5-3b` is Qwen2.5-3B's shape, for a GPU.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

SHAPES = {
    "tiny": {"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 2,
             "num_key_value_heads": 2, "head_dim": 64, "max_position_embeddings": 2048},
    # Qwen2.5-3B's config.json (architecture sizes only)
    "qwen2.5-3b": {"hidden_size": 2048, "intermediate_size": 11008, "num_hidden_layers": 36, "num_attention_heads": 16,
                   "num_key_value_heads": 2, "head_dim": 128, "max_position_embeddings": 32768, "vocab_size": 151936,
                   "rope_theta": 1000000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": True},
}
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def build(root: Path, shape: str, n_adapters: int) -> tuple[Path, list[Path]]:
    import torch
    from conftest import build_tiny_llama
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, Qwen2Config, Qwen2ForCausalLM

    small = build_tiny_llama(root / "tok")  # a byte-level BPE tokenizer (and a throwaway model)
    base = root / "base"
    torch.manual_seed(0)
    if shape == "tiny":
        from transformers import LlamaConfig, LlamaForCausalLM

        vocab = json.loads((small / "config.json").read_text())["vocab_size"]
        LlamaForCausalLM(LlamaConfig(vocab_size=vocab, bos_token_id=1, eos_token_id=2, pad_token_id=0,
                                     tie_word_embeddings=True, **SHAPES[shape])).save_pretrained(base)
    else:
        cfg = Qwen2Config(bos_token_id=1, eos_token_id=2, pad_token_id=0, **SHAPES[shape])
        Qwen2ForCausalLM(cfg).to(torch.bfloat16).save_pretrained(base)
    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (small / f).exists():
            (base / f).write_bytes((small / f).read_bytes())
    adapters = []
    for i in range(n_adapters):
        model = AutoModelForCausalLM.from_pretrained(base)
        torch.manual_seed(100 + i)
        peft = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules=TARGETS, init_lora_weights=False))
        with torch.no_grad():
            for name, p in peft.named_parameters():
                if "lora_B" in name:
                    p.mul_(0.05)
        peft.save_pretrained(root / f"lora{i}")
        adapters.append(root / f"lora{i}")
        del model, peft
    return base, adapters


def reviews(path: Path, n: int) -> Path:
    from harness.demo.world import review

    rng = random.Random(0)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["label", "text"])
        w.writeheader()
        for i in range(n):  # ~Yelp length: several sentences per review
            text = " ".join(review(rng, i % 5) for _ in range(6))
            w.writerow({"label": i % 5, "text": text})
    return path


def run_engine(engine: str, base: Path, adapters: list[Path], data: Path, work: Path, args) -> dict:
    from benchmarks.compare import timed

    out = work / f"run_{engine}"
    cmd = [sys.executable, "-m", "harness", "run", "--engine", engine, "--base", str(base), "--tasks", "yelp_gen_fixed",
           "--include-path", str(work / "tasks"), "--data", f"yelp={data}", "--out", str(out), "--no-registry",
           "--no-cache", "--resamples", "100", "--max-gen-toks", str(args.gen_toks)]
    for a in adapters:
        cmd += ["--adapter", str(a)]
    if engine == "hf":
        cmd += ["--batch-size", str(args.hf_batch)]
    if args.four_bit:
        cmd += ["--load-in-4bit"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    wall, rss = timed(cmd, env)
    run = json.loads((out / "run.json").read_text())
    per_arm = {arm: t["yelp_gen_fixed"]["seconds"] for arm, t in run["timing"]["arms"].items()}
    n = run["tasks"]["yelp_gen_fixed"]["n_docs"]
    return {"wall_s": round(wall, 2), "load_s": run["timing"]["load_s"], "peak_rss_bytes": rss,
            "peak_gpu_bytes": run["resources"]["peak_gpu_bytes"], "docs": n,
            "docs_per_s": {arm: round(n / s, 2) for arm, s in per_arm.items()},
            "projected_50k_min_per_arm": round(50_000 / (n / (sum(per_arm.values()) / len(per_arm))) / 60, 1),
            "engine": run["environment"]["engine"], "device": run["environment"]["device"]}


TASK_YAML = """# Yelp prompts with a fixed generation length: no stop string can end a generation early, so every engine
# generates exactly max_gen_toks tokens per document.
include: {yelp}
task: yelp_gen_fixed
generation_kwargs:
  until: ["<never-stops-here>"]
  max_gen_toks: 32
  do_sample: false
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", choices=list(SHAPES), default="tiny")
    ap.add_argument("--docs", type=int, default=200)
    ap.add_argument("--adapters", type=int, default=2)
    ap.add_argument("--gen-toks", type=int, default=32)
    ap.add_argument("--hf-batch", type=int, default=16)
    ap.add_argument("--4bit", dest="four_bit", action="store_true")
    ap.add_argument("--engines", default="hf,vllm")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="engines-bench-"))
    base, adapters = build(work, args.shape, args.adapters)
    (work / "tasks").mkdir()
    (work / "tasks" / "yelp_gen_fixed.yaml").write_text(TASK_YAML.format(yelp=ROOT / "tasks" / "yelp" / "yelp.yaml"))
    data = reviews(work / "reviews.csv", args.docs)
    results = {e: run_engine(e, base, adapters, data, work, args) for e in args.engines.split(",")}
    report = {"date": str(date.today()), "machine": f"{platform.machine()}, {os.cpu_count()} cores", "shape": args.shape,
              "docs": args.docs, "arms": 1 + args.adapters, "gen_toks": args.gen_toks, "four_bit": args.four_bit,
              "results": results}
    if "hf" in results and "vllm" in results:
        hf = sum(results["hf"]["docs_per_s"].values()) / len(results["hf"]["docs_per_s"])
        vl = sum(results["vllm"]["docs_per_s"].values()) / len(results["vllm"]["docs_per_s"])
        report["vllm_over_hf_docs_per_s"] = round(vl / hf, 2)
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"{date.today()}-engines-{args.shape}{'-4bit' if args.four_bit else ''}-{platform.machine()}-{os.cpu_count()}cpu.json"
    (args.out / name).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
