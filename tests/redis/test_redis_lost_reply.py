"""A refresh whose reply is lost on the network, then retried by the client: the same successor.

Through a loopback proxy that forwards the consume script to a private
redis-server and drops its answer: Redis rotated the token, the manager saw
a connection error (``StoreError``, a 503 for the client), and the client
sends its only token again. Within ``retry_window`` that retry gets the very
successor the lost reply carried; nobody is logged out, no ``reuse_detected``
fires. redis-py's own re-sending is switched off, so the retry is the
client's. Hand-written, not generated.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from refreshkit import AsyncTokenManager, Settings, TokenManager, _tokens
from refreshkit.backends.redis import AsyncRedisStore, RedisStore
from refreshkit.clock import FrozenClock
from refreshkit.errors import StoreError, TokenReuseError
from refreshkit.events import Event

from .proxy import LossyProxy
from .servers import RedisServer, free_port

pytestmark = [pytest.mark.redis]

SETTINGS = Settings(secret_key="s" * 32, retry_window=timedelta(seconds=30))


@pytest.fixture
def proxy() -> Iterator[LossyProxy]:
    """A proxy in front of a private redis-server."""
    with tempfile.TemporaryDirectory(prefix="refreshkit-redis-") as directory:
        server = RedisServer(free_port(), Path(directory))
        server.start()
        try:
            with LossyProxy(server.port) as proxy:
                yield proxy
        finally:
            server.stop()


def _client(proxy: LossyProxy) -> redis.Redis:
    """A client that never re-sends a command itself: the retry below is the application's."""
    return redis.Redis(port=proxy.port, socket_timeout=5, retry=Retry(NoBackoff(), 0))


def _warm(manager: TokenManager) -> None:
    """Load the scripts first: the lost reply must be the rotation's, not a NOSCRIPT."""
    manager.refresh(manager.issue("warm-up").refresh_token)


async def _warm_async(manager: AsyncTokenManager) -> None:
    await manager.refresh((await manager.issue("warm-up")).refresh_token)


def _events(manager: TokenManager | AsyncTokenManager) -> list[Event]:
    seen: list[Event] = []
    manager.hooks.on(None, seen.append)
    return seen


def test_a_retry_after_a_lost_refresh_reply_returns_the_successor_the_reply_carried(
    proxy: LossyProxy,
) -> None:
    client = _client(proxy)
    store = RedisStore(client, prefix="rk")
    clock = FrozenClock()
    manager = TokenManager(SETTINGS, store=store, clock=clock)
    _warm(manager)
    seen = _events(manager)
    pair = manager.issue("alice")
    clock.advance(60)

    proxy.lose_next_reply()
    with pytest.raises(StoreError):
        manager.refresh(pair.refresh_token)
    assert proxy.lost == 1
    applied = store.get_session(pair.sid)
    assert applied is not None and applied.generation == 1  # Redis did rotate

    clock.advance(2)
    retried = manager.refresh(pair.refresh_token)

    assert _tokens.parse_refresh_token(retried.refresh_token)[0] == applied.current_token_id
    assert [e.name for e in seen if e.name != "issued"] == ["retry_replayed"]
    clock.advance(60)
    after = manager.refresh(retried.refresh_token)  # the user carries on
    session = store.get_session(pair.sid)
    assert session is not None and session.revoked_at is None and session.generation == 2
    assert after.refresh_token != retried.refresh_token
    client.close()


def test_with_strict_rotation_the_same_retry_is_reuse(proxy: LossyProxy) -> None:
    """retry_window=0 is RFC 9700 strict rotation: the proxy really lost an applied reply."""
    client = _client(proxy)
    store = RedisStore(client, prefix="rk")
    clock = FrozenClock()
    manager = TokenManager(SETTINGS.replace(retry_window=timedelta(0)), store=store, clock=clock)
    _warm(manager)
    pair = manager.issue("alice")
    proxy.lose_next_reply()
    with pytest.raises(StoreError):
        manager.refresh(pair.refresh_token)
    clock.advance(2)
    with pytest.raises(TokenReuseError):
        manager.refresh(pair.refresh_token)
    session = store.get_session(pair.sid)
    assert session is not None and session.revoked_reason == "reuse"
    client.close()


async def test_an_async_retry_after_a_lost_refresh_reply_returns_the_same_successor(
    proxy: LossyProxy,
) -> None:
    client = redis.asyncio.Redis(
        port=proxy.port, socket_timeout=5, retry=AsyncRetry(NoBackoff(), 0)
    )
    store = AsyncRedisStore(client, prefix="rk")
    clock = FrozenClock()
    manager = AsyncTokenManager(SETTINGS, store=store, clock=clock)
    await _warm_async(manager)
    seen = _events(manager)
    pair = await manager.issue("alice")

    proxy.lose_next_reply()
    with pytest.raises(StoreError):
        await manager.refresh(pair.refresh_token)
    clock.advance(1)
    first = await manager.refresh(pair.refresh_token)
    clock.advance(1)
    second = await manager.refresh(pair.refresh_token)  # a racing tab, later still

    assert first.refresh_token == second.refresh_token
    assert [e.name for e in seen if e.name != "issued"] == ["retry_replayed"] * 2
    session = await store.get_session(pair.sid)
    assert session is not None and session.revoked_at is None and session.generation == 1
    await client.aclose()
