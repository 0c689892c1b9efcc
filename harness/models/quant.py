"""The one 4-bit quantization config, for `harness run --load-in-4bit` and `harness train --load-in-4bit` alike."""

from __future__ import annotations


def nf4_config(compute_dtype):
    """NF4 + double quantisation + a float compute dtype: the QLoRA recipe, so an adapter is evaluated under the
    quantization it was trained under."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=compute_dtype)
