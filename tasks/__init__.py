"""Task definitions in lm-eval format (YAML + helpers); `lm_eval --include_path` can run this folder.

Each family's aggregations that statistics recompute on resamples register in tasks.resampling (see README.md).
"""

from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent
