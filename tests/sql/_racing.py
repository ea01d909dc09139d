"""Shared pieces of the SQL race tests, importable by spawned worker processes."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from refreshkit import _tokens
from refreshkit.backends.sql import SQLStore
from refreshkit.models import ConsumeRequest, NewToken, RefreshRecord

T0 = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
RETRY_WINDOW = timedelta(seconds=30)
#: The racers of one round: 16 threads, or 4 processes x 4 threads.
RACERS = 16


def race_request(record: RefreshRecord, *, now: datetime, retry: bool) -> ConsumeRequest:
    """A rotating refresh of ``record`` with its own successor (sealed: opaque to stores)."""
    _, token_id, secret_hash = _tokens.new_refresh_token(record.sid)
    return ConsumeRequest(
        token_id=record.token_id,
        secret_hash=record.secret_hash,
        now=now,
        idle_expires_at=now + timedelta(days=1),
        successor=NewToken(token_id, secret_hash),
        retry_since=now - RETRY_WINDOW if retry else None,
        sealed_successor=f"sealed:{token_id}",
    )


def process_worker(
    url: str,
    prefix: str,
    records: Sequence[RefreshRecord],
    retry: bool,
    threads: int,
    barrier: Any,
    results: Any,
) -> None:
    """One racing process: ``threads`` threads consume each round's token at the barrier.

    Puts ``[(round, outcome, issued_token_id_or_None, sealed_successor_or_None,
    error_repr_or_None), ...]`` on ``results``.
    """
    store = SQLStore(url, table_prefix=prefix, engine_options={"pool_size": threads})
    lock = threading.Lock()
    found: list[tuple[int, str, str | None, str | None, str | None]] = []

    def racer(_: int) -> None:
        for index, record in enumerate(records):
            request = race_request(record, now=T0 + timedelta(minutes=1), retry=retry)
            barrier.wait()
            try:
                result = store.consume(request)
            except Exception as error:  # reported to the parent, which fails the test
                with lock:
                    found.append((index, "error", None, None, repr(error)))
                continue
            issued = result.issued.token_id if result.issued is not None else None
            sealed = result.session.sealed_successor if result.session is not None else None
            with lock:
                found.append((index, result.outcome.value, issued, sealed, None))

    try:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(racer, range(threads)))
    finally:
        store.close()
        results.put(found)
