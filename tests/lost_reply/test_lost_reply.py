"""A store reply lost after the commit: the retry gets the same successor, nobody is logged out.

Issue 12: the store commits a rotation, its reply never arrives (here a
loopback proxy drops it and cuts the connection; on SQLite a
:class:`~refreshkit.testing.LostReplyStore`), the manager raises
:class:`~refreshkit.errors.StoreError`, and the client retries with the
only token it has. Within ``retry_window`` that retry returns the very
successor the store committed: no second rotation, no ``reuse_detected``,
the session stays live. With ``retry_window="0s"`` (strict RFC 9700
rotation) the same retry is reuse, and the session is revoked.

Every backend, sync and async managers; hand-written, not generated.
"""

from __future__ import annotations

import secrets

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from refreshkit import Event, EventHooks, FrozenClock, KeySet, Settings, TokenManager, TokenPair
from refreshkit.backends.redis import RedisStore
from refreshkit.errors import StoreError, TokenReuseError
from tests.services import REDIS_HOST, REDIS_PORT, require_port

from .conftest import MakeRig, Rig, redis_trap, token_id_of
from .proxy import LossyProxy


def _lose_one_refresh(rig: Rig, pair: TokenPair) -> None:
    """Refresh ``pair`` while its reply is lost; the store committed the rotation anyway."""
    before = rig.peek(pair.sid)
    assert before is not None
    rig.arm(pair.refresh_token)
    with pytest.raises(StoreError):
        rig.manager.refresh(pair.refresh_token)
    assert rig.fired(), "the trap never saw the refresh: nothing was lost"
    stored = rig.peek(pair.sid)
    assert stored is not None
    assert stored.generation == before.generation + 1, "the lost reply's rotation committed"
    assert stored.current_token_id != token_id_of(pair.refresh_token)


def test_a_retry_after_a_lost_reply_returns_the_committed_successor(make_rig: MakeRig) -> None:
    rig = make_rig()
    first = rig.manager.issue("alice")
    rig.clock.advance(60)
    _lose_one_refresh(rig, first)

    rig.clock.advance(2)  # the client's backoff; well inside the 30 s default window
    retried = rig.manager.refresh(first.refresh_token)
    stored = rig.peek(first.sid)
    assert stored is not None
    assert token_id_of(retried.refresh_token) == stored.current_token_id
    assert stored.generation == 1, "the retry wrote nothing: one rotation in all"
    assert retried.refresh_token != first.refresh_token
    assert rig.manager.verify_access_online(retried.access_token).sid == first.sid

    again = rig.manager.refresh(first.refresh_token)  # a second retry: still the same successor
    assert again.refresh_token == retried.refresh_token
    assert again.access_token != retried.access_token, "each answer carries a fresh access token"

    assert not rig.named("reuse_detected")
    assert not rig.named("revoked")
    assert len(rig.named("retry_replayed")) == 2
    assert [s.sid for s in rig.manager.sessions("alice")] == [first.sid]

    # The successor refreshes normally; after that the old token is plain reuse.
    rig.clock.advance(60)
    onward = rig.manager.refresh(retried.refresh_token)
    stored = rig.peek(first.sid)
    assert stored is not None and stored.generation == 2
    assert token_id_of(onward.refresh_token) == stored.current_token_id
    assert not rig.named("reuse_detected")
    with pytest.raises(TokenReuseError):
        rig.manager.refresh(first.refresh_token)
    assert len(rig.named("reuse_detected")) == 1


def test_with_a_zero_retry_window_the_retry_after_a_lost_reply_is_reuse(make_rig: MakeRig) -> None:
    rig = make_rig(retry_window="0s")
    first = rig.manager.issue("alice")
    rig.clock.advance(60)
    _lose_one_refresh(rig, first)

    rig.clock.advance(2)
    with pytest.raises(TokenReuseError):
        rig.manager.refresh(first.refresh_token)
    assert len(rig.named("reuse_detected")) == 1
    stored = rig.peek(first.sid)
    assert stored is not None and stored.revoked_at is not None
    assert rig.manager.sessions("alice") == []


def test_a_retry_after_the_window_closed_is_reuse(make_rig: MakeRig) -> None:
    rig = make_rig(retry_window="10s")
    first = rig.manager.issue("alice")
    rig.clock.advance(60)
    _lose_one_refresh(rig, first)

    rig.clock.advance(11)
    with pytest.raises(TokenReuseError):
        rig.manager.refresh(first.refresh_token)
    assert len(rig.named("reuse_detected")) == 1
    assert rig.manager.sessions("alice") == []


@pytest.mark.redis
def test_redis_py_resending_the_lost_script_on_its_own_gets_the_committed_successor() -> None:
    """A redis-py that retries (its default from 6.0) re-sends the script: it is its own success."""
    require_port("Redis", REDIS_HOST, REDIS_PORT)
    prefix = f"rklost{secrets.token_hex(5)}"
    direct = redis.Redis(REDIS_HOST, REDIS_PORT, socket_timeout=5)
    with LossyProxy(REDIS_HOST, REDIS_PORT) as proxy:
        client = redis.Redis(
            proxy.host,
            proxy.port,
            socket_timeout=5,
            retry=Retry(NoBackoff(), 3),
            retry_on_error=[redis.ConnectionError],
        )
        hooks, events = EventHooks(), list[Event]()
        hooks.on(None, events.append)
        clock = FrozenClock()
        manager = TokenManager(
            Settings(),
            keys=KeySet.generate(),
            store=RedisStore(client, prefix=prefix),
            clock=clock,
            hooks=hooks,
        )
        try:
            first = manager.issue("alice")
            clock.advance(60)
            proxy.arm(redis_trap(first.refresh_token))
            pair = manager.refresh(first.refresh_token)
            assert proxy.fired.is_set()
            stored = RedisStore(direct, prefix=prefix).get_session(first.sid)
            assert stored is not None and stored.generation == 1
            assert token_id_of(pair.refresh_token) == stored.current_token_id
            # The re-sent script finds its own successor newest: this very request's success.
            assert [e.name for e in events] == ["issued", "refreshed"]
        finally:
            client.close()
            for key in list(direct.scan_iter(match=f"{prefix}:*")):
                direct.delete(key)
            direct.close()
