"""What one session costs: memory on the server and commands per operation.

Measured on a private redis-server so other clients of the shared one cannot
disturb the counts.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from refreshkit._async.conformance import T0, _request, _session
from refreshkit.backends.redis import RedisStore

from .servers import RedisServer, free_port

pytestmark = [pytest.mark.redis]

#: The issue's budget per live session: its hash plus its subject-index entry.
MEMORY_BUDGET = 1024
#: Measured on Redis 7.0 (MEMORY USAGE rounds to allocator size classes), after 0, 1, 2, 3 and
#: 16 refreshes: 496, 880, 1008, 1264 and 3312 bytes (and 3312 after 1000). The sealed
#: successor costs ~170 bytes from the first rotation on; each retired record ~190 until the
#: history of 16 is full.
OVER_BUDGET = (
    "over the 1 KiB budget: the sealed successor (~170 B) and the retired records (~190 B "
    "each, up to 16) are not bounded yet (issue 12 part 3)"
)
#: The budget for a session that has filled its history of 16 retired records (~190 B each).
HISTORY_BUDGET = MEMORY_BUDGET + 16 * 192


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with tempfile.TemporaryDirectory(prefix="refreshkit-redis-") as directory:
        server = RedisServer(free_port(), Path(directory))
        server.start()
        yield server
        server.stop()


def _commands(admin: redis.Redis) -> dict[str, int]:
    stats = admin.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def _delta(admin: redis.Redis, operation: object) -> dict[str, int]:
    assert callable(operation)
    before = _commands(admin)
    operation()
    after = _commands(admin)
    changed = {name: after[name] - before.get(name, 0) for name in after}
    return {name: n for name, n in changed.items() if n and name != "info"}


@pytest.mark.parametrize(
    "refreshes",
    [
        0,
        1,
        2,
        pytest.param(3, marks=pytest.mark.xfail(strict=True, reason=OVER_BUDGET)),
        pytest.param(16, marks=pytest.mark.xfail(strict=True, reason=OVER_BUDGET)),
    ],
)
def test_a_live_session_fits_in_one_kibibyte(server: RedisServer, refreshes: int) -> None:
    """Its hash (every record, the sealed successor) and its subject index, in listpacks."""
    with server.client() as admin:
        store = RedisStore(admin, prefix="rk")
        session, record, _ = _session("alice@example.com", claims={"role": "admin"})
        store.create_session(session, record)
        current = record
        for minute in range(1, refreshes + 1):
            result = store.consume(_request(current, now=T0 + timedelta(minutes=minute)))
            assert result.issued is not None
            current = result.issued
        stored = store.get_session(session.sid)
        assert stored is not None and (stored.sealed_successor is not None) == (refreshes > 0)
        keys = list(admin.scan_iter(match="rk:*"))
        assert len(keys) == 2  # the session hash (all its records inside) and the index
        assert {admin.object("encoding", key) for key in keys} == {b"listpack"}
        used = _footprint(admin)
        assert used <= MEMORY_BUDGET, used


def _footprint(admin: redis.Redis) -> int:
    return sum(int(admin.memory_usage(key, samples=0) or 0) for key in admin.scan_iter("rk:*"))


def test_a_session_refreshed_100_times_stays_within_its_history_bound(
    server: RedisServer,
) -> None:
    """Only the newest 16 retired records stay: the memory stops growing once they are there."""
    with server.client() as admin:
        store = RedisStore(admin, prefix="rk")
        assert store.history == 16
        session, record, _ = _session("alice@example.com", claims={"role": "admin"})
        store.create_session(session, record)
        current, after_20 = record, 0
        for refresh in range(1, 101):
            result = store.consume(_request(current, now=T0 + refresh * timedelta(minutes=15)))
            assert result.issued is not None
            current = result.issued
            if refresh == 20:
                after_20 = _footprint(admin)
        after_100 = _footprint(admin)
        assert after_100 <= HISTORY_BUDGET, after_100
        assert after_100 - after_20 <= 64, (after_20, after_100)  # digits of counters, at most
        keys = list(admin.scan_iter(match="rk:*"))
        assert {admin.object("encoding", key) for key in keys} == {b"listpack"}


def test_each_per_session_operation_is_one_round_trip(server: RedisServer) -> None:
    """Per-session writes are one EVALSHA (the commands inside it are counted too)."""
    with server.client() as admin:
        store = RedisStore(admin, prefix="rk")
        warm, warm_record, _ = _session("alice")
        store.create_session(warm, warm_record)  # the first calls load the scripts
        store.consume(_request(warm_record, now=T0))
        store.revoke_session(warm.sid, T0, "logout")
        session, record, _ = _session("alice")
        script = {"evalsha": 1}
        created = _delta(admin, lambda: store.create_session(session, record))
        assert created == script | {
            "zremrangebyscore": 1,
            "zadd": 1,
            "zrange": 1,
            "pexpireat": 2,
            "del": 1,
            "hset": 1,
        }
        consumed = _delta(admin, lambda: store.consume(_request(record, now=T0)))
        assert consumed == script | {"hmget": 1, "hset": 1, "pexpireat": 1}
        # A retry writes nothing: the session and current record, then its own record.
        retry = _request(record, now=T0, retry=timedelta(seconds=30))
        replayed = _delta(admin, lambda: store.consume(retry))
        assert replayed == script | {"hmget": 2}
        revoked = _delta(admin, lambda: store.revoke_session(session.sid, T0, "x"))
        assert revoked == script | {"hmget": 1, "hset": 1}
        assert _delta(admin, lambda: store.find(record.token_id)) == {"hmget": 1}
        assert _delta(admin, lambda: store.get_session(session.sid)) == {"hmget": 1}
        # Two commands, pipelined into one round trip.
        checked = _delta(admin, lambda: store.check_access("j", session.sid, T0))
        assert checked == {"get": 1, "hmget": 1}


def test_a_rotation_that_drops_the_oldest_record_is_still_one_round_trip(
    server: RedisServer,
) -> None:
    with server.client() as admin:
        store = RedisStore(admin, prefix="rk", history=1)
        session, record, _ = _session("alice")
        store.create_session(session, record)
        first = store.consume(_request(record, now=T0)).issued  # fills the history of one
        assert first is not None
        pruned = _delta(admin, lambda: store.consume(_request(first, now=T0)))
        assert pruned == {"evalsha": 1, "hmget": 1, "hget": 1, "hdel": 1, "hset": 1, "pexpireat": 1}
        assert store.find(record.token_id) is None
        assert store.find(first.token_id) is not None
