"""Scale rows: refresh latency as the store grows, purge of expired sessions, Redis memory.

Filler sessions are bulk-loaded (SQL ``INSERT ... SELECT`` over a generated
series, Redis ``RESTORE`` of one real session's dump, memory straight into
the store's dicts) because creating 10^6 sessions one by one would take
longer than the whole suite may. The refreshes measured are real ones, on
sessions created through the manager among the fillers. Each level's row
compares its latency with the smallest level's (target <= 1.20).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from refreshkit import KeySet, Settings, SigningKey, TokenManager
from refreshkit.models import Session

from . import stores
from ._harness import Config, Row

REFRESHES = 300
CHAINS = 32
SQL_CHUNK = 50_000
REDIS_CHUNK = 5_000
#: MariaDB's bulk insert runs at a few 10^4 rows/s on two cores: cap it so the suite stays short.
LEVEL_CAPS = {"MariaDB": 100_000}


def _levels(config: Config) -> list[int]:
    levels = [1_000, 10_000] if config.quick else [1_000, 100_000, 1_000_000]
    return [level for level in levels if level <= config.max_sessions]


def _latency(manager: TokenManager, chain: list[str], config: Config) -> list[float]:
    """Per-round median refresh latency over the chains (µs)."""
    samples = []
    for _ in range(3 if config.quick else 5):
        times = []
        for n in range(REFRESHES // (3 if config.quick else 1)):
            slot = n % len(chain)
            began = time.perf_counter()
            chain[slot] = manager.refresh(chain[slot]).refresh_token
            times.append(time.perf_counter() - began)
        samples.append(statistics.median(times) * 1e6)
    return samples


# ------------------------------------------------------------------ filling


def _fill_memory(store: Any, start: int, count: int) -> None:
    state = store.state
    now = datetime.now(UTC)
    idle, absolute = now + timedelta(days=14), now + timedelta(days=30)
    with state._lock:
        for n in range(start, start + count):
            sid = f"{n:032x}"
            state._sessions[sid] = Session(
                sid, f"filler{n}", now, idle, absolute, now, sid + "0" * 16, "0" * 64
            )
            state._sessions_of[f"filler{n}"] = {sid}


def _series(dialect: str, start: int, count: int) -> str:
    end = start + count - 1
    if dialect == "postgresql":
        return f"SELECT n FROM generate_series({start}, {end}) AS g(n)"
    if dialect == "mysql":
        return f"SELECT seq AS n FROM seq_{start}_to_{end}"
    return (
        f"WITH RECURSIVE g(n) AS (SELECT {start} UNION ALL SELECT n + 1 FROM g WHERE n < {end}) "
        "SELECT n FROM g"
    )


def _hex32(dialect: str) -> str:
    if dialect == "postgresql":
        return "lpad(to_hex(n), 32, '0')"
    if dialect == "mysql":
        return "LOWER(LPAD(HEX(n), 32, '0'))"
    return "printf('%032x', n)"


def _fill_sql(store: Any, start: int, count: int, *, expired: bool = False) -> None:
    engine = store.engine
    dialect = engine.dialect.name
    now = int(time.time() * 1e6)
    created = now - 40 * 86400 * 10**6 if expired else now
    idle = created + 14 * 86400 * 10**6
    absolute = created + 30 * 86400 * 10**6
    sessions = store.tables.sessions.name
    sid = _hex32(dialect)
    concat = (
        f"CONCAT({sid}, '0000000000000000')"
        if dialect == "mysql"
        else f"{sid} || '0000000000000000'"
    )
    with engine.begin() as conn:
        for chunk in range(start, start + count, SQL_CHUNK):
            size = min(SQL_CHUNK, start + count - chunk)
            series = _series(dialect, chunk, size)
            conn.exec_driver_sql(
                f"INSERT INTO {sessions} (sid, subject, created_at, idle_expires_at, "
                "absolute_expires_at, expires_at, last_used_at, current_token_id, "
                "current_secret_hash, generation, use_count, claims) "
                f"SELECT {sid}, {concat}, {created}, {idle}, {absolute}, {idle}, {created}, "
                f"{concat}, '{'0' * 64}', 0, 0, '{{}}' FROM ({series}) AS s"
            )


def _fill_redis(store: Any, client: Any, start: int, count: int, template: tuple[Any, Any]) -> None:
    session_dump, index_dump = template
    ttl = 14 * 86400 * 1000
    prefix = store.keys.prefix
    for chunk in range(start, start + count, REDIS_CHUNK):
        pipe = client.pipeline(transaction=False)
        for n in range(chunk, min(chunk + REDIS_CHUNK, start + count)):
            pipe.restore(f"{prefix}:{{{n:032x}}}:s", ttl, session_dump, replace=True)
            pipe.restore(f"{prefix}:{{u.{n:032x}}}:i", ttl, index_dump, replace=True)
        pipe.execute()


# --------------------------------------------------------------------- rows


def _grow_and_measure(
    name: str,
    manager: TokenManager,
    fill: Callable[[int, int], None],
    config: Config,
    after_fill: Callable[[int], dict[str, Any]] | None = None,
) -> Iterator[Row]:
    levels = [level for level in _levels(config) if level <= LEVEL_CAPS.get(name, 10**9)]
    chain = [manager.issue(f"scale{n}").refresh_token for n in range(CHAINS)]
    filled, first = CHAINS, None
    for level in levels:
        began = time.perf_counter()
        if level > filled:
            fill(filled, level - filled)
            filled = level
        fill_seconds = time.perf_counter() - began
        samples = _latency(manager, chain, config)
        latency = statistics.median(samples)
        first = first if first is not None else samples
        row = Row(
            "scale",
            f"{name} refresh @ {level:,} sessions",
            ours_us=latency,
            base_us=statistics.median(first),
            ratio=latency / statistics.median(first),
            ratio_min=min(samples) / statistics.median(first),
            ratio_max=max(samples) / statistics.median(first),
            target=1.20 if level != levels[0] else None,
            note=f"filled in {fill_seconds:.1f}s; baseline = latency @ {levels[0]:,}",
        )
        if after_fill is not None:
            row.extra.update(after_fill(level))
        yield row
    if levels[-1] < _levels(config)[-1]:
        yield Row(
            "scale", f"{name} refresh @ {_levels(config)[-1]:,}", note="capped: slow bulk load"
        )


def _manager(store: Any) -> TokenManager:
    return TokenManager(Settings(), keys=KeySet(SigningKey.generate("HS256")), store=store)


def rows(config: Config, only: Callable[[str], bool] = lambda name: True) -> Iterator[Row]:
    """Latency per level on each backend, purge on PostgreSQL, Redis memory per session."""
    if only("memory"):
        with stores.memory() as opened:
            manager = _manager(opened.store)
            yield from _grow_and_measure(
                "memory", manager, lambda a, n: _fill_memory(opened.store, a, n), config
            )
    for kind, name in (
        ("sqlite", "SQLite (WAL)"),
        ("postgres", "PostgreSQL"),
        ("mariadb", "MariaDB"),
    ):
        if not only(name):
            continue
        try:
            with stores.sql(kind) as opened:
                manager = _manager(opened.store)
                yield from _grow_and_measure(
                    name, manager, lambda a, n, s=opened.store: _fill_sql(s, a, n), config
                )
                if kind == "postgres":
                    yield _purge_row(opened.store, config)
        except stores.Unavailable as why:
            yield Row("scale", name, note=f"skipped: {why}")
    if only("Redis"):
        try:
            yield from _redis_rows(config)
        except stores.Unavailable as why:
            yield Row("scale", "Redis", note=f"skipped: {why}")


def _purge_row(store: Any, config: Config) -> Row:
    count = 10_000 if config.quick else config.max_sessions
    _fill_sql(store, 10**9, count, expired=True)
    began = time.perf_counter()
    deleted = store.purge_expired(datetime.now(UTC), 1000)
    seconds = time.perf_counter() - began
    return Row(
        "scale",
        f"PostgreSQL purge_expired over {count:,} expired",
        ours_us=seconds / max(deleted, 1) * 1e6,
        note=f"{deleted:,} sessions in {seconds:.1f}s ({deleted / seconds:,.0f}/s), batch 1000",
    )


def _redis_rows(config: Config) -> Iterator[Row]:
    with stores.redis_standalone() as opened:
        client, store = opened.extra["client"], opened.store
        manager = _manager(store)
        pair = manager.issue("template@example.com")
        template = (
            client.dump(store.keys.session(pair.sid)),
            client.dump(store.keys.subject_index("template@example.com")),
        )
        baseline_memory = int(client.info("memory")["used_memory"])
        state = {"sessions": CHAINS + 1}

        def memory_after(level: int) -> dict[str, Any]:
            used = int(client.info("memory")["used_memory"]) - baseline_memory
            return {"bytes_per_session": used / max(state["sessions"], 1)}

        def fill(start: int, count: int) -> None:
            _fill_redis(store, client, start, count, template)
            state["sessions"] += count

        measured = list(_grow_and_measure("Redis", manager, fill, config, memory_after))
        yield from measured
        per_session = measured[-1].extra["bytes_per_session"]
        one = _one_session_memory(client, manager, store)
        yield Row(
            "scale",
            "Redis memory per live session",
            ours_us=None,
            ratio=per_session / 1024,
            target=1.00,
            note=f"{per_session:.0f} B/session (used_memory delta over {state['sessions']:,}); "
            f"MEMORY USAGE of one session after 3 refreshes: {one} B; ratio = bytes/1024",
        )


def _one_session_memory(client: Any, manager: TokenManager, store: Any) -> int:
    pair = manager.issue("memory@example.com")
    token = pair.refresh_token
    for _ in range(3):
        token = manager.refresh(token).refresh_token
    keys = [store.keys.session(pair.sid), store.keys.subject_index("memory@example.com")]
    return sum(int(client.memory_usage(key, samples=0) or 0) for key in keys)
