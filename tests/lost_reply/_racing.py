"""Racing refreshes of one token, for the thread and process tests (spawned workers import it)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from refreshkit import KeySet, Settings, TokenManager
from refreshkit.backends.base import TokenStore
from refreshkit.backends.redis import RedisStore
from refreshkit.backends.sql import SQLStore
from refreshkit.config import parse_duration

#: Bounded wait of every racer at the start line.
START_TIMEOUT = 60.0


@dataclass(frozen=True)
class StoreSpec:
    """How to open one shared store, in this process or a spawned one."""

    kind: str  # "sql" or "redis" (a redis+cluster:// URL is a cluster)
    url: str
    prefix: str

    def open(self) -> TokenStore:
        if self.kind == "sql":
            return SQLStore(self.url, table_prefix=self.prefix)
        return RedisStore(self.url, prefix=self.prefix, socket_timeout=10)


#: One racer's answer: ("ok", the refresh token it got) or (the error's class name, None).
Answer = tuple[str, str | None]


def refresh_once(manager: TokenManager, token: str) -> Answer:
    try:
        return "ok", manager.refresh(token).refresh_token
    except Exception as error:  # the test asserts on the class name
        return type(error).__name__, None


def race_threads(manager: TokenManager, token: str, racers: int) -> list[Answer]:
    """``racers`` threads present ``token`` at once (released by one barrier)."""
    start = threading.Barrier(racers)

    def racer(_: int) -> Answer:
        start.wait(timeout=START_TIMEOUT)
        return refresh_once(manager, token)

    with ThreadPoolExecutor(racers) as pool:
        return list(pool.map(racer, range(racers)))


def process_worker(
    spec: StoreSpec,
    rounds: Sequence[tuple[str, str]],
    barrier: Any,
    results: Any,
) -> None:
    """One racing process: for each ``(retry_window, token)`` round, wait at ``barrier``, refresh.

    Puts ``[(round, outcome, refresh_token_or_None), ...]`` on ``results``.
    """
    store = spec.open()
    managers = {
        window: TokenManager(
            Settings(retry_window=parse_duration(window)), keys=KeySet.generate(), store=store
        )
        for window in {window for window, _ in rounds}
    }
    found: list[tuple[int, str, str | None]] = []
    try:
        for index, (window, token) in enumerate(rounds):
            barrier.wait()
            outcome, issued = refresh_once(managers[window], token)
            found.append((index, outcome, issued))
    finally:
        store.close()
        results.put(found)
