"""Sync modules GENERATED from ``refreshkit._async`` by scripts/unasync.py."""
