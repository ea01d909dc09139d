"""Many clients refreshing one token at the same instant, on the memory store.

Hand-written (not generated): threads for the sync manager, tasks for the
async one. With grace 0 exactly one racer wins and the rest see reuse, which
revokes the session; with grace, every racer inside the window succeeds.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

import pytest

from refreshkit import (
    AsyncTokenManager,
    FrozenClock,
    KeySet,
    RevokedTokenError,
    Settings,
    TokenManager,
    TokenReuseError,
)
from refreshkit.backends.memory import AsyncMemoryStore, MemoryStore

RACERS = 32
ROUNDS = 20


def _race_threads(manager: TokenManager, token: str) -> tuple[Counter[str], list[str]]:
    barrier = threading.Barrier(RACERS)
    outcomes: Counter[str] = Counter()
    issued: list[str] = []
    lock = threading.Lock()

    def racer() -> None:
        barrier.wait()
        try:
            pair = manager.refresh(token)
        except Exception as exc:
            with lock:
                outcomes[type(exc).__name__] += 1
        else:
            with lock:
                outcomes["ok"] += 1
                issued.append(pair.refresh_token)

    threads = [threading.Thread(target=racer) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes, issued


def _manager(**overrides: object) -> TokenManager:
    return TokenManager(
        Settings.from_mapping(overrides),
        keys=KeySet.generate(),
        store=MemoryStore(),
        clock=FrozenClock(),
    )


def test_without_grace_exactly_one_thread_wins_and_the_session_is_revoked() -> None:
    manager = _manager()
    for _ in range(ROUNDS):
        pair = manager.issue("alice")
        outcomes, issued = _race_threads(manager, pair.refresh_token)
        assert outcomes["ok"] == 1
        assert outcomes["TokenReuseError"] + outcomes["RevokedTokenError"] == RACERS - 1
        assert outcomes["TokenReuseError"] >= 1
        with pytest.raises(RevokedTokenError):
            manager.refresh(issued[0])


def test_with_grace_every_thread_in_the_window_succeeds_in_one_session() -> None:
    manager = _manager(reuse_grace="10s", max_grace_reuses=RACERS)
    for _ in range(ROUNDS):
        pair = manager.issue("alice")
        outcomes, issued = _race_threads(manager, pair.refresh_token)
        assert outcomes == Counter(ok=RACERS)
        assert len(set(issued)) == RACERS
        (session,) = [s for s in manager.sessions("alice") if s.sid == pair.sid]
        assert session.generation == 1 and session.grace_reuses == RACERS - 1
        # Any sibling may carry the session on; after that the others are stale.
        assert manager.refresh(issued[-1]).sid == pair.sid
        with pytest.raises(TokenReuseError):
            manager.refresh(issued[0])


async def _race_tasks(manager: AsyncTokenManager, token: str) -> Counter[str]:
    gate = asyncio.Event()

    async def racer() -> str:
        await gate.wait()
        try:
            await manager.refresh(token)
        except (TokenReuseError, RevokedTokenError) as exc:
            return type(exc).__name__
        return "ok"

    tasks = [asyncio.create_task(racer()) for _ in range(RACERS)]
    await asyncio.sleep(0)
    gate.set()
    return Counter(await asyncio.gather(*tasks))


async def test_async_tasks_racing_without_grace_yield_one_winner() -> None:
    manager = AsyncTokenManager(
        keys=KeySet.generate(), store=AsyncMemoryStore(), clock=FrozenClock()
    )
    for _ in range(ROUNDS):
        pair = await manager.issue("alice")
        outcomes = await _race_tasks(manager, pair.refresh_token)
        assert outcomes["ok"] == 1 and sum(outcomes.values()) == RACERS


async def test_async_tasks_racing_within_grace_all_succeed() -> None:
    manager = AsyncTokenManager(
        Settings(reuse_grace="10s", max_grace_reuses=RACERS),
        keys=KeySet.generate(),
        store=AsyncMemoryStore(),
        clock=FrozenClock(),
    )
    pair = await manager.issue("alice")
    assert await _race_tasks(manager, pair.refresh_token) == Counter(ok=RACERS)
