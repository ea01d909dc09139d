"""Racing refreshes of one token on real databases: never two successors.

Each round starts a session, then 16 racers (threads, or 4 processes of 4
threads) consume its token at the same instant, released by a barrier.
Exactly one rotates; in strict mode the rest are refused, and within a retry
window the rest are retries, replayed without a write (the family never
forks). Afterwards the session is exactly what the rules say. Hand-written,
not generated.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa

from refreshkit import FrozenClock, KeySet, Settings, TokenManager, errors
from refreshkit._async.conformance import _session
from refreshkit.backends.sql import SQLStore
from refreshkit.models import ConsumeOutcome, RefreshRecord

from ._racing import RACERS, T0, race_request
from .conftest import Database

#: Rounds per test: every round is a fresh 16-way collision on one token, so
#: 50-100 rounds exercise the contention well; enough to keep each race file
#: under a minute on an idle two-core machine.
ROUNDS = {"threads": 100, "threads-retry": 50, "processes": 50, "processes-retry": 50}
PROCESSES = 4

pytestmark = pytest.mark.slow


@pytest.fixture
def store(database: Database) -> Iterator[SQLStore]:
    store = SQLStore(
        database.url, table_prefix=database.prefix, engine_options={"pool_size": RACERS}
    )
    yield store
    store.close()


def _start_sessions(store: SQLStore, rounds: int) -> list[RefreshRecord]:
    records = []
    for _ in range(rounds):
        session, record, _ = _session("racer", at=T0)
        store.create_session(session, record)
        records.append(record)
    return records


def _assert_round(
    store: SQLStore,
    record: RefreshRecord,
    outcomes: Sequence[tuple[str, str | None, str | None]],
    retry: bool,
) -> None:
    """One round obeyed the rules, and the session is what they leave behind.

    ``outcomes`` are ``(outcome, issued token id, sealed successor reported)``.
    """
    counts = Counter(outcome for outcome, _, _ in outcomes)
    assert "error" not in counts, outcomes
    rotated = ConsumeOutcome.ROTATED.value
    others = ConsumeOutcome.REPLAYED if retry else ConsumeOutcome.REJECTED
    assert counts == {rotated: 1, others.value: RACERS - 1}
    issued = [token_id for _, token_id, _ in outcomes if token_id is not None]
    assert len(issued) == 1
    original = store.find(record.token_id)
    assert original is not None and original.record.consumed_at is not None
    assert original.record.use_count == 1
    session = original.session
    assert session.revoked_at is None
    assert session.generation == 1
    assert session.current_token_id == issued[0]
    # The winner's sealed successor is stored, and every retry reported it.
    assert session.sealed_successor == f"sealed:{issued[0]}"
    if retry:
        replays = {sealed for outcome, _, sealed in outcomes if outcome == others.value}
        assert replays == {session.sealed_successor}
    tokens = store.tables.records
    with store.engine.connect() as connection:
        stored = connection.execute(
            sa.select(tokens.c.token_id, tokens.c.generation).where(
                tokens.c.parent_id == record.token_id
            )
        ).all()
    assert sorted(stored) == [(issued[0], 1)]


@pytest.mark.parametrize("retry", [False, True], ids=["strict", "retry"])
def test_threads_racing_on_one_token_rotate_it_exactly_once(store: SQLStore, retry: bool) -> None:
    records = _start_sessions(store, ROUNDS["threads-retry" if retry else "threads"])
    now = T0 + timedelta(minutes=1)
    with ThreadPoolExecutor(RACERS) as pool:
        for record in records:
            barrier = threading.Barrier(RACERS, timeout=60)
            requests = [race_request(record, now=now, retry=retry) for _ in range(RACERS)]

            def consume(
                request: object, barrier: threading.Barrier = barrier
            ) -> tuple[str, str | None, str | None]:
                barrier.wait()
                result = store.consume(request)  # type: ignore[arg-type]
                return (
                    result.outcome.value,
                    result.issued.token_id if result.issued else None,
                    result.session.sealed_successor if result.session else None,
                )

            outcomes = list(pool.map(consume, requests))
            _assert_round(store, record, outcomes, retry)


def _manager(store: SQLStore, retry_window: timedelta) -> TokenManager:
    return TokenManager(
        Settings.from_mapping({"retry_window": retry_window, "store_url": "memory://"}),
        keys=KeySet.generate(),
        store=store,
        clock=FrozenClock(T0),
    )


def test_manager_refreshes_racing_within_the_retry_window_all_get_the_same_refresh_token(
    store: SQLStore,
) -> None:
    manager = _manager(store, timedelta(seconds=30))
    with ThreadPoolExecutor(RACERS) as pool:
        for _ in range(20):
            pair = manager.issue("alice")
            barrier = threading.Barrier(RACERS, timeout=60)

            def refresh(
                _: int, token: str = pair.refresh_token, barrier: threading.Barrier = barrier
            ) -> str:
                barrier.wait()
                return manager.refresh(token).refresh_token

            tokens = set(pool.map(refresh, range(RACERS)))
            assert len(tokens) == 1
            stored = store.get_session(pair.sid)
            assert stored is not None and not stored.revoked and stored.generation == 1
            assert manager.refresh(tokens.pop()).refresh_token != pair.refresh_token


def test_manager_refreshes_racing_in_strict_mode_yield_one_pair_and_revoke(
    store: SQLStore,
) -> None:
    manager = TokenManager(
        Settings.from_mapping({"retry_window": timedelta(0), "store_url": "memory://"}),
        keys=KeySet.generate(),
        store=store,
        clock=FrozenClock(T0),
    )
    with ThreadPoolExecutor(RACERS) as pool:
        for _ in range(20):
            pair = manager.issue("alice")
            barrier = threading.Barrier(RACERS, timeout=60)

            def refresh(
                _: int, token: str = pair.refresh_token, barrier: threading.Barrier = barrier
            ) -> object:
                barrier.wait()
                try:
                    return manager.refresh(token)
                except errors.TokenError as error:
                    return error

            outcomes = list(pool.map(refresh, range(RACERS)))
            refused = [o for o in outcomes if isinstance(o, errors.TokenError)]
            assert len(outcomes) - len(refused) == 1
            assert all(isinstance(e, errors.RevokedTokenError) for e in refused), refused[:3]
            assert any(isinstance(e, errors.TokenReuseError) for e in refused)
            stored = store.get_session(pair.sid)
            assert stored is not None and stored.revoked and stored.revoked_reason == "reuse"
            assert stored.generation == 1
