"""Rigs for the lost-reply tests: a manager whose store can lose one reply, on every backend.

A :class:`Rig` is a real manager (sync, or async driven through
:class:`tests._managers.Blocking`) on a real store, plus ``arm(token)``,
which loses the reply to the next refresh of ``token`` after the store
committed it, and ``peek(sid)``, which reads the session as stored through
a second, direct connection (so a test can show the rotation really
happened although its reply never arrived).

Networked stores talk to their server through a :class:`LossyProxy`; the
cluster through one proxy per node, with redis-py's ``address_remap``.
SQLite has no socket: its rig wraps the store in
:class:`refreshkit.testing.LostReplyStore`. Every rig uses its own key or
table prefix, so concurrent runs never share state.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.retry
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from refreshkit import (
    AsyncTokenManager,
    Event,
    EventHooks,
    FrozenClock,
    KeySet,
    Settings,
    TokenManager,
    _tokens,
)
from refreshkit.backends.memory import AsyncMemoryStore, MemoryStore
from refreshkit.backends.memory._state import MemoryState
from refreshkit.backends.redis import AsyncRedisStore, RedisStore
from refreshkit.backends.sql import AsyncSQLStore, SQLStore
from refreshkit.models import Session
from refreshkit.testing import AsyncLostReplyStore, LostReplyStore
from tests._managers import Blocking
from tests.redis.servers import Cluster
from tests.services import (
    MARIADB_HOST,
    MARIADB_PORT,
    POSTGRES_HOST,
    POSTGRES_PORT,
    REDIS_HOST,
    REDIS_PORT,
    require_binary,
    require_port,
)

from ._racing import StoreSpec
from .proxy import LossyProxy, Trap, any_reply, postgres_ready, redis_noscript

#: Direct URLs of the shared databases (the proxied ones swap in the proxy's port).
POSTGRES_URL = "postgresql+{driver}://postgres@127.0.0.1:{port}/test"
MARIADB_URL = "mysql+{driver}://root@127.0.0.1:{port}/test"


def selector_of(refresh_token: str) -> bytes:
    """The random part of a refresh token's id: every store sends it when it consumes the token.

    (Redis sends the id without its session prefix; SQL sends the whole id.)
    """
    token_id, _ = _tokens.parse_refresh_token(refresh_token)
    return token_id[len(_tokens.session_id_of(token_id)) :].encode()


def token_id_of(refresh_token: str) -> str:
    return _tokens.parse_refresh_token(refresh_token)[0]


@dataclass
class Rig:
    """A manager on a store whose next reply can be lost, and a direct view of the store."""

    manager: Any
    clock: FrozenClock
    arm: Callable[[str], None]
    fired: Callable[[], bool]
    peek: Callable[[str], Session | None]
    events: list[Event] = field(default_factory=list)

    def named(self, name: str) -> list[Event]:
        return [event for event in self.events if event.name == name]


@dataclass
class Parts:
    """A backend's lossy store, how to arm it, whether it fired, and the direct view."""

    store: Any
    arm: Callable[[str], None]
    fired: Callable[[], bool]
    peek: Callable[[str], Session | None]


def _proxy(stack: ExitStack, host: str, port: int) -> LossyProxy:
    return stack.enter_context(LossyProxy(host, port))


def _proxy_parts(
    proxies: list[LossyProxy], store: Any, direct: Any, trap: Callable[[str], Trap]
) -> Parts:
    def arm(token: str) -> None:
        for proxy in proxies:
            proxy.arm(trap(token))

    def fired() -> bool:
        hit = any(proxy.fired.is_set() for proxy in proxies)
        for proxy in proxies:
            proxy.disarm()
        return hit

    return Parts(store, arm, fired, direct.get_session)


def redis_trap(token: str) -> Trap:
    # The reply to the script's run is lost; a NOSCRIPT answer is let through (the store re-sends).
    return Trap(selector_of(token), complete=any_reply, spare=redis_noscript)


