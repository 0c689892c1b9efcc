"""Engines: what scores an arm. base.py holds the contract (the `Engine` protocol) and the table from --engine NAME
to its class; hf.py (transformers + peft, the reference) and vllm.py (per-request LoRA) implement it; sliding.py is
what both add to lm-eval's model classes; lm_eval_patches.py is every change made to lm-eval itself, undoable."""
