"""``kill -9`` of a Redis in the middle of a refresh, during a stream of refreshes: no session lost.

A private redis-server (append-only file, ``appendfsync always``: a reply
leaves only after its write is on disk) behind a :class:`LossyProxy`.
Eight users refresh in turn through one manager. One refresh is the
moment of the kill: the script ran and its reply reached the proxy, then
the server gets SIGKILL and the reply is never delivered. Refreshes during
the outage fail; the server restarts on the same port and directory and
replays its log. Every refresh either succeeds or raises StoreError, and
each user's client, retrying the only token it holds, carries on: the
killed refresh's retry gets the successor the dead server had written.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from refreshkit import Event, EventHooks, FrozenClock, KeySet, Settings, TokenManager, _tokens
from refreshkit.backends.redis import RedisStore
from refreshkit.errors import StoreError
from tests.redis.servers import RedisServer, free_port

from .conftest import selector_of, token_id_of
from .proxy import LossyProxy, Trap, redis_noscript

pytestmark = pytest.mark.redis

USERS = 8
STEPS = 48
#: The refresh during which the server is killed, and the step at which it is back.
KILL_AT, RESTART_AT = 17, 28


@pytest.fixture
def durable_server() -> Iterator[RedisServer]:
    """A private redis-server whose acknowledged writes survive SIGKILL (fsync before reply)."""
    with tempfile.TemporaryDirectory(prefix="refreshkit-lost-") as directory:
        server = RedisServer(
            free_port(), Path(directory), ("--appendonly", "yes", "--appendfsync", "always")
        )
        server.start()
        yield server
        server.stop()


def test_a_kill_9_mid_refresh_during_a_stream_loses_no_session(
    durable_server: RedisServer,
) -> None:
    events: list[Event] = []
    hooks = EventHooks()
    hooks.on(None, events.append)
    clock = FrozenClock()
    with LossyProxy("127.0.0.1", durable_server.port) as proxy:
        # Fail fast, and no redis-py retries: the manager must see every failure.
        client = redis.Redis(
            proxy.host,
            proxy.port,
            socket_timeout=2,
            socket_connect_timeout=1,
            retry=Retry(NoBackoff(), 0),
        )
        store = RedisStore(client, prefix="rk")
        manager = TokenManager(
            Settings(), keys=KeySet.generate(), store=store, clock=clock, hooks=hooks
        )
        held = [manager.issue(f"user{n}").refresh_token for n in range(USERS)]
        sids = [_tokens.session_id_of(token_id_of(token)) for token in held]
        failed: list[int] = []
        killed_user, killed_token = -1, ""

        def refresh(user: int) -> bool:
            """One client refresh: True and the new token kept, or StoreError and the old kept."""
            try:
                held[user] = manager.refresh(held[user]).refresh_token
            except StoreError:
                failed.append(user)
                return False
            return True

        for step in range(STEPS):
            clock.advance(1)
            user = step % USERS
            if step == KILL_AT:
                killed_user, killed_token = user, held[user]
                proxy.arm(
                    Trap(
                        selector_of(killed_token),
                        spare=redis_noscript,
                        on_fire=durable_server.stop,  # SIGKILL once the reply is written
                    )
                )
                assert not refresh(user), "the killed refresh cannot have answered"
                assert proxy.fired.is_set()
                continue
            if step == RESTART_AT:
                durable_server.start()  # same port and directory: the log is replayed
                with durable_server.client() as direct:
                    survived = RedisStore(direct, prefix="rk").get_session(sids[killed_user])
                assert survived is not None, "the session outlived the kill"
                assert survived.current_token_id != token_id_of(killed_token), (
                    "the killed refresh's rotation was on disk before its reply was lost"
                )
                # Each client retries the token it holds: every one works, none is reuse.
                for each in range(USERS):
                    before = held[each]
                    assert refresh(each), f"user {each} could not refresh after the restart"
                    if each == killed_user:
                        assert before == killed_token
                continue
            outage = KILL_AT < step < RESTART_AT
            assert refresh(user) is not outage

        client.close()
        assert killed_user in failed
        assert failed.count(killed_user) >= 1
        assert not [e for e in events if e.name in ("reuse_detected", "revoked", "expired")]
        replays = [e for e in events if e.name == "retry_replayed"]
        assert [e.sid for e in replays] == [sids[killed_user]], "only the killed refresh replayed"

        with durable_server.client() as direct:
            view = RedisStore(direct, prefix="rk")
            for user, token in enumerate(held):
                stored = view.get_session(sids[user])
                assert stored is not None and stored.revoked_at is None
                assert stored.current_token_id == token_id_of(token), f"user {user} forked"
            assert len({s.sid for n in range(USERS) for s in view.list_sessions(f"user{n}")}) == (
                USERS
            )