def _delete_prefix(client: redis.Redis | RedisCluster, prefix: str) -> None:
    for key in list(client.scan_iter(match=f"{prefix}:*", count=1000)):
        client.delete(key)


def _direct_redis(stack: ExitStack, client: redis.Redis | RedisCluster, prefix: str) -> RedisStore:
    stack.callback(client.close)
    stack.callback(_delete_prefix, client, prefix)
    return RedisStore(client, prefix=prefix)


#: No client-side retries: redis-py would otherwise re-send the lost script on its own.
def _no_retry() -> Retry:
    return Retry(NoBackoff(), 0)


def _redis(stack: ExitStack, runner: asyncio.Runner | None) -> Parts:
    require_port("Redis", REDIS_HOST, REDIS_PORT)
    prefix = f"rklost{secrets.token_hex(5)}"
    proxy = _proxy(stack, REDIS_HOST, REDIS_PORT)
    direct = _direct_redis(stack, redis.Redis(REDIS_HOST, REDIS_PORT, socket_timeout=5), prefix)
    store: Any
    if runner is None:
        client = redis.Redis(proxy.host, proxy.port, socket_timeout=5, retry=_no_retry())
        stack.callback(client.close)
        store = RedisStore(client, prefix=prefix)
    else:
        aclient = redis.asyncio.Redis(
            host=proxy.host,
            port=proxy.port,
            socket_timeout=5,
            retry=redis.asyncio.retry.Retry(NoBackoff(), 0),
        )
        stack.callback(lambda: runner.run(aclient.aclose()))
        store = AsyncRedisStore(aclient, prefix=prefix)
    return _proxy_parts([proxy], store, direct, redis_trap)


def _cluster(stack: ExitStack, runner: asyncio.Runner | None, cluster: Cluster) -> Parts:
    prefix = f"rklost{secrets.token_hex(5)}"
    proxies = {node.port: _proxy(stack, "127.0.0.1", node.port) for node in cluster.nodes}

    def remap(address: tuple[str, int]) -> tuple[str, int]:
        host, port = address
        proxy = proxies.get(int(port))
        return (proxy.host, proxy.port) if proxy is not None else (host, port)

    first = cluster.nodes[0].port
    direct = _direct_redis(stack, RedisCluster("127.0.0.1", first, socket_timeout=5), prefix)
    store: Any
    if runner is None:
        client = RedisCluster(
            host=proxies[first].host,
            port=proxies[first].port,
            address_remap=remap,
            socket_timeout=5,
            retry=_no_retry(),
        )
        stack.callback(client.close)
        store = RedisStore(client, prefix=prefix)
    else:
        aclient = redis.asyncio.cluster.RedisCluster(
            host=proxies[first].host,
            port=proxies[first].port,
            address_remap=remap,
            socket_timeout=5,
            retry=redis.asyncio.retry.Retry(NoBackoff(), 0),
        )
        stack.callback(lambda: runner.run(aclient.aclose()))
        store = AsyncRedisStore(aclient, prefix=prefix)
    return _proxy_parts(list(proxies.values()), store, direct, redis_trap)


@pytest.fixture(scope="session")
def lost_reply_cluster() -> Iterator[Cluster]:
    """A 3-master Redis Cluster on free loopback ports, for the cluster rigs of this package."""
    require_binary("redis-server")
    require_binary("redis-cli")
    cluster = Cluster(masters=3)
    cluster.start()
    yield cluster
    cluster.stop()


def _sql_tables(stack: ExitStack, url: str) -> str:
    """Create this rig's tables at ``url`` (direct), drop them afterwards; the prefix."""
    prefix = f"rklost_{uuid.uuid4().hex[:10]}_"
    admin = SQLStore(url, table_prefix=prefix)
    admin.create_tables()
    stack.callback(admin.close)
    stack.callback(admin.drop_tables)
    return prefix


