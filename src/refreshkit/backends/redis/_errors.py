"""The one place Redis failures become :class:`~refreshkit.errors.StoreError`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis.exceptions import RedisClusterException, RedisError

from ...errors import StoreError

__all__ = ["store_errors"]


@contextmanager
def store_errors(operation: str) -> Iterator[None]:
    """Turn any Redis or socket failure inside the block into StoreError, cause chained.

    Covers refused connections, timeouts, MOVED/ASK redirections that never
    settle, READONLY replicas after a failover, CLUSTERDOWN and script errors.
    The message names the operation and the failure's type, never its
    arguments (which may carry secret hashes).
    """
    try:
        yield
    except (RedisError, RedisClusterException, OSError) as exc:
        raise StoreError(f"Redis {operation} failed ({type(exc).__name__})") from exc
