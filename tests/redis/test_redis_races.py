"""Many clients consuming one refresh token at the same instant (hand-written, not generated).

16 threads behind a barrier (sync) and 200 tasks under ``gather`` (async),
50 rounds each, on standalone Redis and on the cluster: exactly one consume
rotates, always. Without a retry window every other one is refused; within
it every other one is a replay that writes nothing and reports the one
successor, sealed. The family never forks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from refreshkit import AsyncTokenManager, FrozenClock, KeySet, Settings, TokenManager, errors
from refreshkit._async.conformance import T0, _request, _session
from refreshkit.backends.redis import AsyncRedisStore, RedisStore
from refreshkit.models import (
    ConsumeOutcome,
    ConsumeRequest,
    ConsumeResult,
    RefreshRecord,
    Session,
)

pytestmark = [pytest.mark.redis, pytest.mark.slow]

ROUNDS = 50
THREADS = 16
TASKS = 200
WINDOW = timedelta(seconds=30)


@pytest.fixture(params=["standalone", pytest.param("cluster", marks=pytest.mark.cluster)])
def redis_url(request: pytest.FixtureRequest, key_prefix: str) -> str:
    """The shared standalone server or the test cluster; this test's keys deleted afterwards."""
    if request.param == "standalone":
        url: str = request.getfixturevalue("standalone_url")
        request.getfixturevalue("standalone_client")
    else:
        url = request.getfixturevalue("redis_cluster").url
        request.getfixturevalue("cluster_client")
    return url


@pytest.fixture
def sync_store(redis_url: str, key_prefix: str) -> Iterator[RedisStore]:
    store = RedisStore(redis_url, prefix=key_prefix, max_connections=64)
    yield store
    store.close()


@pytest.fixture
async def async_store(redis_url: str, key_prefix: str) -> AsyncIterator[AsyncRedisStore]:
    store = AsyncRedisStore(redis_url, prefix=key_prefix, max_connections=TASKS + 8)
    yield store
    await store.aclose()


def _racing_request(record: RefreshRecord, window: bool) -> ConsumeRequest:
    """A rotating request (its successor sealed, as the manager does) with or without a window."""
    request = _request(record, now=T0)
    assert request.successor is not None
    return dataclasses.replace(
        request,
        retry_since=T0 - WINDOW if window else None,
        sealed_successor=f"sealed:{request.successor.token_id}",
    )


def _assert_one_rotation(
    requests: list[ConsumeRequest], results: list[ConsumeResult], *, window: bool
) -> Session:
    """Exactly one rotated; every other one replayed it (window) or was refused (strict)."""
    outcomes = Counter(r.outcome for r in results)
    assert outcomes[ConsumeOutcome.ROTATED] == 1
    other = ConsumeOutcome.REPLAYED if window else ConsumeOutcome.REJECTED
    assert outcomes[other] == len(results) - 1
    assert [r.issued is not None for r in results].count(True) == 1
    winner = next(q for q, r in zip(requests, results, strict=True) if r.applied)
    for result in results:
        assert result.session is not None
        if result.outcome is ConsumeOutcome.REPLAYED:
            assert result.session.sealed_successor == winner.sealed_successor
            assert winner.successor is not None
            assert result.session.current_token_id == winner.successor.token_id
    rotated = next(r.session for r in results if r.applied)
    assert rotated is not None
    return rotated


def _consume_all_at_once(
    store: RedisStore, record: RefreshRecord, window: bool
) -> tuple[list[ConsumeRequest], list[Any]]:
    barrier = threading.Barrier(THREADS, timeout=30)
    requests = [_racing_request(record, window) for _ in range(THREADS)]

    def worker(request: ConsumeRequest) -> ConsumeResult:
        barrier.wait()
        return store.consume(request)

    with ThreadPoolExecutor(THREADS) as pool:
        return requests, list(pool.map(worker, requests))


@pytest.mark.parametrize("window", [False, True], ids=["strict", "retry_window"])
def test_threads_racing_on_one_token_rotate_it_exactly_once(
    sync_store: RedisStore, window: bool
) -> None:
    for _ in range(ROUNDS):
        session, record, _ = _session()
        sync_store.create_session(session, record)
        requests, results = _consume_all_at_once(sync_store, record, window)
        rotated = _assert_one_rotation(requests, results, window=window)
        stored = sync_store.get_session(session.sid)
        assert stored == rotated and stored.generation == 1


@pytest.mark.parametrize("window", [False, True], ids=["strict", "retry_window"])
async def test_tasks_racing_on_one_token_rotate_it_exactly_once(
    async_store: AsyncRedisStore, window: bool
) -> None:
    for _ in range(ROUNDS):
        session, record, _ = _session()
        await async_store.create_session(session, record)
        requests = [_racing_request(record, window) for _ in range(TASKS)]
        results = await asyncio.gather(*(async_store.consume(r) for r in requests))
        rotated = _assert_one_rotation(requests, list(results), window=window)
        stored = await async_store.get_session(session.sid)
        assert stored == rotated and stored.generation == 1


def _settings(redis_url: str, window: bool) -> Settings:
    return Settings.from_mapping(
        {"retry_window": WINDOW if window else timedelta(0), "store_url": redis_url}
    )


async def test_manager_refreshes_racing_without_a_window_yield_one_pair_and_revoke(
    async_store: AsyncRedisStore, redis_url: str
) -> None:
    manager = AsyncTokenManager(
        _settings(redis_url, window=False),
        keys=KeySet.generate(),
        store=async_store,
        clock=FrozenClock(),
    )
    for _ in range(5):
        pair = await manager.issue("alice")
        outcomes = await asyncio.gather(
            *(manager.refresh(pair.refresh_token) for _ in range(TASKS)), return_exceptions=True
        )
        pairs = [o for o in outcomes if not isinstance(o, BaseException)]
        refused = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(pairs) == 1
        assert all(isinstance(e, errors.RevokedTokenError) for e in refused), refused[:3]
        stored = await async_store.get_session(pair.sid)
        assert stored is not None and stored.revoked and stored.generation == 1


def test_manager_refreshes_racing_within_the_window_all_get_the_same_successor(
    sync_store: RedisStore, redis_url: str
) -> None:
    manager = TokenManager(
        _settings(redis_url, window=True),
        keys=KeySet.generate(),
        store=sync_store,
        clock=FrozenClock(),
    )
    for _ in range(5):
        pair = manager.issue("alice")
        barrier = threading.Barrier(THREADS, timeout=30)

        def refresh(
            _: int, token: str = pair.refresh_token, barrier: threading.Barrier = barrier
        ) -> str:
            barrier.wait()
            return manager.refresh(token).refresh_token

        with ThreadPoolExecutor(THREADS) as pool:
            tokens = list(pool.map(refresh, range(THREADS)))
        assert len(set(tokens)) == 1  # the family never forks
        stored = sync_store.get_session(pair.sid)
        assert stored is not None and not stored.revoked and stored.generation == 1