def _sql(dialect: str, driver: str) -> Callable[[ExitStack, asyncio.Runner | None], Parts]:
    postgres = dialect == "postgresql"
    host, port = (POSTGRES_HOST, POSTGRES_PORT) if postgres else (MARIADB_HOST, MARIADB_PORT)
    template = POSTGRES_URL if postgres else MARIADB_URL
    sync_driver = "psycopg" if postgres else "pymysql"

    def trap(token: str) -> Trap:
        if postgres:
            # One autocommit statement rotates: lose its reply once ReadyForQuery says it committed.
            return Trap(selector_of(token), complete=postgres_ready)
        # A transaction: lose the acknowledgement of the COMMIT that follows the token's read.
        return Trap(b"COMMIT", after=selector_of(token), complete=any_reply)

    def build(stack: ExitStack, runner: asyncio.Runner | None) -> Parts:
        require_port("PostgreSQL" if postgres else "MariaDB", host, port)
        direct_url = template.format(driver=sync_driver, port=port)
        prefix = _sql_tables(stack, direct_url)
        direct = SQLStore(direct_url, table_prefix=prefix)
        stack.callback(direct.close)
        proxy = _proxy(stack, host, port)
        url = template.format(driver=driver, port=proxy.port)
        store: Any
        if runner is None:
            store = SQLStore(url, table_prefix=prefix)
            stack.callback(store.close)
        else:
            store = AsyncSQLStore(url, table_prefix=prefix)
            stack.callback(lambda: runner.run(store.aclose()))
        return _proxy_parts([proxy], store, direct, trap)

    return build


def _sqlite(stack: ExitStack, runner: asyncio.Runner | None, directory: Path) -> Parts:
    path = directory / f"lost-{uuid.uuid4().hex[:8]}.db"
    direct = SQLStore(f"sqlite:///{path}")
    stack.callback(direct.close)
    direct.create_tables()
    if runner is None:
        inner = SQLStore(f"sqlite:///{path}")
        stack.callback(inner.close)
        return _wrapped(LostReplyStore(inner, lose=0), direct.get_session)
    ainner = AsyncSQLStore(f"sqlite+aiosqlite:///{path}")
    stack.callback(lambda: runner.run(ainner.aclose()))
    return _wrapped(AsyncLostReplyStore(ainner, lose=0), direct.get_session)


def _memory(runner: asyncio.Runner | None) -> Parts:
    """The memory store in the wrapper: the lost-reply scenario with no I/O at all."""
    state = MemoryState()
    direct = MemoryStore(state)
    if runner is None:
        return _wrapped(LostReplyStore(MemoryStore(state), lose=0), direct.get_session)
    return _wrapped(AsyncLostReplyStore(AsyncMemoryStore(state), lose=0), direct.get_session)


def _wrapped(
    lossy: LostReplyStore | AsyncLostReplyStore, peek: Callable[[str], Session | None]
) -> Parts:
    before = [0]

    def arm(_: str) -> None:
        before[0] = len(lossy.lost)
        lossy.lose(1)

    def fired() -> bool:
        hit = len(lossy.lost) > before[0]
        lossy.lose(0)
        return hit

    return Parts(lossy, arm, fired, peek)


#: Every backend the lost-reply tests run on, with the marker its tox env selects.
BACKENDS = [
    pytest.param(("redis", False), marks=pytest.mark.redis, id="redis"),
    pytest.param(("redis", True), marks=pytest.mark.redis, id="redis-async"),
    pytest.param(("cluster", False), marks=[pytest.mark.redis, pytest.mark.cluster], id="cluster"),
    pytest.param(
        ("cluster", True), marks=[pytest.mark.redis, pytest.mark.cluster], id="cluster-async"
    ),
    pytest.param(("postgres", False), marks=pytest.mark.postgres, id="postgres-psycopg"),
    pytest.param(("postgres", True), marks=pytest.mark.postgres, id="postgres-asyncpg"),
    pytest.param(("mariadb", False), marks=pytest.mark.mariadb, id="mariadb-pymysql"),
    pytest.param(("mariadb", True), marks=pytest.mark.mariadb, id="mariadb-aiomysql"),
    pytest.param(("sqlite", False), marks=pytest.mark.sqlite, id="sqlite"),
    pytest.param(("sqlite", True), marks=pytest.mark.sqlite, id="sqlite-aiosqlite"),
    pytest.param(("memory", False), id="memory"),
    pytest.param(("memory", True), id="memory-async"),
]


