"""Racing refreshes of one token from 4 processes of 4 threads each, on real databases.

The same rules as ``test_races.py``, across process boundaries: a
multiprocessing barrier releases all 16 racers of a round at once, each
presenting the token through its own process's manager. And the shared
:class:`~refreshkit.testing.ProcessRaceConformance` (8 processes, one token)
on every database.
"""

from __future__ import annotations

import multiprocessing

import pytest

from refreshkit.backends.sql import SQLStore
from refreshkit.testing import ProcessRaceConformance

from ._racing import RACERS, process_worker
from .conftest import Database
from .test_races import PROCESSES, ROUNDS, assert_round, start_sessions, store

__all__ = ["store"]

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("retry", [True, False], ids=["retry-window", "strict"])
def test_processes_presenting_one_token_through_their_managers(
    store: SQLStore, database: Database, retry: bool
) -> None:
    started = start_sessions(store, ROUNDS["processes"])
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(RACERS, timeout=120)
    results = context.Queue()
    tokens = [token for _, token in started]
    workers = [
        context.Process(
            target=process_worker,
            args=(
                database.url,
                database.prefix,
                tokens,
                retry,
                RACERS // PROCESSES,
                barrier,
                results,
            ),
        )
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    reported = [results.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    by_round: dict[int, list[tuple[str, str]]] = {i: [] for i in range(len(started))}
    for found in reported:
        for index, kind, value in found:
            by_round[index].append((kind, value))
    for index, (sid, token) in enumerate(started):
        assert len(by_round[index]) == RACERS
        assert_round(store, sid, token, by_round[index], retry)


class TestProcessRaceConformance(ProcessRaceConformance):
    @pytest.fixture
    def store_url(self, database: Database) -> str:
        separator = "&" if "?" in database.url else "?"
        return f"{database.url}{separator}prefix={database.prefix}"
