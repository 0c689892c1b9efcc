"""Catalogue of adapters and of every run's scores: one SQLite file (stdlib sqlite3), no server."""

from adapters_registry.entries import adapter_entry
from adapters_registry.store import SCHEMA_VERSION, Registry, default_path

__all__ = ["Registry", "SCHEMA_VERSION", "adapter_entry", "default_path"]
