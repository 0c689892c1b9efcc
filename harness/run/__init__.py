"""`harness run`: plan (cheap checks), execute, provenance, lm-eval output -> records."""
