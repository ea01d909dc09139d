"""Shared pieces of the SQL race tests, importable by spawned worker processes."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from refreshkit import FrozenClock, KeySet, Settings, TokenManager
from refreshkit.backends.sql import SQLStore
from refreshkit.errors import TokenError

T0 = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
#: When the racers present their tokens: within the window of nothing yet.
RACE_AT = T0 + timedelta(minutes=1)
RETRY_WINDOW = timedelta(seconds=30)
#: The racers of one round: 16 threads, or 4 processes x 4 threads.
RACERS = 16


def racing_manager(store: SQLStore, retry: bool, at: datetime = RACE_AT) -> TokenManager:
    """A manager on ``store`` at ``at``: with the retry window, or strict rotation."""
    window = RETRY_WINDOW if retry else timedelta(0)
    return TokenManager(
        Settings(retry_window=window), keys=KeySet.generate(), store=store, clock=FrozenClock(at)
    )


def present(manager: TokenManager, token: str) -> tuple[str, str]:
    """Refresh ``token``: ``("ok", successor)`` or ``("error", error class name)``."""
    try:
        return ("ok", manager.refresh(token).refresh_token)
    except TokenError as error:
        return ("error", type(error).__name__)


def process_worker(
    url: str,
    prefix: str,
    tokens: Sequence[str],
    retry: bool,
    threads: int,
    barrier: Any,
    results: Any,
) -> None:
    """One racing process: ``threads`` threads present each round's token at the barrier.

    Puts ``[(round, kind, value), ...]`` on ``results``, where ``(kind,
    value)`` is what :func:`present` returned, or ``("crash", repr)`` for
    anything else (the parent fails the test).
    """
    store = SQLStore(url, table_prefix=prefix, engine_options={"pool_size": threads})
    manager = racing_manager(store, retry)
    lock = threading.Lock()
    found: list[tuple[int, str, str]] = []

    def racer(_: int) -> None:
        for index, token in enumerate(tokens):
            barrier.wait()
            try:
                kind, value = present(manager, token)
            except Exception as error:  # reported to the parent, which fails the test
                kind, value = "crash", repr(error)
            with lock:
                found.append((index, kind, value))

    try:
        store.get_session("0" * 32)  # connect before the first barrier
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(racer, range(threads)))
    finally:
        store.close()
        results.put(found)
