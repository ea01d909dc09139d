"""Failures: a Redis that dies and comes back, a lost script cache, slots that move.

Every test here uses its own redis-server (or the test cluster); the shared
server on 6379 is never stopped or flushed. Hand-written, not generated.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster

from refreshkit import errors
from refreshkit._async.conformance import T0, _request, _session
from refreshkit.backends.redis import AsyncRedisStore, RedisStore
from refreshkit.models import ConsumeOutcome

from .servers import Cluster, RedisServer, free_port, wait_until

pytestmark = [pytest.mark.redis, pytest.mark.slow]

#: Short timeouts and no client-side retries: a dead server must fail fast.
FAIL_FAST = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}


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


def test_a_stopped_server_raises_store_error_and_a_restarted_one_resumes_with_nothing_lost(
    own_server: RedisServer,
) -> None:
    store = RedisStore(own_server.url, prefix="rk", **FAIL_FAST)
    kept, kept_record, _ = _session("alice")
    revoked, revoked_record, _ = _session("alice")
    store.create_session(kept, kept_record)
    store.create_session(revoked, revoked_record)
    rotated = store.consume(_request(kept_record, now=T0 + timedelta(minutes=1)))
    assert rotated.issued is not None and rotated.session is not None
    assert store.revoke_session(revoked.sid, T0, "logout")

    own_server.stop()
    outage = [
        lambda: store.consume(_request(rotated.issued, now=T0 + timedelta(minutes=2))),
        lambda: store.find(rotated.issued.token_id),
        lambda: store.create_session(*_session("bob")[:2]),
        lambda: store.revoke_subject("alice", T0, "everywhere"),
        lambda: store.list_sessions("alice"),
        lambda: store.check_access("jti", kept.sid, T0),
    ]
    for operation in outage:
        with pytest.raises(errors.StoreError) as caught:
            operation()
        assert caught.value.__cause__ is not None
        assert not isinstance(caught.value, errors.TokenError)

    own_server.start()  # same port, same directory: the append-only file is replayed
    # Nothing lost: the rotation and the revocation acknowledged before the outage hold.
    assert store.get_session(kept.sid) == rotated.session
    state = store.find(kept_record.token_id)
    assert state is not None and state.record == rotated.record
    again = store.get_session(revoked.sid)
    assert again is not None and again.revoked_at == T0
    # Nothing resurrected: the consumed token stays consumed, the revoked session refused.
    replay = store.consume(_request(kept_record, now=T0 + timedelta(minutes=3)))
    assert replay.outcome is ConsumeOutcome.REJECTED
    refused = store.consume(_request(revoked_record, now=T0 + timedelta(minutes=3)))
    assert refused.outcome is ConsumeOutcome.REJECTED
    # Operations resume (the restarted server's script cache is empty: NOSCRIPT recovered).
    onward = store.consume(_request(rotated.issued, now=T0 + timedelta(minutes=4)))
    assert onward.outcome is ConsumeOutcome.ROTATED
    assert store.revoke_subject("alice", T0 + timedelta(minutes=5), "everywhere") == 1
    store.close()


def test_a_kill_during_a_stream_of_refreshes_never_leaves_a_half_applied_rotation(
    own_server: RedisServer,
) -> None:
    store = RedisStore(own_server.url, prefix="rk", **FAIL_FAST)
    session, record, _ = _session()
    store.create_session(session, record)
    current, applied = record, 0
    for step in range(200):
        if step == 100:
            own_server.stop()
        try:
            result = store.consume(_request(current, now=T0 + timedelta(seconds=step)))
        except errors.StoreError:
            continue
        assert result.issued is not None
        current, applied = result.issued, applied + 1
    own_server.start()
    stored = store.get_session(session.sid)
    assert stored is not None
    assert stored.generation == applied == 100
    assert stored.current_token_id == current.token_id
    newest = store.find(current.token_id)
    assert newest is not None and newest.record.consumed_at is None
    store.close()


async def test_script_flush_between_calls_is_recovered_from(own_server: RedisServer) -> None:
    store = AsyncRedisStore(own_server.url, prefix="rk")
    with own_server.client() as admin:
        session, record, _ = _session("alice")
        admin.script_flush()
        await store.create_session(session, record)
        admin.script_flush()
        result = await store.consume(_request(record, now=T0))
        assert result.outcome is ConsumeOutcome.ROTATED
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
    sessions = [_session("alice") for _ in range(6)]
    for session, record, _ in sessions:
        store.create_session(session, record)
    _flush_scripts(redis_cluster)
    assert store.consume(_request(sessions[0][1], now=T0)).outcome is ConsumeOutcome.ROTATED
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
    session, record, _ = _session("alice")
    store.create_session(session, record)
    key = store.keys.session(session.sid)
    slot, source_port = _node_of(redis_cluster, cluster_client, key)
    target_port = next(n.port for n in redis_cluster.nodes if n.port != source_port)
    source_id, target_id = _node_id(source_port), _node_id(target_port)
    source = redis.Redis(host="127.0.0.1", port=source_port)
    target = redis.Redis(host="127.0.0.1", port=target_port)
    current, now = record, T0

    def refresh() -> None:
        nonlocal current, now
        now += timedelta(minutes=1)
        result = store.consume(_request(current, now=now))
        assert result.outcome is ConsumeOutcome.ROTATED
        assert result.issued is not None
        current = result.issued

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
    stored = store.get_session(session.sid)
    assert stored is not None and stored.generation == 3
    assert stored.current_token_id == current.token_id
    for ancestor in (record,):
        state = store.find(ancestor.token_id)
        assert state is not None and state.record.consumed_at is not None


@pytest.mark.cluster
def test_a_killed_cluster_node_gives_store_errors_and_its_replacement_serves_again() -> None:
    cluster = Cluster(masters=3)
    cluster.start()
    try:
        store = RedisStore(cluster.url, prefix="rk", **FAIL_FAST)
        session, record, _ = _session("alice")
        store.create_session(session, record)
        key = store.keys.session(session.sid)
        owner = next(n for n in cluster.nodes if n.port == store.client.get_node_from_key(key).port)
        owner.stop()
        with pytest.raises(errors.StoreError):
            store.consume(_request(record, now=T0))
        with pytest.raises(errors.StoreError):
            store.get_session(session.sid)
        owner.start()  # same port and nodes.conf: it rejoins owning its slots, data gone
        wait_until(cluster.is_ok, "the replaced node to rejoin")
        # The session was on the lost node only (no replica, no AOF): it is gone, not corrupt.
        fresh = RedisStore(cluster.url, prefix="rk", **FAIL_FAST)
        assert fresh.get_session(session.sid) is None
        again, again_record, _ = _session("alice")
        fresh.create_session(again, again_record)
        assert fresh.consume(_request(again_record, now=T0)).outcome is ConsumeOutcome.ROTATED
        fresh.close()
        store.close()
    finally:
        cluster.stop()
