"""Races between processes on one shared store: the part of the contract threads cannot show.

Threads share one client object and one connection pool; separate processes
share nothing but the store itself, as worker processes of a web server do.
:class:`ProcessRaceConformance` starts processes with the ``spawn`` method
(each imports refreshkit afresh and opens the store from its URL), holds them
at a barrier, and lets all of them present one refresh token at once.
"""

from __future__ import annotations

import importlib
import multiprocessing
import secrets
from datetime import timedelta
from typing import Any

from ._sync.manager import TokenManager
from .backends import create_store
from .backends.base import TokenStore
from .config import Settings
from .errors import StoreError, TokenError
from .keys import KeySet

__all__ = ["ProcessRaceConformance"]

#: How many processes race; each holds a connection of its own.
PROCESSES = 8


def _open(url: str, factory: str | None) -> TokenStore:
    if factory is None:
        return create_store(url)
    module, _, name = factory.partition(":")
    opened: TokenStore = getattr(importlib.import_module(module), name)(url)
    return opened


def _present(
    url: str,
    factory: str | None,
    token: str,
    settings: dict[str, Any],
    barrier: Any,
    out: Any,
) -> None:
    """One racing process: open the store, wait for the others, refresh once, report."""
    store = _open(url, factory)
    manager = TokenManager(Settings(**settings), keys=KeySet.generate(), store=store)
    try:
        store.get_session("0" * 32)  # connect before the barrier, so the race is the refresh
        barrier.wait(timeout=60)
        try:
            out.put(("ok", manager.refresh(token).refresh_token))
        except TokenError as error:
            out.put(("error", type(error).__name__))
    finally:
        store.close()


def _refresh_through_a_cutoff(
    url: str, factory: str | None, token: str, barrier: Any, returned: Any, out: Any
) -> None:
    """One process refreshing its session over and over while another cuts it off.

    Reports the outcome of its first refresh that began after the cutoff had
    returned (``("after", succeeded)``), or that the session was refused
    before (``("before", False)``).
    """
    store = _open(url, factory)
    manager = TokenManager(Settings(), keys=KeySet.generate(), store=store)
    try:
        store.get_session("0" * 32)
        barrier.wait(timeout=60)
        for _ in range(10_000):
            after = returned.is_set()
            try:
                token = manager.refresh(token).refresh_token
                succeeded = True
            except TokenError:
                succeeded = False
            except StoreError:
                continue  # contention (SQLite's lock): nothing was written, try again
            if after or not succeeded:
                out.put(("after" if after else "before", succeeded))
                return
        out.put(("never", True))
    finally:
        store.close()


def _race(
    url: str, factory: str | None, token: str, settings: dict[str, Any]
) -> list[tuple[str, str]]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    out = context.Queue()
    workers = [
        context.Process(target=_present, args=(url, factory, token, settings, barrier, out))
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0, f"a racing process failed (exit code {worker.exitcode})"
    return results


class ProcessRaceConformance:
    """Processes racing on one shared store. Requires a ``store_url`` fixture.

    ``store_url`` names a sync store every process can open (a database, a
    Redis server; not ``memory://``), with tables or keys the test may write.
    Each process opens it with :func:`refreshkit.create_store`, or, when
    :attr:`store_factory` names one, with that function.
    """

    #: ``"module:function"`` that opens a store from ``store_url`` in a fresh
    #: process (for a backend not registered by entry point); None: create_store.
    store_factory: str | None = None

    def _issue(self, url: str, settings: dict[str, Any]) -> tuple[str, str, TokenManager]:
        store = _open(url, self.store_factory)
        manager = TokenManager(Settings(**settings), keys=KeySet.generate(), store=store)
        pair = manager.issue("racer")
        return pair.sid, pair.refresh_token, manager

    def test_processes_presenting_one_token_at_once_all_get_the_same_successor(
        self, store_url: str
    ) -> None:
        sid, token, manager = self._issue(store_url, {})
        try:
            results = _race(store_url, self.store_factory, token, {})
            successors = {value for kind, value in results if kind == "ok"}
            assert len(successors) == 1 and token not in successors, results
            assert all(kind == "ok" for kind, _ in results), results
            stored = manager.store.get_session(sid)
            assert stored is not None and stored.generation == 1 and stored.revoked_at is None
            (successor,) = successors
            assert manager.refresh(successor).sid == sid
        finally:
            manager.store.close()

    def test_with_strict_rotation_exactly_one_racing_process_succeeds(self, store_url: str) -> None:
        strict = {"retry_window": timedelta(0)}
        sid, token, manager = self._issue(store_url, strict)
        try:
            results = _race(store_url, self.store_factory, token, strict)
            assert [kind for kind, _ in results].count("ok") == 1, results
            refused = {value for kind, value in results if kind == "error"}
            assert refused <= {"TokenReuseError", "RevokedTokenError"}, results
            stored = manager.store.get_session(sid)
            assert stored is not None and stored.revoked_reason == "reuse"
        finally:
            manager.store.close()

    def test_once_a_cutoff_returns_no_process_refreshes_an_earlier_session(
        self, store_url: str
    ) -> None:
        store = _open(store_url, self.store_factory)
        manager = TokenManager(Settings(), keys=KeySet.generate(), store=store)
        subject = "cutoff-racer-" + secrets.token_hex(8)
        try:
            tokens = [manager.issue(subject).refresh_token for _ in range(PROCESSES)]
            context = multiprocessing.get_context("spawn")
            barrier = context.Barrier(PROCESSES + 1)
            returned, out = context.Event(), context.Queue()
            workers = [
                context.Process(
                    target=_refresh_through_a_cutoff,
                    args=(store_url, self.store_factory, token, barrier, returned, out),
                )
                for token in tokens
            ]
            for worker in workers:
                worker.start()
            barrier.wait(timeout=120)
            cutoff = manager.clock.now()
            for attempt in range(20):
                try:  # idempotent: a retry after an outage finishes the job
                    manager.revoke_subject(subject, before=cutoff)
                    break
                except StoreError:
                    if attempt == 19:
                        raise
            returned.set()
            results = [out.get(timeout=120) for _ in workers]
            for worker in workers:
                worker.join(timeout=60)
                assert worker.exitcode == 0, f"a racing process failed ({worker.exitcode})"
            assert ("after", True) not in results, results
            assert ("never", True) not in results, results
            live = [s for s in manager.store.list_sessions(subject) if s.revoked_at is None]
            assert live == []
        finally:
            store.close()
