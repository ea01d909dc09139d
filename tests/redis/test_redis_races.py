"""Many clients presenting one refresh token at the same instant (hand-written, not generated).

16 threads behind a barrier (sync) and 200 tasks under ``gather`` (async),
on standalone Redis and on the cluster. At the store: of racing
compare-and-sets that check the same token, exactly one applies. Through the
manager: exactly one rotates; within the retry window every other one gets
the SAME successor (the family never forks); without it every other one is
reuse and the session is revoked.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from refreshkit import AsyncTokenManager, FrozenClock, KeySet, Settings, TokenManager, errors
from refreshkit._async.conformance import T0
from refreshkit._policy import refresh_attempt
from refreshkit.backends.redis import AsyncRedisStore, RedisStore
from refreshkit.models import Session, SessionUpdate, UpdateResult

pytestmark = [pytest.mark.redis, pytest.mark.slow]

ROUNDS = 30
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


def _settings(redis_url: str, window: bool) -> Settings:
    return Settings.from_mapping(
        {"retry_window": WINDOW if window else timedelta(0), "store_url": redis_url}
    )


def _assert_exactly_one_applied(results: list[UpdateResult], stored: Session | None) -> None:
    applied = [r for r in results if r.applied]
    assert len(applied) == 1, [r.applied for r in results]
    assert stored is not None and stored == applied[0].session and stored.generation == 1
    for result in results:
        if not result.applied:  # every loser saw the winner's write, never a half of it
            assert result.session == stored


def test_threads_racing_compare_and_sets_on_one_token_apply_exactly_one(
    sync_store: RedisStore,
) -> None:
    settings = Settings(secret_key="s" * 32)
    for _ in range(ROUNDS):
        manager = TokenManager(settings, store=sync_store, clock=FrozenClock(T0))
        pair = manager.issue("alice")
        updates = [
            refresh_attempt(pair.refresh_token, T0, settings, device=None).update
            for _ in range(THREADS)
        ]
        barrier = threading.Barrier(THREADS, timeout=30)

        def apply(
            index: int,
            barrier: threading.Barrier = barrier,
            updates: list[SessionUpdate] = updates,
        ) -> UpdateResult:
            barrier.wait()
            return sync_store.compare_and_set(updates[index])

        with ThreadPoolExecutor(THREADS) as pool:
            results = list(pool.map(apply, range(THREADS)))
        _assert_exactly_one_applied(results, sync_store.get_session(pair.sid))


async def test_tasks_racing_compare_and_sets_on_one_token_apply_exactly_one(
    async_store: AsyncRedisStore,
) -> None:
    settings = Settings(secret_key="s" * 32)
    for _ in range(ROUNDS):
        manager = AsyncTokenManager(settings, store=async_store, clock=FrozenClock(T0))
        pair = await manager.issue("alice")
        updates = [
            refresh_attempt(pair.refresh_token, T0, settings, device=None).update
            for _ in range(TASKS)
        ]
        results = await asyncio.gather(*(async_store.compare_and_set(u) for u in updates))
        _assert_exactly_one_applied(list(results), await async_store.get_session(pair.sid))


def test_manager_refreshes_racing_within_the_window_all_get_the_same_successor(
    sync_store: RedisStore, redis_url: str
) -> None:
    manager = TokenManager(
        _settings(redis_url, window=True),
        keys=KeySet.generate(),
        store=sync_store,
        clock=FrozenClock(),
    )
    for _ in range(ROUNDS):
        pair = manager.issue("alice")
        barrier = threading.Barrier(THREADS, timeout=30)

        def refresh(
            _: int, token: str = pair.refresh_token, barrier: threading.Barrier = barrier
        ) -> str:
            barrier.wait()
            return manager.refresh(token).refresh_token

        with ThreadPoolExecutor(THREADS) as pool:
            tokens = list(pool.map(refresh, range(THREADS)))
        assert len(set(tokens)) == 1 and pair.refresh_token not in tokens  # one successor
        stored = sync_store.get_session(pair.sid)
        assert stored is not None and not stored.revoked and stored.generation == 1
        assert manager.refresh(tokens[0]).sid == pair.sid  # and it is the live one


async def test_manager_refreshes_racing_within_the_window_as_tasks_get_one_successor(
    async_store: AsyncRedisStore, redis_url: str
) -> None:
    manager = AsyncTokenManager(
        _settings(redis_url, window=True),
        keys=KeySet.generate(),
        store=async_store,
        clock=FrozenClock(),
    )
    for _ in range(5):
        pair = await manager.issue("alice")
        pairs = await asyncio.gather(*(manager.refresh(pair.refresh_token) for _ in range(TASKS)))
        assert len({p.refresh_token for p in pairs}) == 1
        stored = await async_store.get_session(pair.sid)
        assert stored is not None and not stored.revoked and stored.generation == 1


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
        assert all(
            isinstance(e, errors.TokenReuseError | errors.RevokedTokenError) for e in refused
        ), refused[:3]
        stored = await async_store.get_session(pair.sid)
        assert stored is not None and stored.revoked and stored.generation == 1
