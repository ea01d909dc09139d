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

from .._options import URLOption, merge_options, split_url_options, text
from ._async import AsyncRedisStore
from ._sync import RedisStore

__all__ = ["URL_OPTIONS", "AsyncRedisStore", "RedisStore", "create_async_store", "create_store"]

#: What a Redis store URL may carry besides redis-py's own parameters (``history``:
#: deprecated, any value accepted and ignored with a DeprecationWarning).
URL_OPTIONS = (URLOption("prefix", "prefix", text), URLOption("history", "history", text))


def _options(url: str, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The client's URL and every store option, from the URL's query and the keywords."""
    client_url, from_url = split_url_options(url, URL_OPTIONS, store="Redis store")
    return client_url, merge_options(from_url, options)


def create_store(url: str, **options: Any) -> RedisStore:
    """A sync :class:`RedisStore` for ``url``; ``prefix=`` and client options pass through.

    The URL's query may carry ``prefix`` (``redis://host:6379/0?prefix=app``)
    and the deprecated, ignored ``history``; redis-py reads the rest. Raises
    :class:`~refreshkit.errors.ConfigurationError` for a URL that is not a
    Redis one, or an unknown option or value.
    """
    client_url, merged = _options(url, options)
    return RedisStore(client_url, **merged)


def create_async_store(url: str, **options: Any) -> AsyncRedisStore:
    """An async :class:`AsyncRedisStore` for ``url``; see :func:`create_store`."""
    client_url, merged = _options(url, options)
    return AsyncRedisStore(client_url, **merged)
