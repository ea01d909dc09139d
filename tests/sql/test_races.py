"""Racing refreshes of one token on real databases: never two successors outside grace.

Each round starts a session, then 16 racers (threads, or 4 processes of 4
threads) consume its token at the same instant, released by a barrier.
Without grace exactly one rotates and the rest are refused; with grace and
enough grace reuses all succeed, as siblings of one generation. Afterwards
the session is exactly what the rules say. Hand-written, not generated.
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
ROUNDS = {"threads": 100, "threads-grace": 50, "processes": 50, "processes-grace": 50}
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
    outcomes: Sequence[tuple[str, str | None]],
    grace: bool,
) -> None:
    """One round obeyed the rules, and the session is what they leave behind."""
    counts = Counter(outcome for outcome, _ in outcomes)
    assert "error" not in counts, outcomes
    rotated = ConsumeOutcome.ROTATED.value
    if grace:
        assert counts == {rotated: 1, ConsumeOutcome.GRACE_REISSUED.value: RACERS - 1}
    else:
        assert counts == {rotated: 1, ConsumeOutcome.REJECTED.value: RACERS - 1}
    issued = [token_id for _, token_id in outcomes if token_id is not None]
    assert len(set(issued)) == len(issued) == (RACERS if grace else 1)
    original = store.find(record.token_id)
    assert original is not None and original.record.consumed_at is not None
    assert original.record.use_count == len(issued)
    session = original.session
    assert session.revoked_at is None
    assert session.generation == 1
    assert session.grace_reuses == (RACERS - 1 if grace else 0)
    assert session.current_token_id in issued
    tokens = store.tables.records
    with store.engine.connect() as connection:
        stored = connection.execute(
            sa.select(tokens.c.token_id, tokens.c.generation).where(
                tokens.c.parent_id == record.token_id
            )
        ).all()
    assert sorted(stored) == sorted((token_id, 1) for token_id in issued)


@pytest.mark.parametrize("grace", [False, True], ids=["no-grace", "grace"])
def test_threads_racing_on_one_token_rotate_it_exactly_once(store: SQLStore, grace: bool) -> None:
    records = _start_sessions(store, ROUNDS["threads-grace" if grace else "threads"])
    now = T0 + timedelta(minutes=1)
    with ThreadPoolExecutor(RACERS) as pool:
        for record in records:
            barrier = threading.Barrier(RACERS, timeout=60)
            requests = [race_request(record, now=now, grace=grace) for _ in range(RACERS)]

            def consume(
                request: object, barrier: threading.Barrier = barrier
            ) -> tuple[str, str | None]:
                barrier.wait()
                result = store.consume(request)  # type: ignore[arg-type]
                return result.outcome.value, result.issued.token_id if result.issued else None

            outcomes = list(pool.map(consume, requests))
            _assert_round(store, record, outcomes, grace)


def test_manager_refreshes_racing_without_grace_yield_one_pair_and_revoke(
    store: SQLStore,
) -> None:
    manager = TokenManager(
        Settings.from_mapping({"reuse_grace": timedelta(0), "store_url": "memory://"}),
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
