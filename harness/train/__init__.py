"""`harness train`: config, data, trainer, training log."""