def _parts(
    request: pytest.FixtureRequest,
    name: str,
    stack: ExitStack,
    runner: asyncio.Runner | None,
    directory: Path,
) -> Parts:
    asynchronous = runner is not None
    if name == "redis":
        return _redis(stack, runner)
    if name == "cluster":
        return _cluster(stack, runner, request.getfixturevalue("lost_reply_cluster"))
    if name == "postgres":
        return _sql("postgresql", "asyncpg" if asynchronous else "psycopg")(stack, runner)
    if name == "mariadb":
        return _sql("mysql", "aiomysql" if asynchronous else "pymysql")(stack, runner)
    if name == "memory":
        return _memory(runner)
    return _sqlite(stack, runner, directory)


MakeRig = Callable[..., Rig]


@pytest.fixture(params=BACKENDS)
def make_rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeRig]:
    """``make_rig(**settings)``: a manager on this backend's lossy store (built once per test)."""
    name, asynchronous = request.param
    with ExitStack() as stack:
        runner = asyncio.Runner() if asynchronous else None
        if runner is not None:
            stack.callback(runner.close)
        parts = _parts(request, name, stack, runner, tmp_path)
        keys = KeySet.generate()

        def make(**settings: Any) -> Rig:
            clock, hooks = FrozenClock(), EventHooks()
            options = Settings.from_mapping(settings)
            manager: Any
            if runner is None:
                manager = TokenManager(
                    options, keys=keys, store=parts.store, clock=clock, hooks=hooks
                )
            else:
                manager = Blocking(
                    AsyncTokenManager(
                        options, keys=keys, store=parts.store, clock=clock, hooks=hooks
                    ),
                    runner,
                )
            rig = Rig(manager, clock, parts.arm, parts.fired, parts.peek)
            hooks.on(None, rig.events.append)
            return rig

        yield make


#: The stores several processes share, for the race tests.
SHARED = [
    pytest.param("sqlite", marks=pytest.mark.sqlite, id="sqlite-file"),
    pytest.param("postgres", marks=pytest.mark.postgres, id="postgres"),
    pytest.param("mariadb", marks=pytest.mark.mariadb, id="mariadb"),
    pytest.param("redis", marks=pytest.mark.redis, id="redis"),
    pytest.param("cluster", marks=[pytest.mark.redis, pytest.mark.cluster], id="cluster"),
]


@pytest.fixture(params=SHARED)
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreSpec]:
    """A store (this run's tables or keys only) that threads and processes can all open."""
    kind: str = request.param
    with ExitStack() as stack:
        if kind in ("redis", "cluster"):
            prefix = f"rklost{secrets.token_hex(5)}"
            if kind == "redis":
                require_port("Redis", REDIS_HOST, REDIS_PORT)
                url = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
                _direct_redis(stack, redis.Redis(REDIS_HOST, REDIS_PORT), prefix)
            else:
                cluster: Cluster = request.getfixturevalue("lost_reply_cluster")
                url = cluster.url
                port = cluster.nodes[0].port
                _direct_redis(stack, RedisCluster("127.0.0.1", port), prefix)
            yield StoreSpec("redis", url, prefix)
            return
        if kind == "sqlite":
            url = f"sqlite:///{tmp_path / 'shared.db'}"
        elif kind == "postgres":
            require_port("PostgreSQL", POSTGRES_HOST, POSTGRES_PORT)
            url = POSTGRES_URL.format(driver="psycopg", port=POSTGRES_PORT)
        else:
            require_port("MariaDB", MARIADB_HOST, MARIADB_PORT)
            url = MARIADB_URL.format(driver="pymysql", port=MARIADB_PORT)
        yield StoreSpec("sql", url, _sql_tables(stack, url))
