"""Idempotent refresh on Redis: a retry replays the stored state, a rotation seals its successor.

The consume script's replay path writes nothing and reports the session as
found, its sealed successor included; a rotation stores the sealed successor
in the same script. Sessions stored before sealed successors existed (a
grace counter ``n``, no ``x``/``y``/``z``) keep working. Hand-written, not
generated; standalone and cluster.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster

from refreshkit import Settings, TokenManager, _tokens
from refreshkit._async.conformance import T0, _request, _session
from refreshkit.backends.redis import RedisStore
from refreshkit.backends.redis._codec import SEALED_FIELDS, SEALED_PART_BYTES
from refreshkit.clock import FrozenClock
from refreshkit.errors import TokenReuseError
from refreshkit.models import ConsumeOutcome, ConsumeRequest, RefreshRecord

pytestmark = [pytest.mark.redis]

WINDOW = timedelta(seconds=30)


@pytest.fixture(params=["standalone", pytest.param("cluster", marks=pytest.mark.cluster)])
def client(request: pytest.FixtureRequest) -> redis.Redis | RedisCluster:
    """The shared standalone server or the test cluster; this test's keys deleted afterwards."""
    name = "standalone_client" if request.param == "standalone" else "cluster_client"
    found: redis.Redis | RedisCluster = request.getfixturevalue(name)
    return found


@pytest.fixture
def store(client: redis.Redis | RedisCluster, key_prefix: str) -> Iterator[RedisStore]:
    store = RedisStore(client, prefix=key_prefix)
    yield store
    store.close()


def _refresh(
    record: RefreshRecord,
    *,
    now: datetime,
    window: timedelta | None = WINDOW,
    sealed: str | None = None,
) -> ConsumeRequest:
    """A rotating request with a retry window, its successor sealed (or ``sealed``)."""
    request = _request(record, now=now)
    assert request.successor is not None
    return dataclasses.replace(
        request,
        retry_since=None if window is None else now - window,
        sealed_successor=f"sealed-for-{request.successor.token_id}" if sealed is None else sealed,
    )


def _raw(client: redis.Redis | RedisCluster, key: str) -> tuple[dict[Any, Any], int]:
    """Every field of the hash and its expiry instant (ms): what a write would change."""
    return client.hgetall(key), int(client.pexpiretime(key))


def test_a_retry_within_the_window_writes_nothing_and_reports_the_sealed_successor(
    store: RedisStore, client: redis.Redis | RedisCluster
) -> None:
    session, record, _ = _session()
    store.create_session(session, record)
    rotation = _refresh(record, now=T0)
    rotated = store.consume(rotation)
    assert rotated.outcome is ConsumeOutcome.ROTATED and rotated.issued is not None
    key = store.keys.session(session.sid)
    before = _raw(client, key)

    retry = store.consume(_refresh(record, now=T0 + timedelta(seconds=29)))

    assert retry.outcome is ConsumeOutcome.REPLAYED and not retry.applied
    assert retry.issued is None
    assert retry.session is not None and retry.record is not None
    assert retry.session.sealed_successor == rotation.sealed_successor
    assert retry.session.current_token_id == rotated.issued.token_id
    assert retry.session.last_used_at == T0  # as found: the retry slid nothing
    assert retry.record.consumed_at == T0 and retry.record.token_id == record.token_id
    assert _raw(client, key) == before


def test_a_rotation_stores_the_sealed_successor_with_the_session_in_listpack_parts(
    store: RedisStore, client: redis.Redis | RedisCluster
) -> None:
    session, record, _ = _session()
    store.create_session(session, record)
    presented, _, _ = _tokens.new_refresh_token(session.sid)
    successor, _, _ = _tokens.new_refresh_token(session.sid)
    sealed = _tokens.seal_successor(presented, successor)
    assert len(sealed) > SEALED_PART_BYTES  # one field would leave the listpack encoding

    rotated = store.consume(_refresh(record, now=T0, sealed=sealed))

    assert rotated.session is not None and rotated.session.sealed_successor == sealed
    key = store.keys.session(session.sid)
    stored = client.hmget(key, list(SEALED_FIELDS))
    parts = [p.encode() if isinstance(p, str) else p or b"" for p in stored]
    assert b"".join(parts) == b"." + sealed.encode()
    assert all(len(p) <= SEALED_PART_BYTES for p in parts)
    assert client.object("encoding", key) == b"listpack"
    assert rotated.issued is not None
    found = store.find(rotated.issued.token_id)
    assert found is not None and found.session.sealed_successor == sealed
    got = store.get_session(session.sid)
    assert got is not None and got.sealed_successor == sealed
    assert [s.sealed_successor for s in store.list_sessions(session.subject)] == [sealed]
    checked = store.check_access("jti", session.sid, T0)
    assert checked.session is not None and checked.session.sealed_successor == sealed
    assert _tokens.open_successor(got.sealed_successor or "", presented) == successor


