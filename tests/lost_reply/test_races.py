"""One refresh token presented by 16 threads, or by 8 processes, at the same instant.

Racing tabs, a resent request, two workers of one app: within
``retry_window`` every racer gets the *same* successor (one rotation, the
rest replay it), nobody is reuse. With ``retry_window="0s"`` (strict
rotation) exactly one racer succeeds; every other one is refused
(:class:`~refreshkit.errors.TokenReuseError`, or
:class:`~refreshkit.errors.RevokedTokenError` once a reuse revoked the
session), as RFC 9700 demands.

Each store is shared: the threads use one manager; each process its own.
A few rounds each, to keep CI fast.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter

import pytest

from refreshkit import Event, EventHooks, FrozenClock, KeySet, Settings, TokenManager, _tokens
from refreshkit.backends.base import TokenStore
from refreshkit.config import parse_duration

from ._racing import START_TIMEOUT, Answer, StoreSpec, process_worker, race_threads
from .conftest import token_id_of

THREADS = 16
PROCESSES = 8
ROUNDS = 5
WINDOWS = [pytest.param("30s", id="window"), pytest.param("0s", id="strict")]


def _assert_round(store: TokenStore, token: str, answers: list[Answer], window: str) -> int:
    """The rules of one round; returns how many racers were refused as reuse."""
    sid = _tokens.session_id_of(token_id_of(token))
    stored = store.get_session(sid)
    assert stored is not None
    assert stored.generation == 1, "exactly one rotation, however many racers"
    winners = [issued for outcome, issued in answers if outcome == "ok" and issued is not None]
    refused = Counter(outcome for outcome, _ in answers if outcome != "ok")
    if window != "0s":
        assert refused == Counter(), f"a racer was refused within the window: {refused}"
        assert len(set(winners)) == 1, "the racers got different successors: the family forked"
        assert token_id_of(winners[0]) == stored.current_token_id
        assert stored.revoked_at is None
        return 0
    assert len(winners) == 1, f"strict rotation let {len(winners)} racers through"
    assert set(refused) <= {"TokenReuseError", "RevokedTokenError"}, refused
    assert refused["TokenReuseError"] >= 1
    assert stored.revoked_at is not None
    return refused["TokenReuseError"]


@pytest.mark.parametrize("window", WINDOWS)
def test_sixteen_threads_presenting_one_token_get_one_successor(
    shared_store: StoreSpec, window: str
) -> None:
    store = shared_store.open()
    events: list[Event] = []
    hooks = EventHooks()
    hooks.on(None, events.append)
    clock = FrozenClock()
    manager = TokenManager(
        Settings(retry_window=parse_duration(window)),
        keys=KeySet.generate(),
        store=store,
        clock=clock,
        hooks=hooks,
    )
    try:
        reuses = 0
        for _ in range(ROUNDS):
            token = manager.issue("alice").refresh_token
            clock.advance(60)
            answers = race_threads(manager, token, THREADS)
            reuses += _assert_round(store, token, answers, window)
    finally:
        store.close()
    names = Counter(event.name for event in events)
    assert names["reuse_detected"] == reuses
    if window != "0s":
        assert names["refreshed"] == ROUNDS
        assert names["retry_replayed"] == ROUNDS * (THREADS - 1)


def test_eight_processes_presenting_one_token_get_one_successor(shared_store: StoreSpec) -> None:
    store = shared_store.open()
    manager = TokenManager(Settings(), keys=KeySet.generate(), store=store)
    rounds = [
        (window, manager.issue("alice").refresh_token)
        for window in ("30s", "0s")
        for _ in range(ROUNDS)
    ]
    # Workers fork from one server that imported refreshkit once: 8 spawns would import it 8 times.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["tests.lost_reply._racing"])
    barrier = context.Barrier(PROCESSES, timeout=START_TIMEOUT)
    results = context.Queue()
    workers = [
        context.Process(target=process_worker, args=(shared_store, rounds, barrier, results))
        for _ in range(PROCESSES)
    ]
    try:
        for worker in workers:
            worker.start()
        reported = [results.get(timeout=180) for _ in workers]
        for worker in workers:
            worker.join(timeout=60)
            assert worker.exitcode == 0
        by_round: dict[int, list[Answer]] = {index: [] for index in range(len(rounds))}
        for found in reported:
            for index, outcome, issued in found:
                by_round[index].append((outcome, issued))
        for index, (window, token) in enumerate(rounds):
            assert len(by_round[index]) == PROCESSES
            _assert_round(store, token, by_round[index], window)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()
        store.close()
