"""Catalogue of adapters and run scores (SQLite); built in a later issue."""
