"""Many clients consuming one refresh token at the same instant (hand-written, not generated).

16 threads behind a barrier (sync) and 200 tasks under ``gather`` (async),
50 rounds each, on standalone Redis and on the cluster: without grace exactly
one consume rotates; with enough grace every one succeeds, and still only
one of them rotates. Never two successors outside grace.
"""

from __future__ import annotations

import asyncio
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
from refreshkit.models import ConsumeOutcome, ConsumeResult, RefreshRecord

pytestmark = [pytest.mark.redis, pytest.mark.slow]

ROUNDS = 50
THREADS = 16
TASKS = 200
GRACE = timedelta(seconds=30)


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


def _assert_one_rotation(results: list[ConsumeResult], *, grace: bool) -> None:
    outcomes = Counter(r.outcome for r in results)
    assert outcomes[ConsumeOutcome.ROTATED] == 1
    if grace:
        assert outcomes[ConsumeOutcome.GRACE_REISSUED] == len(results) - 1
    else:
        assert outcomes[ConsumeOutcome.REJECTED] == len(results) - 1
    issued = [r.issued.token_id for r in results if r.issued is not None]
    assert len(set(issued)) == len(issued) == (len(results) if grace else 1)


def _consume_all_at_once(store: RedisStore, record: RefreshRecord, grace: bool) -> list[Any]:
    barrier = threading.Barrier(THREADS, timeout=30)

    def worker(_: int) -> ConsumeResult:
        request = _request(record, now=T0, grace=GRACE if grace else None, max_grace_reuses=THREADS)
        barrier.wait()
        return store.consume(request)

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(worker, range(THREADS)))


@pytest.mark.parametrize("grace", [False, True], ids=["no_grace", "grace"])
def test_threads_racing_on_one_token_rotate_it_exactly_once(
    sync_store: RedisStore, grace: bool
) -> None:
    for _ in range(ROUNDS):
        session, record, _ = _session()
        sync_store.create_session(session, record)
        results = _consume_all_at_once(sync_store, record, grace)
        _assert_one_rotation(results, grace=grace)
        stored = sync_store.get_session(session.sid)
        assert stored is not None and stored.generation == 1
        assert stored.grace_reuses == (THREADS - 1 if grace else 0)
        assert stored.current_token_id in {r.issued.token_id for r in results if r.issued}


@pytest.mark.parametrize("grace", [False, True], ids=["no_grace", "grace"])
async def test_tasks_racing_on_one_token_rotate_it_exactly_once(
    async_store: AsyncRedisStore, grace: bool
) -> None:
    for _ in range(ROUNDS):
        session, record, _ = _session()
        await async_store.create_session(session, record)
        requests = [
            _request(record, now=T0, grace=GRACE if grace else None, max_grace_reuses=TASKS)
            for _ in range(TASKS)
        ]
        results = await asyncio.gather(*(async_store.consume(r) for r in requests))
        _assert_one_rotation(list(results), grace=grace)
        stored = await async_store.get_session(session.sid)
        assert stored is not None and stored.generation == 1
        assert stored.grace_reuses == (TASKS - 1 if grace else 0)


def _settings(redis_url: str, grace: bool) -> Settings:
    return Settings.from_mapping(
        {
            "reuse_grace": GRACE if grace else timedelta(0),
            "max_grace_reuses": TASKS,
            "store_url": redis_url,
        }
    )


async def test_manager_refreshes_racing_without_grace_yield_one_pair_and_revoke(
    async_store: AsyncRedisStore, redis_url: str
) -> None:
    manager = AsyncTokenManager(
        _settings(redis_url, grace=False),
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


def test_manager_refreshes_racing_within_grace_all_succeed(
    sync_store: RedisStore, redis_url: str
) -> None:
    manager = TokenManager(
        _settings(redis_url, grace=True),
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
        assert len(set(tokens)) == THREADS
        stored = sync_store.get_session(pair.sid)
        assert stored is not None and not stored.revoked and stored.generation == 1
