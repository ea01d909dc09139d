"""Purging one million expired sessions from PostgreSQL, in bounded batches.

Fills tables under a random prefix with expired sessions (one refresh token
each) straight in SQL (``INSERT ... SELECT generate_series``), runs
``purge_expired`` and prints the total time and the longest single batch,
which on PostgreSQL is one autocommit statement: the longest any row lock is
held. The tables are dropped afterwards. Not part of the test run.

    python -m benchmarks.sql_purge [--url postgresql+psycopg://postgres@127.0.0.1:5432/test]
                                   [--sessions 1000000] [--batch-size 1000]
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from refreshkit.backends.sql import SQLStore

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def fill(store: SQLStore, count: int, expired_at: datetime) -> float:
    """Insert ``count`` expired sessions (one row each); returns the seconds it took."""
    sessions = store.tables.sessions.name
    at = micros(expired_at)
    started = time.perf_counter()
    with store.engine.begin() as connection:
        connection.exec_driver_sql(
            f"INSERT INTO {sessions} (sid, subject, created_at, idle_expires_at,"
            " absolute_expires_at, expires_at, last_used_at, current_token_id,"
            " current_secret_hash, generation, use_count, claims)"
            " SELECT md5(i::text), 'user' || (i %% 50000), %(at)s - 86400000000, %(at)s,"
            " %(at)s + 86400000000, %(at)s - (i %% 1000), %(at)s,"
            " md5(i::text) || substr(md5('t' || i), 1, 16), md5('s' || i) || md5('h' || i),"
            " 0, 0, '{}'"
            " FROM generate_series(1, %(count)s) AS i",
            {"at": at, "count": count},
        )
        connection.exec_driver_sql(f"ANALYZE {sessions}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()

    prefix = f"bench_{uuid.uuid4().hex[:8]}_"
    store = SQLStore(args.url, table_prefix=prefix)
    batches: list[float] = []
    began: dict[int, float] = {}

    def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        began[id(cursor)] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().startswith("WITH doomed"):
            batches.append(time.perf_counter() - began.pop(id(cursor)))

    store.create_tables()
    try:
        now = datetime.now(UTC)
        filled = fill(store, args.sessions, now - timedelta(days=1))
        print(f"filled {args.sessions:,} expired sessions in {filled:.1f} s")
        sa.event.listen(store.engine, "before_cursor_execute", before)
        sa.event.listen(store.engine, "after_cursor_execute", after)
        started = time.perf_counter()
        deleted = store.purge_expired(now, batch_size=args.batch_size)
        total = time.perf_counter() - started
        print(f"purged {deleted:,} sessions in {total:.2f} s ({deleted / total:,.0f} sessions/s)")
        median = sorted(batches)[len(batches) // 2]
        print(
            f"{len(batches)} batches of {args.batch_size}: longest lock hold (one batch) "
            f"{max(batches) * 1000:.1f} ms, median {median * 1000:.1f} ms"
        )
    finally:
        store.drop_tables()
        store.close()


if __name__ == "__main__":
    main()
