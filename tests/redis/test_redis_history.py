"""No history to bound: after 1000 refreshes the first token is still reuse, standalone and cluster.

A session keeps only its newest and previous token and the hash of its chain
key, so its hash has the same fields after 1000 rotations as after one, and
a replay of its very first token is recognised by the chain key alone.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
from redis.cluster import RedisCluster

from refreshkit import Settings, TokenManager
from refreshkit._async.conformance import T0
from refreshkit.backends.redis import RedisStore
from refreshkit.clock import FrozenClock
from refreshkit.errors import RevokedTokenError, TokenReuseError

pytestmark = [pytest.mark.redis]


def test_after_1000_refreshes_replaying_the_first_token_is_reuse_and_revokes_the_session(
    client: redis.Redis | RedisCluster, key_prefix: str
) -> None:
    store = RedisStore(client, prefix=key_prefix)
    clock = FrozenClock(T0)
    manager = TokenManager(Settings(secret_key="s" * 32), store=store, clock=clock)
    pair = manager.issue("alice", scope="read")
    key = store.keys.session(pair.sid)
    tokens = [pair.refresh_token]
    fields_after: dict[int, set[bytes]] = {}
    for refresh in range(1, 1001):
        clock.advance(timedelta(minutes=15))
        tokens.append(manager.refresh(tokens[-1]).refresh_token)
        if refresh in (1, 1000):
            fields_after[refresh] = set(client.hkeys(key))
    assert fields_after[1] == fields_after[1000]  # bounded: nothing accumulates
    assert int(client.hlen(key)) == len(fields_after[1]) <= 20

    with pytest.raises(TokenReuseError):
        manager.refresh(tokens[0])
    revoked = store.get_session(pair.sid)
    assert revoked is not None and revoked.revoked_reason == "reuse" and revoked.generation == 1000
    with pytest.raises(RevokedTokenError):
        manager.refresh(tokens[-1])  # the legitimate holder is logged out too
    store.close()


def test_history_is_deprecated_and_ignored(
    client: redis.Redis | RedisCluster, key_prefix: str
) -> None:
    with pytest.warns(DeprecationWarning, match="history"):
        store = RedisStore(client, prefix=key_prefix, history=1)
    clock = FrozenClock(T0)
    manager = TokenManager(Settings(secret_key="s" * 32), store=store, clock=clock)
    pair = manager.issue("alice")
    tokens = [pair.refresh_token]
    for _ in range(3):
        clock.advance(timedelta(minutes=1))
        tokens.append(manager.refresh(tokens[-1]).refresh_token)
    with pytest.raises(TokenReuseError):
        manager.refresh(tokens[0])  # older than any history of one: still reuse
    assert "history" not in repr(store)
