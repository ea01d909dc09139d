"""Many clients refreshing one token at the same instant, on the memory store.

Hand-written (not generated): threads for the sync manager, tasks for the
async one. With ``retry_window = 0`` exactly one racer wins and the rest see
reuse, which revokes the session; within the (default) window every racer
gets the very same successor, and the family never forks.
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


def test_strict_rotation_lets_exactly_one_thread_win_and_revokes_the_session() -> None:
    manager = _manager(retry_window="0s")
    for _ in range(ROUNDS):
        pair = manager.issue("alice")
        outcomes, issued = _race_threads(manager, pair.refresh_token)
        assert outcomes["ok"] == 1
        assert outcomes["TokenReuseError"] + outcomes["RevokedTokenError"] == RACERS - 1
        assert outcomes["TokenReuseError"] >= 1
        with pytest.raises(RevokedTokenError):
            manager.refresh(issued[0])


def test_threads_presenting_one_token_at_once_all_get_the_same_successor() -> None:
    manager = _manager()
    for _ in range(ROUNDS):
        pair = manager.issue("alice")
        outcomes, issued = _race_threads(manager, pair.refresh_token)
        assert outcomes == Counter(ok=RACERS)
        assert len(set(issued)) == 1
        (session,) = [s for s in manager.sessions("alice") if s.sid == pair.sid]
        assert session.generation == 1
        # The one successor carries the session on; then the first token is reuse.
        assert manager.refresh(issued[0]).sid == pair.sid
        with pytest.raises(TokenReuseError):
            manager.refresh(pair.refresh_token)


async def _race_tasks(manager: AsyncTokenManager, token: str) -> Counter[str]:
    gate = asyncio.Event()

    async def racer() -> str:
        await gate.wait()
        try:
            pair = await manager.refresh(token)
        except (TokenReuseError, RevokedTokenError) as exc:
            return type(exc).__name__
        return pair.refresh_token

    tasks = [asyncio.create_task(racer()) for _ in range(RACERS)]
    await asyncio.sleep(0)
    gate.set()
    return Counter(await asyncio.gather(*tasks))


async def test_async_tasks_racing_with_strict_rotation_yield_one_winner() -> None:
    manager = AsyncTokenManager(
        Settings(retry_window="0s"),  # type: ignore[arg-type]
        keys=KeySet.generate(),
        store=AsyncMemoryStore(),
        clock=FrozenClock(),
    )
    for _ in range(ROUNDS):
        pair = await manager.issue("alice")
        outcomes = await _race_tasks(manager, pair.refresh_token)
        winners = [name for name in outcomes if name.startswith("rk_")]
        assert len(winners) == 1 and outcomes[winners[0]] == 1
        assert sum(outcomes.values()) == RACERS


async def test_async_tasks_racing_within_the_window_all_get_the_same_successor() -> None:
    manager = AsyncTokenManager(
        keys=KeySet.generate(), store=AsyncMemoryStore(), clock=FrozenClock()
    )
    pair = await manager.issue("alice")
    outcomes = await _race_tasks(manager, pair.refresh_token)
    assert len(outcomes) == 1 and sum(outcomes.values()) == RACERS
    (successor,) = outcomes
    assert successor.startswith("rk_") and successor != pair.refresh_token
