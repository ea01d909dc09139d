"""Single flight, unit-tested: callers are held until all pile up behind one refresh.

The fake token endpoint does not answer until every caller has asked the
holder for a refresh, so these tests prove the overlap they claim.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from refreshkit._client.holder import RefreshAbandonedError
from refreshkit.client import (
    AsyncRefreshingAuth,
    RefreshingAuth,
    SessionExpiredError,
    TokenHolder,
    Tokens,
)

from .fakes import CountingHolder, FakeServer

NOW = 1_000_000.0
CALLERS = 64


def expired(server: FakeServer) -> Tokens:
    return server.tokens(expires_at=NOW - 1)


def sync_client(server: FakeServer, holder: TokenHolder, **options: Any) -> httpx.Client:
    """An API client whose auth refreshes through a client of its own, both on the fake."""
    transport = httpx.MockTransport(server.handle)
    auth = RefreshingAuth(
        "/token",
        holder=holder,
        clock=lambda: NOW,
        refresh_client=httpx.Client(transport=transport),
        **options,
    )
    return httpx.Client(base_url="https://api.test", auth=auth, transport=transport)


def async_client(
    server: FakeServer, holder: TokenHolder, *, blocking_gate: bool = False
) -> httpx.AsyncClient:
    """The async twin of :func:`sync_client` (``blocking_gate``: the sync handler's gate)."""
    transport = httpx.MockTransport(server.handle if blocking_gate else server.ahandle)
    auth = AsyncRefreshingAuth(
        "/token",
        holder=holder,
        clock=lambda: NOW,
        refresh_client=httpx.AsyncClient(transport=transport),
    )
    return httpx.AsyncClient(base_url="https://api.test", auth=auth, transport=transport)


# ------------------------------------------------------------------ holder


def test_a_caller_that_saw_the_old_tokens_after_a_refresh_gets_the_new_ones() -> None:
    old, new = Tokens("at-0", "rt-0"), Tokens("at-1", "rt-1")
    holder = TokenHolder(old)
    lead = holder._claim_refresh(old)
    assert lead.leader and lead.flight is not None
    holder._finish_refresh(lead.flight, new)

    late = holder._claim_refresh(old)

    assert late.tokens is new, "never refresh again with the rotated-away rt-0"
    assert late.flight is None


def test_a_caller_arriving_during_a_refresh_waits_for_it() -> None:
    holder = TokenHolder(Tokens("at-0", "rt-0"))
    lead = holder._claim_refresh(Tokens("at-0"))
    wait = holder._claim_refresh(Tokens("at-0"))
    assert not wait.leader
    assert wait.flight is lead.flight
    assert lead.flight is not None
    holder._finish_refresh(lead.flight, Tokens("at-1", "rt-1"))
    assert lead.flight.outcome.result(timeout=1).access_token == "at-1"


def test_an_interrupted_leader_hands_over_to_the_next_caller() -> None:
    holder = TokenHolder(Tokens("at-0", "rt-0"))
    lead = holder._claim_refresh(Tokens("at-0"))
    assert lead.flight is not None
    holder._abandon_refresh(lead.flight, KeyboardInterrupt())
    with pytest.raises(RefreshAbandonedError):
        lead.flight.outcome.result(timeout=1)
    assert holder._claim_refresh(Tokens("at-0")).leader


def test_an_empty_holder_tells_the_caller_to_log_in() -> None:
    with pytest.raises(SessionExpiredError, match="log in"):
        TokenHolder()._claim_refresh(Tokens("at-0"))


# ------------------------------------------------------------------ threads


@pytest.mark.parametrize("clients", [1, 4])
def test_threads_that_all_need_a_refresh_send_one_request(clients: int) -> None:
    server = FakeServer()
    holder = CountingHolder(expired(server))
    server.gate = lambda: holder.wait_for_claims(CALLERS)
    apis = [sync_client(server, holder) for _ in range(clients)]

    with ThreadPoolExecutor(CALLERS) as pool:
        responses = list(pool.map(lambda i: apis[i % clients].get("/api"), range(CALLERS)))

    assert [r.status_code for r in responses] == [200] * CALLERS
    assert server.refreshes == 1
    assert holder.claims == CALLERS
    assert {r.request.headers["authorization"] for r in responses} == {"Bearer at-1"}


def test_threads_refused_with_invalid_token_send_one_refresh() -> None:
    server = FakeServer()
    # No known expiry, and an access token the API refuses: only the 401s tell.
    holder = CountingHolder(Tokens("at-revoked", server.refresh_token))
    server.gate = lambda: holder.wait_for_claims(CALLERS)
    api = sync_client(server, holder)

    with ThreadPoolExecutor(CALLERS) as pool:
        responses = list(pool.map(lambda _: api.get("/api"), range(CALLERS)))

    assert [r.status_code for r in responses] == [200] * CALLERS
    assert server.refreshes == 1
    assert len(server.api_calls) == 2 * CALLERS, "each call: one 401, one retry"


def test_a_refused_refresh_reaches_every_waiting_thread_and_keeps_the_tokens() -> None:
    server = FakeServer(refusal=httpx.Response(400, json={"error": "invalid_grant"}))
    tokens = expired(server)
    holder = CountingHolder(tokens)
    server.gate = lambda: holder.wait_for_claims(CALLERS)
    api = sync_client(server, holder)

    def call(_: int) -> BaseException | None:
        try:
            api.get("/api")
        except SessionExpiredError as exc:
            return exc
        return None

    with ThreadPoolExecutor(CALLERS) as pool:
        outcomes = list(pool.map(call, range(CALLERS)))

    assert all(isinstance(o, SessionExpiredError) for o in outcomes)
    assert server.refreshes == 1
    assert holder.tokens is tokens


def test_an_interrupted_leading_thread_lets_a_waiter_finish_the_refresh() -> None:
    class Interrupted(BaseException):
        """Like KeyboardInterrupt: not an Exception, so nothing swallows it."""

    server = FakeServer(outages=[503])
    holder = CountingHolder(expired(server))
    first_sleep = threading.Event()

    def sleep(_: float) -> None:
        if not first_sleep.is_set():
            first_sleep.set()
            holder.wait_for_claims(2)  # the waiter is queued behind this refresh
            raise Interrupted

    api = sync_client(server, holder, sleep=sleep)
    with ThreadPoolExecutor(2) as pool:
        leader = pool.submit(api.get, "/api")
        first_sleep.wait(10)
        waiter = pool.submit(api.get, "/api")
        with pytest.raises(Interrupted):
            leader.result(10)
        assert waiter.result(10).status_code == 200
    assert server.refreshes == 2, "the 503, then the waiter's own refresh"


def test_a_failing_save_reaches_the_leader_but_the_new_tokens_are_used() -> None:
    class ReadOnlyHolder(TokenHolder):
        def save(self, tokens: Tokens) -> None:
            raise OSError("disk full")

    server = FakeServer()
    holder = ReadOnlyHolder(expired(server))
    api = sync_client(server, holder)

    with pytest.raises(OSError, match="disk full"):
        api.get("/api")
    assert holder.tokens is not None and holder.tokens.access_token == "at-1"
    assert api.get("/api").status_code == 200
    assert server.refreshes == 1


def test_the_api_client_itself_can_send_the_refresh() -> None:
    server = FakeServer()
    holder = CountingHolder(expired(server))
    transport = httpx.MockTransport(server.handle)
    with httpx.Client(base_url="https://api.test", transport=transport) as api:
        api.auth = RefreshingAuth("/token", holder=holder, clock=lambda: NOW, refresh_client=api)
        assert api.get("/api").status_code == 200
    assert server.refreshes == 1


# ------------------------------------------------------------------- tasks


@pytest.mark.parametrize("clients", [1, 4])
async def test_tasks_that_all_need_a_refresh_send_one_request(clients: int) -> None:
    server = FakeServer()
    holder = CountingHolder(expired(server))

    async def gate() -> None:
        await holder.claims_reached(CALLERS)

    server.async_gate = gate
    apis = [async_client(server, holder) for _ in range(clients)]

    responses = await asyncio.gather(*(apis[i % clients].get("/api") for i in range(CALLERS)))

    assert [r.status_code for r in responses] == [200] * CALLERS
    assert server.refreshes == 1
    assert holder.claims == CALLERS


async def test_cancelling_the_task_that_leads_a_refresh_does_not_cancel_the_refresh() -> None:
    server = FakeServer()
    holder = CountingHolder(expired(server))
    release = asyncio.Event()

    async def gate() -> None:
        await release.wait()

    server.async_gate = gate
    api = async_client(server, holder)

    leader = asyncio.create_task(api.get("/api"))
    await holder.claims_reached(1)
    waiter = asyncio.create_task(api.get("/api"))
    await holder.claims_reached(2)
    leader.cancel()
    await asyncio.sleep(0)
    release.set()

    assert (await waiter).status_code == 200
    with pytest.raises(asyncio.CancelledError):
        await leader
    assert server.refreshes == 1
    assert holder.tokens is not None and holder.tokens.access_token == "at-1"


def test_a_holder_serves_tasks_in_two_event_loops_with_one_refresh() -> None:
    server = FakeServer()
    holder = CountingHolder(expired(server))
    server.gate = lambda: holder.wait_for_claims(CALLERS)

    async def calls() -> list[int]:
        api = async_client(server, holder, blocking_gate=True)
        responses = await asyncio.gather(*(api.get("/api") for _ in range(CALLERS // 2)))
        return [r.status_code for r in responses]

    # The gate blocks the leading loop's thread, so each loop runs in its own thread.
    with ThreadPoolExecutor(2) as pool:
        results = [pool.submit(asyncio.run, calls()) for _ in range(2)]
        statuses = [s for future in results for s in future.result(30)]

    assert statuses == [200] * CALLERS
    assert server.refreshes == 1
