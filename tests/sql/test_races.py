"""Racing refreshes of one token on real databases: one rotation, never two successors.

Each round starts a session, then 16 racing threads present its token at the
same instant, released by a barrier. On the store, of 16 compare-and-sets
that check the same token exactly one applies, and every other reports the
winner's session. Through the manager, within the retry window every racer
gets the SAME successor (the family never forks); with strict rotation one
racer gets a pair and the rest revoke the session. Hand-written, not
generated; ``test_races_processes.py`` does the same across processes.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from refreshkit import _policy, _tokens
from refreshkit.backends.sql import SQLStore
from refreshkit.config import Settings
from refreshkit.models import UpdateResult

from ._racing import RACE_AT, RACERS, T0, present, racing_manager
from .conftest import Database

#: Rounds per test: every round is a fresh 16-way collision on one token, so
#: 50-100 rounds exercise the contention well while keeping each race file
#: under a minute on an idle two-core machine.
ROUNDS = {"store": 100, "manager": 50, "processes": 30}
PROCESSES = 4

pytestmark = pytest.mark.slow


@pytest.fixture
def store(database: Database) -> Iterator[SQLStore]:
    store = SQLStore(
        database.url, table_prefix=database.prefix, engine_options={"pool_size": RACERS}
    )
    yield store
    store.close()


def start_sessions(store: SQLStore, rounds: int) -> list[tuple[str, str]]:
    """``rounds`` sessions logged in at T0: ``(sid, refresh token)`` each."""
    manager = racing_manager(store, retry=True, at=T0)
    started = []
    for _ in range(rounds):
        pair = manager.issue("racer")
        started.append((pair.sid, pair.refresh_token))
    return started


def assert_round(
    store: SQLStore, sid: str, token: str, outcomes: Sequence[tuple[str, str]], retry: bool
) -> None:
    """One round through the manager obeyed the rules, and left the session as they say."""
    assert not [o for o in outcomes if o[0] == "crash"], outcomes
    successors = {value for kind, value in outcomes if kind == "ok"}
    assert len(successors) == 1 and token not in successors, outcomes
    (successor,) = successors
    stored = store.get_session(sid)
    assert stored is not None and stored.generation == 1
    assert stored.current_token_id == _tokens.parse_refresh_token(successor)[0]
    assert stored.previous_token_id == _tokens.parse_refresh_token(token)[0]
    if retry:
        assert [kind for kind, _ in outcomes] == ["ok"] * RACERS, outcomes
        assert stored.revoked_at is None
    else:
        refused = Counter(value for kind, value in outcomes if kind == "error")
        assert sum(refused.values()) == RACERS - 1, outcomes
        assert set(refused) <= {"TokenReuseError", "RevokedTokenError"}, outcomes
        assert refused["TokenReuseError"] >= 1
        assert stored.revoked_reason == "reuse"


def test_racing_compare_and_sets_of_one_token_apply_exactly_once(store: SQLStore) -> None:
    settings = Settings()
    with ThreadPoolExecutor(RACERS) as pool:
        for sid, token in start_sessions(store, ROUNDS["store"]):
            barrier = threading.Barrier(RACERS, timeout=60)
            attempts = [
                _policy.refresh_attempt(token, RACE_AT, settings, device=None)
                for _ in range(RACERS)
            ]

            def apply(
                attempt: _policy.RefreshAttempt, barrier: threading.Barrier = barrier
            ) -> tuple[UpdateResult, str | None]:
                barrier.wait()
                return store.compare_and_set(attempt.update), attempt.successor_id

            results = list(pool.map(apply, attempts))
            winners = [successor for result, successor in results if result.applied]
            assert len(winners) == 1, results
            stored = store.get_session(sid)
            assert stored is not None and stored.current_token_id == winners[0]
            assert stored.generation == 1 and stored.use_count == 0
            # Every loser was shown the winner's session: what it needs to replay.
            assert all(result.session == stored for result, _ in results), results


@pytest.mark.parametrize("retry", [True, False], ids=["retry-window", "strict"])
def test_threads_presenting_one_token_through_the_manager(store: SQLStore, retry: bool) -> None:
    manager = racing_manager(store, retry)
    with ThreadPoolExecutor(RACERS) as pool:
        for sid, token in start_sessions(store, ROUNDS["manager"]):
            barrier = threading.Barrier(RACERS, timeout=60)

            def refresh(
                _: int, token: str = token, barrier: threading.Barrier = barrier
            ) -> tuple[str, str]:
                barrier.wait()
                return present(manager, token)

            assert_round(store, sid, token, list(pool.map(refresh, range(RACERS))), retry)
