"""Base references and aliases, adapter folders, loading (torch only in loading.py and quant.py)."""
