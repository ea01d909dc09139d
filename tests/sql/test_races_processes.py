"""Racing refreshes of one token from 4 processes of 4 threads each, on real databases.

The same rules as ``test_races.py``, across process boundaries: a
multiprocessing barrier releases all 16 racers of a round at once.
"""

from __future__ import annotations

import multiprocessing

import pytest

from refreshkit.backends.sql import SQLStore

from ._racing import RACERS, process_worker
from .conftest import Database
from .test_races import PROCESSES, ROUNDS, _assert_round, _start_sessions, store

__all__ = ["store"]

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("retry", [False, True], ids=["strict", "retry"])
def test_processes_racing_on_one_token_rotate_it_exactly_once(
    store: SQLStore, database: Database, retry: bool
) -> None:
    rounds = ROUNDS["processes-retry" if retry else "processes"]
    records = _start_sessions(store, rounds)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(RACERS, timeout=120)
    results = context.Queue()
    threads = RACERS // PROCESSES
    workers = [
        context.Process(
            target=process_worker,
            args=(database.url, database.prefix, records, retry, threads, barrier, results),
        )
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    reported = [results.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    by_round: dict[int, list[tuple[str, str | None, str | None]]] = {i: [] for i in range(rounds)}
    for found in reported:
        for index, outcome, issued, sealed, error in found:
            assert error is None, error
            by_round[index].append((outcome, issued, sealed))
    for index, record in enumerate(records):
        assert len(by_round[index]) == RACERS
        _assert_round(store, record, by_round[index], retry)
