"""Round trips per operation: client sends for Redis, statements for SQL.

Redis: every ``send_packed_command`` of redis-py (sync and asyncio) is one
round trip (a pipeline is one send); the server's ``INFO commandstats``
delta is shown beside it, with the commands scripts ran inside. SQL: every
statement SQLAlchemy sends plus every COMMIT; on PostgreSQL the BEGIN that
psycopg/asyncpg send before a transaction counts too (autocommit sends none).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

__all__ = ["RedisTrips", "SQLTrips", "commandstats"]


class SQLTrips:
    """Counts what an engine sends while :attr:`enabled`."""

    def __init__(self, engine: Any) -> None:
        sync_engine = engine.sync_engine if hasattr(engine, "sync_engine") else engine
        self.count = 0
        self.enabled = False
        self._postgres = sync_engine.dialect.name == "postgresql"
        sa.event.listen(sync_engine, "before_cursor_execute", self._statement)
        sa.event.listen(sync_engine, "commit", self._commit)
        sa.event.listen(sync_engine, "begin", self._begin)

    def _statement(self, *args: Any) -> None:
        if self.enabled:
            self.count += 1

    def _commit(self, conn: Any) -> None:
        if self.enabled:
            self.count += 1

    def _begin(self, conn: Any) -> None:
        if self.enabled and self._postgres:
            level = conn.get_execution_options().get("isolation_level")
            if level != "AUTOCOMMIT":
                self.count += 1

    @contextlib.contextmanager
    def counting(self) -> Iterator[None]:
        self.count, self.enabled = 0, True
        try:
            yield
        finally:
            self.enabled = False


class RedisTrips:
    """Counts redis-py sends (sync and asyncio) while inside :meth:`counting`."""

    def __init__(self) -> None:
        self.count = 0

    @contextlib.contextmanager
    def counting(self) -> Iterator[None]:
        import redis.asyncio.connection as async_connection
        import redis.connection as sync_connection

        self.count = 0
        patched = []
        for cls in (sync_connection.AbstractConnection, async_connection.AbstractConnection):
            original = cls.send_packed_command
            patched.append((cls, original))
            cls.send_packed_command = self._wrap(original)  # type: ignore[method-assign]
        try:
            yield
        finally:
            for cls, original in patched:
                cls.send_packed_command = original  # type: ignore[method-assign]

    def _wrap(self, original: Any) -> Any:
        counter = self

        def send(self: Any, *args: Any, **kwargs: Any) -> Any:
            counter.count += 1
            return original(self, *args, **kwargs)

        return send


def commandstats(client: Any) -> dict[str, int]:
    """Calls per command on the server (a cluster client sums its primaries).

    Also ``usec:<command>``: the server's CPU time in that command, in µs
    (a script's includes the commands it ran).
    """
    if hasattr(client, "get_primaries"):
        info = client.info("commandstats", target_nodes=client.PRIMARIES)
    else:
        info = client.info("commandstats")
    nodes = (
        list(info.values())
        if info and all(isinstance(v, dict) and "calls" not in v for v in info.values())
        else [info]
    )
    merged: dict[str, int] = {}
    for node in nodes:
        for name, stats in node.items():
            merged[name] = merged.get(name, 0) + int(stats["calls"])
            usec = f"usec:{name}"
            merged[usec] = merged.get(usec, 0) + int(stats.get("usec", 0))
    return merged


def commandstats_delta(before: dict[str, int], after: dict[str, int], ops: int) -> str:
    """``evalsha 1, hget 1 ...`` per operation, INFO itself left out, then script CPU.

    The script CPU is the server's time in EVALSHA/EVAL per operation (µs),
    inner commands included.
    """
    shown = []
    script_usec = 0
    for name, calls in sorted(after.items()):
        delta = calls - before.get(name, 0)
        if name.startswith("usec:"):
            if name.removeprefix("usec:cmdstat_") in {"evalsha", "eval"}:
                script_usec += delta
            continue
        short = name.removeprefix("cmdstat_")
        if delta and short not in {"info", "ping"}:
            shown.append(f"{short} {delta / ops:g}")
    if script_usec:
        shown.append(f"[script CPU {script_usec / ops:.1f} µs]")
    return ", ".join(shown)
