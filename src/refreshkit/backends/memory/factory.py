"""Registry entry for ``memory://``: every store built from one URL is independent."""

from __future__ import annotations

from typing import Any

from ...errors import ConfigurationError
from .._options import split_url_options
from ._async import AsyncMemoryStore
from ._state import MemoryState
from ._sync import MemoryStore

__all__ = ["create_async_store", "create_store"]


def _check(url: str, options: dict[str, Any]) -> MemoryState:
    url, _ = split_url_options(url, (), store="memory store")
    if url.rstrip("/") not in ("memory:", "memory:/"):
        raise ConfigurationError("the memory store takes no host, path or options: use 'memory://'")
    state = options.pop("state", None)
    if options:
        raise ConfigurationError(f"unknown memory store options: {', '.join(sorted(options))}")
    return state if isinstance(state, MemoryState) else MemoryState()


def create_store(url: str, **options: Any) -> MemoryStore:
    """A sync memory store (``state=`` shares one :class:`MemoryState`)."""
    return MemoryStore(_check(url, options))


def create_async_store(url: str, **options: Any) -> AsyncMemoryStore:
    """An async memory store (``state=`` shares one :class:`MemoryState`)."""
    return AsyncMemoryStore(_check(url, options))