def test_a_retry_after_the_successor_was_used_is_refused_as_reuse(store: RedisStore) -> None:
    session, first, _ = _session()
    store.create_session(session, first)
    second = store.consume(_refresh(first, now=T0)).issued
    assert second is not None
    assert store.consume(_refresh(second, now=T0 + timedelta(seconds=1))).applied

    late = store.consume(_refresh(first, now=T0 + timedelta(seconds=2)))

    assert late.outcome is ConsumeOutcome.REJECTED and late.record is not None


@pytest.mark.parametrize("window", [None, WINDOW], ids=["strict", "window_passed"])
def test_a_retry_outside_the_window_is_refused_as_reuse(
    store: RedisStore, window: timedelta | None
) -> None:
    session, record, _ = _session()
    store.create_session(session, record)
    assert store.consume(_refresh(record, now=T0)).applied

    late = store.consume(_refresh(record, now=T0 + WINDOW, window=window))

    assert late.outcome is ConsumeOutcome.REJECTED and late.record is not None


@pytest.mark.parametrize(
    "sealed",
    ["", "é" * 100, "x" * 62 + "é" + "y" * 200, "🔑" * 70],
    ids=["empty", "two_byte_characters", "cut_inside_a_character", "longer_than_three_parts"],
)
def test_any_sealed_successor_is_stored_and_returned_exactly(
    store: RedisStore, sealed: str
) -> None:
    """Stores never interpret it: whatever its length or characters, it comes back as given."""
    session, record, _ = _session()
    store.create_session(dataclasses.replace(session, sealed_successor=sealed), record)
    got = store.get_session(session.sid)
    assert got is not None and got.sealed_successor == sealed
    rotated = store.consume(_refresh(record, now=T0, sealed=sealed[::-1]))
    assert rotated.outcome is ConsumeOutcome.ROTATED
    got = store.get_session(session.sid)
    assert got is not None and got.sealed_successor == sealed[::-1]
    replayed = store.consume(_refresh(record, now=T0 + timedelta(seconds=1)))
    assert replayed.session is not None and replayed.session.sealed_successor == sealed[::-1]


def _as_stored_before_the_upgrade(client: redis.Redis | RedisCluster, key: str) -> None:
    """Rewrite a session hash into the layout before sealed successors: 'n', no x/y/z."""
    client.hdel(key, *SEALED_FIELDS)
    client.hset(key, "n", "0")


def test_a_session_stored_before_the_upgrade_has_no_sealed_successor_until_it_rotates(
    store: RedisStore, client: redis.Redis | RedisCluster
) -> None:
    session, first, _ = _session()
    store.create_session(session, first)
    second = store.consume(_refresh(first, now=T0)).issued
    assert second is not None
    key = store.keys.session(session.sid)
    _as_stored_before_the_upgrade(client, key)
    got = store.get_session(session.sid)
    assert got is not None and got.sealed_successor is None and got.generation == 1

    # A retry in the gap: the store reports the state (nothing to recover), writes nothing.
    gap = store.consume(_refresh(first, now=T0 + timedelta(seconds=1)))
    assert gap.outcome is ConsumeOutcome.REPLAYED
    assert gap.session is not None and gap.session.sealed_successor is None
    assert not client.hexists(key, "x") and client.hexists(key, "n")

    # The next rotation writes the sealed successor and drops the grace counter.
    rotation = _refresh(second, now=T0 + timedelta(seconds=2))
    assert store.consume(rotation).outcome is ConsumeOutcome.ROTATED
    assert not client.hexists(key, "n")
    got = store.get_session(session.sid)
    assert got is not None and got.sealed_successor == rotation.sealed_successor
    replayed = store.consume(_refresh(second, now=T0 + timedelta(seconds=3)))
    assert replayed.outcome is ConsumeOutcome.REPLAYED
    assert replayed.session is not None
    assert replayed.session.sealed_successor == rotation.sealed_successor


def test_a_manager_retry_in_the_upgrade_gap_is_reuse_and_after_one_rotation_a_replay(
    store: RedisStore, client: redis.Redis | RedisCluster
) -> None:
    """Documented in docs/backends/redis.rst: nothing to recover until the next rotation."""
    clock = FrozenClock(T0)
    manager = TokenManager(Settings(secret_key="s" * 32), store=store, clock=clock)
    gap = manager.issue("alice")
    rotated = manager.refresh(gap.refresh_token)
    _as_stored_before_the_upgrade(client, store.keys.session(gap.sid))
    clock.advance(1)
    with pytest.raises(TokenReuseError):
        manager.refresh(gap.refresh_token)
    revoked = store.get_session(gap.sid)
    assert revoked is not None and revoked.revoked_reason == "reuse"

    upgraded = manager.issue("bob")
    first = manager.refresh(upgraded.refresh_token)
    _as_stored_before_the_upgrade(client, store.keys.session(upgraded.sid))
    clock.advance(1)
    second = manager.refresh(first.refresh_token)  # rotates: the sealed successor is back
    clock.advance(1)
    assert manager.refresh(first.refresh_token).refresh_token == second.refresh_token
    assert rotated.refresh_token != second.refresh_token
