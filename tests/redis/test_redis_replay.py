"""Idempotent refresh on Redis: a retry writes nothing, a rotation stores its sealed successor.

A retry within the window is a compare-and-set whose checks fail: the script
only reads, and the manager opens the session's sealed successor. The sealed
successor is stored in listpack-sized parts and read back exactly.
Hand-written, not generated; standalone and cluster.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster

from refreshkit import Settings, TokenManager, _tokens
from refreshkit._async.conformance import T0, _session
from refreshkit.backends.redis import RedisStore
from refreshkit.backends.redis._codec import SEALED_FIELDS, SEALED_PART_BYTES
from refreshkit.clock import FrozenClock
from refreshkit.errors import TokenReuseError
from refreshkit.models import Check, CheckOp, SessionUpdate

pytestmark = [pytest.mark.redis]

WINDOW = timedelta(seconds=30)


@pytest.fixture
def manager(store: RedisStore) -> TokenManager:
    return TokenManager(
        Settings(secret_key="s" * 32, retry_window=WINDOW), store=store, clock=FrozenClock(T0)
    )


def _clock(manager: TokenManager) -> FrozenClock:
    assert isinstance(manager.clock, FrozenClock)
    return manager.clock


def _raw(client: redis.Redis | RedisCluster, key: str) -> tuple[dict[Any, Any], int]:
    """Every field of the hash and its expiry instant (ms): what a write would change."""
    return client.hgetall(key), int(client.pexpiretime(key))


def test_a_retry_within_the_window_writes_nothing_and_gets_the_same_successor(
    manager: TokenManager, store: RedisStore, client: redis.Redis | RedisCluster
) -> None:
    pair = manager.issue("alice")
    rotated = manager.refresh(pair.refresh_token)
    key = store.keys.session(pair.sid)
    before = _raw(client, key)

    _clock(manager).advance(WINDOW - timedelta(microseconds=1))
    retry = manager.refresh(pair.refresh_token)

    assert retry.refresh_token == rotated.refresh_token
    assert _raw(client, key) == before
    stored = store.get_session(pair.sid)
    assert stored is not None and stored.last_used_at == T0  # as found: the retry slid nothing


def test_a_rotation_stores_the_sealed_successor_in_listpack_parts(
    manager: TokenManager, store: RedisStore, client: redis.Redis | RedisCluster
) -> None:
    pair = manager.issue("alice")
    rotated = manager.refresh(pair.refresh_token)
    stored = store.get_session(pair.sid)
    assert stored is not None and stored.sealed_successor is not None
    sealed = stored.sealed_successor
    assert len(sealed) > SEALED_PART_BYTES  # one field would leave the listpack encoding
    assert _tokens.open_successor(sealed, pair.refresh_token) == rotated.refresh_token

    key = store.keys.session(pair.sid)
    parts = [p.encode() if isinstance(p, str) else p for p in client.hmget(key, SEALED_FIELDS)]
    assert b"".join(parts) == sealed.encode()
    assert all(len(p) <= SEALED_PART_BYTES for p in parts)
    assert client.object("encoding", key) == b"listpack"
    assert [s.sealed_successor for s in store.list_sessions("alice")] == [sealed]
    checked = store.check_access("jti", pair.sid, T0)
    assert checked.session is not None and checked.session.sealed_successor == sealed


def test_a_retry_after_the_successor_was_used_is_reuse(manager: TokenManager) -> None:
    pair = manager.issue("alice")
    first = manager.refresh(pair.refresh_token)
    _clock(manager).advance(timedelta(seconds=1))
    manager.refresh(first.refresh_token)
    with pytest.raises(TokenReuseError):
        manager.refresh(pair.refresh_token)


def test_a_retry_once_the_window_has_passed_is_reuse(
    manager: TokenManager, store: RedisStore
) -> None:
    pair = manager.issue("alice")
    manager.refresh(pair.refresh_token)
    _clock(manager).advance(WINDOW)
    with pytest.raises(TokenReuseError):
        manager.refresh(pair.refresh_token)
    stored = store.get_session(pair.sid)
    assert stored is not None and stored.revoked_reason == "reuse"


@pytest.mark.parametrize(
    "sealed",
    ["", "é" * 100, "x" * 62 + "é" + "y" * 200, "🔑" * 70],
    ids=["empty", "two_byte_characters", "cut_inside_a_character", "longer_than_three_parts"],
)
def test_any_sealed_successor_is_stored_and_returned_exactly(
    store: RedisStore, sealed: str
) -> None:
    """Stores never interpret it: whatever its length or characters, it comes back as given."""
    session = dataclasses.replace(_session(), sealed_successor=sealed)
    store.create_session(session)
    assert store.get_session(session.sid) == session
    flipped = SessionUpdate(session.sid, (), {"sealed_successor": sealed[::-1], "last_used_at": T0})
    result = store.compare_and_set(flipped)
    assert result.applied and result.session is not None
    assert result.session.sealed_successor == sealed[::-1]
    assert store.get_session(session.sid) == result.session
    stale = Check("sealed_successor", CheckOp.EQUALS, sealed + "!")
    refused = store.compare_and_set(SessionUpdate(session.sid, (stale,), {"scope": None}))
    assert not refused.applied and refused.session == result.session
    holds = Check("sealed_successor", CheckOp.EQUALS, sealed[::-1])
    clear = SessionUpdate(session.sid, (holds,), {"sealed_successor": None})
    cleared = store.compare_and_set(clear)
    assert cleared.applied and cleared.session is not None
    assert cleared.session.sealed_successor is None
    assert store.get_session(session.sid) == cleared.session
