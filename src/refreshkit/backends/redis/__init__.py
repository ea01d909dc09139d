"""The Redis backend: ``redis://``, ``rediss://``, ``redis+cluster://``, ``rediss+cluster://``.

This module is the registry's factory for those schemes
(:func:`create_store` / :func:`create_async_store`). Needs the ``[redis]``
extra (redis-py).
"""

from __future__ import annotations

from typing import Any

from ...errors import MissingExtraError

try:
    import redis as _redis  # noqa: F401 - only to name the missing extra
except ImportError as _missing:
    raise MissingExtraError(
        f"refreshkit.backends.redis needs redis-py ({_missing.name}): "
        "pip install 'refreshkit[redis]'"
    ) from _missing

from ._async import AsyncRedisStore
from ._sync import RedisStore

__all__ = ["AsyncRedisStore", "RedisStore", "create_async_store", "create_store"]


def create_store(url: str, **options: Any) -> RedisStore:
    """A sync :class:`RedisStore` for ``url``; ``prefix=`` and client options pass through.

    Raises :class:`~refreshkit.errors.ConfigurationError` for a URL that is
    not a Redis one.
    """
    return RedisStore(url, **options)


def create_async_store(url: str, **options: Any) -> AsyncRedisStore:
    """An async :class:`AsyncRedisStore` for ``url``; see :func:`create_store`."""
    return AsyncRedisStore(url, **options)
