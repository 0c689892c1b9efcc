"""Task definitions in lm-eval format (YAML + helpers); `lm_eval --include_path` can run this folder."""

from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent
