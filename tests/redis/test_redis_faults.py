"""Failures: a Redis that dies and comes back, a lost script cache, slots that move.

Every test here uses its own redis-server (or the test cluster); the shared
server on 6379 is never stopped or flushed. Hand-written, not generated.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster

from refreshkit import Settings, TokenManager, errors
from refreshkit._async.conformance import T0, _session
from refreshkit._policy import refresh_attempt, revocation
from refreshkit.backends.redis import AsyncRedisStore, RedisStore
from refreshkit.clock import FrozenClock
from refreshkit.models import SessionUpdate, UpdateResult

from .servers import Cluster, RedisServer, free_port, wait_until

pytestmark = [pytest.mark.redis, pytest.mark.slow]

#: Short timeouts and no client-side retries: a dead server must fail fast.
FAIL_FAST = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}
SETTINGS = Settings(secret_key="s" * 32)


@pytest.fixture
def own_server() -> Iterator[RedisServer]:
    """A private redis-server; its fsync-always append-only file keeps acknowledged writes."""
    with tempfile.TemporaryDirectory(prefix="refreshkit-redis-") as directory:
        server = RedisServer(
            free_port(), Path(directory), ("--appendonly", "yes", "--appendfsync", "always")
        )
        server.start()
        yield server
        server.stop()


def _manager(store: RedisStore, clock: FrozenClock | None = None) -> TokenManager:
    return TokenManager(SETTINGS, store=store, clock=clock or FrozenClock(T0))


def _rotate(store: RedisStore, token: str, now: datetime) -> tuple[UpdateResult, str]:
    """One refresh of ``token`` at ``now`` straight on the store: its result and the successor."""
    attempt = refresh_attempt(token, now, SETTINGS, device=None)
    assert attempt.successor is not None
    return store.compare_and_set(attempt.update), attempt.successor


def test_a_stopped_server_raises_store_error_and_a_restarted_one_resumes_with_nothing_lost(
    own_server: RedisServer,
) -> None:
    store = RedisStore(own_server.url, prefix="rk", **FAIL_FAST)
    clock = FrozenClock(T0)
    manager = _manager(store, clock)
    kept, revoked = manager.issue("alice"), manager.issue("alice")
    clock.advance(timedelta(minutes=1))
    rotated = manager.refresh(kept.refresh_token)
    assert manager.revoke_session(revoked.sid, reason="logout")
    before = store.get_session(kept.sid)
    assert before is not None and before.generation == 1

    own_server.stop()
    outage = [
        lambda: manager.refresh(rotated.refresh_token),
        lambda: store.compare_and_set(revocation(kept.sid, T0, "x")),
        lambda: store.get_session(kept.sid),
        lambda: store.create_session(_session("bob")),
        lambda: store.revoke_subject("alice", T0, "everywhere"),
        lambda: store.list_sessions("alice"),
        lambda: store.check_access("jti", kept.sid, T0),
        lambda: store.deny_access("jti", T0),
        lambda: store.purge_expired(T0),
    ]
    for operation in outage:
        with pytest.raises(errors.StoreError) as caught:
            operation()
        assert caught.value.__cause__ is not None
        assert not isinstance(caught.value, errors.TokenError)

    own_server.start()  # same port, same directory: the append-only file is replayed
    # Nothing lost: the rotation and the revocation acknowledged before the outage hold.
    assert store.get_session(kept.sid) == before
    again = store.get_session(revoked.sid)
    assert again is not None and again.revoked_at == T0 + timedelta(minutes=1)
    # Nothing resurrected: the spent token is reuse (past the window), the revoked one refused.
    clock.advance(timedelta(minutes=5))
    with pytest.raises(errors.RevokedTokenError):
        manager.refresh(revoked.refresh_token)
    # Operations resume (the restarted server's script cache is empty: NOSCRIPT recovered).
    onward = manager.refresh(rotated.refresh_token)
    assert onward.sid == kept.sid
    assert store.revoke_subject("alice", clock.now(), "everywhere") == 1
    store.close()


def test_a_kill_during_a_stream_of_refreshes_never_leaves_a_half_applied_rotation(
    own_server: RedisServer,
) -> None:
    store = RedisStore(own_server.url, prefix="rk", **FAIL_FAST)
    pair = _manager(store).issue("alice")
    token, applied = pair.refresh_token, 0
    for step in range(200):
        if step == 100:
            own_server.stop()
        try:
            result, successor = _rotate(store, token, T0 + timedelta(seconds=step))
        except errors.StoreError:
            continue
        assert result.applied
        token, applied = successor, applied + 1
    own_server.start()
    stored = store.get_session(pair.sid)
    assert stored is not None
    assert stored.generation == applied == 100
    result, _ = _rotate(store, token, T0 + timedelta(seconds=300))
    assert result.applied  # the newest token is the one the last acknowledged rotation wrote
    store.close()


async def test_script_flush_between_calls_is_recovered_from(own_server: RedisServer) -> None:
    store = AsyncRedisStore(own_server.url, prefix="rk")
    with own_server.client() as admin:
        session = _session("alice")
        admin.script_flush()
        await store.create_session(session)
        admin.script_flush()
        bump = SessionUpdate(session.sid, (), {"last_used_at": T0}, ("generation",))
        result = await store.compare_and_set(bump)
        assert result.applied and result.session is not None and result.session.generation == 1
        admin.script_flush()
        assert await store.revoke_subject("alice", T0, "everywhere") == 1
        admin.script_flush()
        await store.deny_access("jti", T0 + timedelta(minutes=5))
        assert (await store.check_access("jti", session.sid, T0)).denied
        admin.script_flush()
        assert await store.purge_expired(T0 + timedelta(days=30)) == 1
    await store.aclose()


def _flush_scripts(cluster: Cluster) -> None:
    for node in cluster.nodes:
        with node.client() as each:
            each.script_flush()


@pytest.mark.cluster
def test_script_flush_on_every_cluster_node_is_recovered_from(
    redis_cluster: Cluster, cluster_client: RedisCluster, key_prefix: str
) -> None:
    store = RedisStore(cluster_client, prefix=key_prefix)
    manager = _manager(store)
    pairs = [manager.issue("alice") for _ in range(6)]
    _flush_scripts(redis_cluster)
    assert manager.refresh(pairs[0].refresh_token).sid == pairs[0].sid
    _flush_scripts(redis_cluster)
    assert store.revoke_subject("alice", T0, "everywhere") == 6


def _node_of(cluster: Cluster, client: RedisCluster, key: str) -> tuple[int, int]:
    """(slot, port of the node serving it)."""
    slot = client.keyslot(key)
    node = client.get_node_from_key(key)
    assert node is not None
    return slot, int(node.port)


def _node_id(port: int) -> str:
    with redis.Redis(host="127.0.0.1", port=port) as node:
        return str(node.execute_command("CLUSTER", "MYID").decode())


@pytest.mark.cluster
def test_a_session_whose_slot_migrates_keeps_working_during_and_after_the_move(
    redis_cluster: Cluster, cluster_client: RedisCluster, key_prefix: str
) -> None:
    store = RedisStore(cluster_client, prefix=key_prefix)
    clock = FrozenClock(T0)
    manager = _manager(store, clock)
    pair = manager.issue("alice")
    key = store.keys.session(pair.sid)
    slot, source_port = _node_of(redis_cluster, cluster_client, key)
    target_port = next(n.port for n in redis_cluster.nodes if n.port != source_port)
    source_id, target_id = _node_id(source_port), _node_id(target_port)
    source = redis.Redis(host="127.0.0.1", port=source_port)
    target = redis.Redis(host="127.0.0.1", port=target_port)
    tokens = [pair.refresh_token]

    def refresh() -> None:
        clock.advance(timedelta(minutes=1))
        tokens.append(manager.refresh(tokens[-1]).refresh_token)

    try:
        target.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
        source.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
        refresh()  # the key is still on the source
        source.execute_command("MIGRATE", "127.0.0.1", target_port, "", 0, 5000, "KEYS", key)
        refresh()  # the key moved: the source answers ASK, the target runs the script
        for node in redis_cluster.nodes:
            with node.client() as each:
                each.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
        refresh()  # the slot moved: MOVED, the client learns the new owner
        assert _node_of(redis_cluster, cluster_client, key)[1] == target_port
    finally:
        source.close()
        target.close()
    stored = store.get_session(pair.sid)
    assert stored is not None and stored.generation == 3
    with pytest.raises(errors.TokenReuseError):
        manager.refresh(tokens[0])  # the migrated hash still knows the chain


@pytest.mark.cluster
def test_a_killed_cluster_node_gives_store_errors_and_its_replacement_serves_again() -> None:
    cluster = Cluster(masters=3)
    cluster.start()
    try:
        store = RedisStore(cluster.url, prefix="rk", **FAIL_FAST)
        manager = _manager(store)
        pair = manager.issue("alice")
        key = store.keys.session(pair.sid)
        owner = next(n for n in cluster.nodes if n.port == store.client.get_node_from_key(key).port)
        owner.stop()
        with pytest.raises(errors.StoreError):
            manager.refresh(pair.refresh_token)
        with pytest.raises(errors.StoreError):
            store.get_session(pair.sid)
        owner.start()  # same port and nodes.conf: it rejoins owning its slots, data gone
        wait_until(cluster.is_ok, "the replaced node to rejoin")
        # The session was on the lost node only (no replica, no AOF): it is gone, not corrupt.
        fresh = RedisStore(cluster.url, prefix="rk", **FAIL_FAST)
        assert fresh.get_session(pair.sid) is None
        again = _manager(fresh).issue("alice")
        assert _manager(fresh).refresh(again.refresh_token).sid == again.sid
        fresh.close()
        store.close()
    finally:
        cluster.stop()
