"""The stores the rows run on: refreshkit's store and the baseline's, side by side.

Each opener yields an :class:`Opened` (sync) or :class:`AsyncOpened`: both
stores on the same server (the SQL ones on one shared engine), a round-trip
counter, and a cleanup that drops every table and key the run created. A
server that does not answer makes the opener raise :class:`Unavailable`.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from refreshkit.backends.memory import AsyncMemoryStore, MemoryStore

from ._trips import RedisTrips, SQLTrips, commandstats
from .baselines.memory_store import AsyncMemoryTokens, MemoryTokens

POSTGRES = ("postgresql+psycopg", "postgresql+asyncpg", "postgres@127.0.0.1:5432/test")
MARIADB = ("mysql+pymysql", "mysql+aiomysql", "root@127.0.0.1:3306/test")
REDIS_URL = "redis://127.0.0.1:6379/0"


class Unavailable(Exception):
    """The server a row needs is not running; the row is skipped, saying so."""


@dataclass
class Opened:
    """Both stores of one backend, and how to count their round trips."""

    store: Any
    baseline: Any
    trips: Any = None
    server_stats: Callable[[], dict[str, int]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _reachable(host: str, port: int) -> None:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError as error:
        raise Unavailable(f"nothing listens on {host}:{port}") from error


def _prefix() -> str:
    return f"rkb{secrets.token_hex(3)}_"


# ------------------------------------------------------------------- memory


@contextlib.contextmanager
def memory() -> Iterator[Opened]:
    yield Opened(MemoryStore(), MemoryTokens())


@contextlib.asynccontextmanager
async def memory_async() -> AsyncIterator[Opened]:
    yield Opened(AsyncMemoryStore(), AsyncMemoryTokens())


# ---------------------------------------------------------------------- SQL


def _sql_url(kind: str, flavour: int, directory: str | None) -> str:
    if kind == "sqlite":
        return f"{('sqlite', 'sqlite+aiosqlite')[flavour]}:///{directory}/bench.db"
    driver = (POSTGRES if kind == "postgres" else MARIADB)[flavour]
    where = (POSTGRES if kind == "postgres" else MARIADB)[2]
    host, port = where.split("@")[1].split("/")[0].split(":")
    _reachable(host, int(port))
    return f"{driver}://{where}"


@contextlib.contextmanager
def sql(kind: str) -> Iterator[Opened]:
    """SQLite (WAL, a file in a temporary directory), PostgreSQL or MariaDB."""
    from refreshkit.backends.sql import SQLStore

    from .baselines.sql_store import SQLTokens

    with tempfile.TemporaryDirectory(prefix="rkbench-") as directory:
        prefix = _prefix()
        store = SQLStore(_sql_url(kind, 0, directory), table_prefix=prefix, create_tables=True)
        store.create_tables()
        baseline = SQLTokens(store.engine, f"{prefix}bl_")
        try:
            yield Opened(store, baseline, SQLTrips(store.engine), extra={"url": kind})
        finally:
            baseline.drop()
            store.drop_tables()
            store.engine.dispose()


@contextlib.asynccontextmanager
async def sql_async(kind: str) -> AsyncIterator[Opened]:
    from refreshkit.backends.sql import AsyncSQLStore

    from .baselines.sql_store import AsyncSQLTokens

    with tempfile.TemporaryDirectory(prefix="rkbench-") as directory:
        prefix = _prefix()
        store = AsyncSQLStore(_sql_url(kind, 1, directory), table_prefix=prefix, create_tables=True)
        await store.create_tables()
        baseline = AsyncSQLTokens(store.engine, f"{prefix}bl_")
        await baseline.prepare()
        try:
            yield Opened(store, baseline, SQLTrips(store.engine))
        finally:
            await baseline.drop()
            await store.drop_tables()
            await store.engine.dispose()


# -------------------------------------------------------------------- Redis


def _redis_cleanup(client: Any, prefix: str) -> None:
    batch: list[Any] = []
    for key in client.scan_iter(match=f"{prefix.rstrip('_')}*", count=5000):
        batch.append(key)
        if len(batch) >= 5000:
            client.unlink(*batch)
            batch.clear()
    if batch:
        client.unlink(*batch)


@contextlib.contextmanager
def redis_standalone(url: str = REDIS_URL) -> Iterator[Opened]:
    import redis

    from refreshkit.backends.redis import RedisStore

    from .baselines.redis_store import RedisTokens

    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as error:
        raise Unavailable(f"Redis at {url}: {error}") from error
    prefix = _prefix()
    try:
        yield Opened(
            RedisStore(client, prefix=prefix.rstrip("_")),
            RedisTokens(client, f"{prefix}bl"),
            RedisTrips(),
            lambda: commandstats(client),
            extra={"client": client, "prefix": prefix},
        )
    finally:
        _redis_cleanup(client, prefix)
        client.close()


@contextlib.asynccontextmanager
async def redis_standalone_async(url: str = REDIS_URL) -> AsyncIterator[Opened]:
    import redis.asyncio

    from refreshkit.backends.redis import AsyncRedisStore

    from .baselines.redis_store import AsyncRedisTokens

    client = redis.asyncio.Redis.from_url(url)
    try:
        await client.ping()
    except Exception as error:
        raise Unavailable(f"Redis at {url}: {error}") from error
    prefix = _prefix()
    try:
        yield Opened(
            AsyncRedisStore(client, prefix=prefix.rstrip("_")),
            AsyncRedisTokens(client, f"{prefix}bl"),
            RedisTrips(),
        )
    finally:
        async for key in client.scan_iter(match=f"{prefix.rstrip('_')}*", count=1000):
            await client.delete(key)
        await client.aclose()


class LocalCluster:
    """A 3-primary Redis Cluster on free loopback ports (the tests' helper)."""

    def __init__(self) -> None:
        self._cluster: Any = None

    def start(self) -> list[tuple[str, int]]:
        if self._cluster is None:
            try:
                from tests.redis.servers import Cluster
            except ImportError as error:
                raise Unavailable("run from the repository root to start a cluster") from error
            cluster = Cluster()
            try:
                cluster.start()
            except Exception as error:
                raise Unavailable(f"could not start a Redis Cluster: {error}") from error
            self._cluster = cluster
        return [("127.0.0.1", node.port) for node in self._cluster.nodes]

    def stop(self) -> None:
        if self._cluster is not None:
            self._cluster.stop()
            self._cluster = None


CLUSTER = LocalCluster()


@contextlib.contextmanager
def redis_cluster() -> Iterator[Opened]:
    from redis.cluster import ClusterNode, RedisCluster

    from refreshkit.backends.redis import RedisStore

    from .baselines.redis_store import RedisTokens

    nodes = [ClusterNode(host, port) for host, port in CLUSTER.start()]
    client = RedisCluster(startup_nodes=nodes)
    prefix = _prefix()
    try:
        yield Opened(
            RedisStore(client, prefix=prefix.rstrip("_")),
            RedisTokens(client, f"{prefix}bl"),
            RedisTrips(),
            lambda: commandstats(client),
        )
    finally:
        client.close()


@contextlib.asynccontextmanager
async def redis_cluster_async() -> AsyncIterator[Opened]:
    from redis.asyncio.cluster import ClusterNode, RedisCluster

    from refreshkit.backends.redis import AsyncRedisStore

    from .baselines.redis_store import AsyncRedisTokens

    nodes = [ClusterNode(host, port) for host, port in CLUSTER.start()]
    client = RedisCluster(startup_nodes=nodes)
    prefix = _prefix()
    try:
        yield Opened(
            AsyncRedisStore(client, prefix=prefix.rstrip("_")),
            AsyncRedisTokens(client, f"{prefix}bl"),
            RedisTrips(),
        )
    finally:
        await client.aclose()
