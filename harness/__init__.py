"""Evaluation harness for fine-tuned adapters: score a base model and its LoRA/QLoRA adapters side by side."""

__version__ = "0.1.0"
