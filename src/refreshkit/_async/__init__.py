"""Async sources of truth; their sync twins in ``refreshkit._sync`` are generated."""
