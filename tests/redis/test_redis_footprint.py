"""What one session costs: memory on the server and commands per operation.

Measured on a private redis-server so other clients of the shared one cannot
disturb the counts. The figures are in docs/backends/redis.rst (Memory).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from refreshkit import Settings, TokenManager, _policy
from refreshkit._async.conformance import T0, _session
from refreshkit.backends.redis import RedisStore
from refreshkit.clock import FrozenClock

from .servers import RedisServer, free_port

pytestmark = [pytest.mark.redis]

#: The budget per live session: its hash plus its subject-index entry.
MEMORY_BUDGET = 1024
#: Every field a session refreshed with rotation, a device, a scope and claims has.
ROTATED_FIELDS = set("ucialtkgeTKojxyzdpm")


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


def _delta(admin: redis.Redis, operation: Callable[[], object]) -> dict[str, int]:
    before = _commands(admin)
    operation()
    after = _commands(admin)
    changed = {name: after[name] - before.get(name, 0) for name in after}
    return {name: n for name, n in changed.items() if n and name != "info"}


def _footprint(admin: redis.Redis) -> int:
    return sum(int(admin.memory_usage(key, samples=0) or 0) for key in admin.scan_iter("rk:*"))


def _manager(store: RedisStore) -> tuple[TokenManager, FrozenClock]:
    clock = FrozenClock(T0)
    return TokenManager(Settings(secret_key="s" * 32), store=store, clock=clock), clock


@pytest.mark.parametrize("refreshes", [1, 16, 1000])
def test_a_live_session_fits_in_one_kibibyte_however_often_it_is_refreshed(
    server: RedisServer, refreshes: int
) -> None:
    """Rotation with the default retry window, a device, a scope and two claims."""
    with server.client() as admin:
        store = RedisStore(admin, prefix="rk")
        manager, clock = _manager(store)
        pair = manager.issue(
            "alice@example.com",
            device="phone-1234",
            scope="read write",
            claims={"role": "admin", "tenant": "acme"},
        )
        token = pair.refresh_token
        for _ in range(refreshes):
            clock.advance(timedelta(minutes=15))
            token = manager.refresh(token, device="phone-1234").refresh_token
        stored = store.get_session(pair.sid)
        assert stored is not None and stored.generation == refreshes
        keys = list(admin.scan_iter(match="rk:*"))
        assert len(keys) == 2  # the session hash and the subject index
        session_key = store.keys.session(pair.sid)
        assert {f.decode() for f in admin.hkeys(session_key)} == ROTATED_FIELDS
        assert {admin.object("encoding", key) for key in keys} == {b"listpack"}
        used = _footprint(admin)
        hash_bytes = admin.memory_usage(session_key, samples=0)
        print(f"after {refreshes} refreshes: {used} bytes, hash {hash_bytes}")  # for the docs
        assert used <= MEMORY_BUDGET, used


def test_the_memory_of_a_session_stops_growing_after_its_first_rotation(
    server: RedisServer,
) -> None:
    with server.client() as admin:
        store = RedisStore(admin, prefix="rk")
        manager, clock = _manager(store)
        pair = manager.issue("alice@example.com", device="phone", claims={"role": "admin"})
        token, sizes = pair.refresh_token, []
        for _ in range(50):
            clock.advance(timedelta(minutes=15))
            token = manager.refresh(token, device="phone").refresh_token
            sizes.append(_footprint(admin))
        assert max(sizes) - min(sizes) <= 16, sizes  # digits of the generation, at most


def test_each_common_operation_is_one_round_trip(server: RedisServer) -> None:
    """Per-session writes are one EVALSHA (the commands inside it are counted too)."""
    with server.client() as admin:
        store = RedisStore(admin, prefix="rk")
        manager, clock = _manager(store)
        warm = manager.issue("warm")  # the first calls load the scripts
        manager.refresh(warm.refresh_token)
        manager.revoke_session(warm.sid)
        store.deny_access("warm", T0)
        session = _session("alice")
        script = {"evalsha": 1}

        created = _delta(admin, lambda: store.create_session(session))
        assert created == script | {
            "zremrangebyscore": 1,
            "zadd": 1,
            "zrange": 1,
            "pexpireat": 2,
            "del": 1,
            "hset": 1,
        }
        pair = manager.issue("bob")
        clock.advance(timedelta(minutes=1))
        refreshed: list[str] = []
        rotation = _delta(
            admin, lambda: refreshed.append(manager.refresh(pair.refresh_token).refresh_token)
        )
        assert rotation == script | {"hgetall": 1, "hset": 1, "pexpireat": 1}
        # A retry within the window writes nothing: the script only reads.
        clock.advance(timedelta(seconds=1))
        replay = _delta(admin, lambda: manager.refresh(pair.refresh_token))
        assert replay == script | {"hgetall": 1}
        onward = _delta(admin, lambda: manager.refresh(refreshed[0]))
        assert onward == rotation
        revocation = _policy.revocation(pair.sid, clock.now(), "logout")
        revoked = _delta(admin, lambda: store.compare_and_set(revocation))
        assert revoked == script | {"hgetall": 1, "hset": 1, "pexpireat": 1}
        assert _delta(admin, lambda: store.get_session(session.sid)) == {"hmget": 1}
        # Two commands, pipelined into one round trip.
        checked = _delta(admin, lambda: store.check_access("j", session.sid, T0))
        assert checked == {"get": 1, "hmget": 1}
        denied = _delta(admin, lambda: store.deny_access("j", T0 + timedelta(minutes=5)))
        assert denied == script | {"get": 1, "set": 1, "pexpireat": 1}


def test_rotation_off_is_one_round_trip_with_an_increment_inside(server: RedisServer) -> None:
    with server.client() as admin:
        store = RedisStore(admin, prefix="rk")
        clock = FrozenClock(T0)
        manager = TokenManager(
            Settings(secret_key="s" * 32, rotation=False, max_uses=5), store=store, clock=clock
        )
        pair = manager.issue("alice")
        manager.refresh(pair.refresh_token)  # loads the script
        used = _delta(admin, lambda: manager.refresh(pair.refresh_token))
        assert used == {"evalsha": 1, "hgetall": 1, "hset": 1, "pexpireat": 1}
        stored = store.get_session(pair.sid)
        assert stored is not None and stored.use_count == 2
