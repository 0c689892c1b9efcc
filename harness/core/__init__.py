"""Torch-free foundations: errors, paths, the run directory, statistics, comparisons, diagnostics."""
