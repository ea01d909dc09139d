"""The client against real servers on loopback, refreshes counted by the server.

The server runs on a FrozenClock; "just after expiry" and "an hour" are
clock moves, never sleeps. A client whose clock follows the server's
refreshes ahead of time; one whose clock stays behind meets the server's
``401 invalid_token`` and refreshes then. Either way: one refresh per need.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest

from refreshkit.client import (
    AsyncRefreshingAuth,
    CookieRefresh,
    RefreshingAuth,
    RefreshUnavailableError,
    SessionExpiredError,
    TokenHolder,
    Tokens,
)

pytest.importorskip("fastapi")

from .servers import REFRESH_PATH, Server

pytestmark = pytest.mark.fastapi

CALLERS = 100


def never_sleep(seconds: float) -> None:
    pytest.fail(f"a refused refresh must not be retried (asked to wait {seconds} s)")


def holder_after_login(server: Server) -> TokenHolder:
    return TokenHolder(Tokens.from_token_response(server.login().json(), now=server.epoch()))


# ------------------------------------------------------------------ threads


@pytest.mark.parametrize("clients", [1, 4], ids=["one-client", "four-clients-one-holder"])
@pytest.mark.parametrize("refresh_via", ["private-client", "the-api-client"])
def test_a_hundred_threads_just_after_expiry_cause_one_refresh(
    example: Server, clients: int, refresh_via: str
) -> None:
    holder = holder_after_login(example)
    apis = [httpx.Client(base_url=example.url) for _ in range(clients)]
    auths = []
    for api in apis:
        refresh_client = api if refresh_via == "the-api-client" else None
        auth = RefreshingAuth(
            REFRESH_PATH, holder=holder, clock=example.epoch, refresh_client=refresh_client
        )
        api.auth = auth
        auths.append(auth)
    example.expire_access_token()
    start = threading.Barrier(CALLERS)

    def call(index: int) -> int:
        start.wait(timeout=30)
        return apis[index % clients].get("/me").status_code

    with ThreadPoolExecutor(CALLERS) as pool:
        statuses = list(pool.map(call, range(CALLERS)))
    for api, auth in zip(apis, auths, strict=True):
        api.close()
        auth.close()

    assert statuses == [200] * CALLERS
    assert example.log.refreshes == 1
    assert example.log.statuses(REFRESH_PATH) == [200]
    assert 401 not in example.log.statuses("/me"), "the clock follows the server: no 401"


def test_a_hundred_threads_refused_with_invalid_token_cause_one_refresh(example: Server) -> None:
    holder = holder_after_login(example)
    login_time = example.epoch()
    # The client's clock stays at login time: it cannot know the token expired.
    auth = RefreshingAuth(REFRESH_PATH, holder=holder, clock=lambda: login_time)
    example.expire_access_token()
    start = threading.Barrier(CALLERS)
    with httpx.Client(base_url=example.url, auth=auth) as api:

        def call(_: int) -> int:
            start.wait(timeout=30)
            return api.get("/me").status_code

        with ThreadPoolExecutor(CALLERS) as pool:
            statuses = list(pool.map(call, range(CALLERS)))
    auth.close()

    assert statuses == [200] * CALLERS
    assert example.log.refreshes == 1
    assert example.log.statuses("/me").count(401) >= 1, "the server refused the old token"


def test_an_hour_of_calls_refreshes_once_per_access_token_lifetime(example: Server) -> None:
    holder = holder_after_login(example)
    start = example.epoch()
    lifetime = example.access_ttl.total_seconds()
    skew = 30.0
    with (
        RefreshingAuth(REFRESH_PATH, holder=holder, clock=example.epoch, skew=skew) as auth,
        httpx.Client(base_url=example.url, auth=auth) as api,
    ):
        while example.epoch() - start <= 3600:
            assert api.get("/me").status_code == 200
            example.clock.advance(10)

    refreshed_after = [round(t - start) for t in example.log.refresh_times()]
    period = lifetime - skew  # each token is renewed `skew` seconds before it expires
    assert refreshed_after == [round(period * n) for n in range(1, int(3600 // period) + 1)]
    assert example.log.statuses(REFRESH_PATH) == [200] * len(refreshed_after)
    assert 401 not in example.log.statuses("/me")


def test_calls_with_a_valid_token_never_refresh(example: Server) -> None:
    holder = holder_after_login(example)
    with (
        RefreshingAuth(REFRESH_PATH, holder=holder, clock=example.epoch) as auth,
        httpx.Client(base_url=example.url, auth=auth) as api,
    ):
        for _ in range(50):
            assert api.get("/me").status_code == 200
            example.clock.advance(1)
    assert example.log.refreshes == 0


# ------------------------------------------------------------------- tasks


@pytest.mark.parametrize("clients", [1, 4], ids=["one-client", "four-clients-one-holder"])
def test_a_hundred_tasks_just_after_expiry_cause_one_refresh(example: Server, clients: int) -> None:
    holder = holder_after_login(example)
    example.expire_access_token()

    async def scenario() -> list[int]:
        auths = [
            AsyncRefreshingAuth(REFRESH_PATH, holder=holder, clock=example.epoch)
            for _ in range(clients)
        ]
        apis = [httpx.AsyncClient(base_url=example.url, auth=auth) for auth in auths]
        try:
            responses = await asyncio.gather(
                *(apis[i % clients].get("/me") for i in range(CALLERS))
            )
        finally:
            for api, auth in zip(apis, auths, strict=True):
                await api.aclose()
                await auth.aclose()
        return [r.status_code for r in responses]

    assert asyncio.run(scenario()) == [200] * CALLERS
    assert example.log.refreshes == 1
    assert 401 not in example.log.statuses("/me")


def test_a_hundred_tasks_refused_with_invalid_token_cause_one_refresh(example: Server) -> None:
    holder = holder_after_login(example)
    login_time = example.epoch()
    example.expire_access_token()

    async def scenario() -> list[int]:
        async with (
            AsyncRefreshingAuth(REFRESH_PATH, holder=holder, clock=lambda: login_time) as auth,
            httpx.AsyncClient(base_url=example.url, auth=auth) as api,
        ):
            responses = await asyncio.gather(*(api.get("/me") for _ in range(CALLERS)))
        return [r.status_code for r in responses]

    assert asyncio.run(scenario()) == [200] * CALLERS
    assert example.log.refreshes == 1
    assert example.log.statuses("/me").count(401) >= 1


def test_an_hour_of_async_calls_refreshes_once_per_access_token_lifetime(example: Server) -> None:
    holder = holder_after_login(example)
    start = example.epoch()

    async def scenario() -> None:
        async with (
            AsyncRefreshingAuth(REFRESH_PATH, holder=holder, clock=example.epoch) as auth,
            httpx.AsyncClient(base_url=example.url, auth=auth) as api,
        ):
            while example.epoch() - start <= 3600:
                assert (await api.get("/me")).status_code == 200
                example.clock.advance(10)

    asyncio.run(scenario())
    period = example.access_ttl.total_seconds() - 30
    assert example.log.refreshes == int(3600 // period)
    assert 401 not in example.log.statuses("/me")


def test_threads_and_tasks_sharing_a_holder_refresh_once(example: Server) -> None:
    holder = holder_after_login(example)
    example.expire_access_token()
    start = threading.Barrier(CALLERS // 2 + 1)

    async def tasks() -> list[int]:
        async with (
            AsyncRefreshingAuth(REFRESH_PATH, holder=holder, clock=example.epoch) as auth,
            httpx.AsyncClient(base_url=example.url, auth=auth) as api,
        ):
            await asyncio.to_thread(start.wait, 30)
            responses = await asyncio.gather(*(api.get("/me") for _ in range(CALLERS // 2)))
        return [r.status_code for r in responses]

    with (
        RefreshingAuth(REFRESH_PATH, holder=holder, clock=example.epoch) as auth,
        httpx.Client(base_url=example.url, auth=auth) as api,
        ThreadPoolExecutor(CALLERS // 2 + 1) as pool,
    ):
        async_statuses = pool.submit(asyncio.run, tasks())

        def call(_: int) -> int:
            start.wait(timeout=30)
            return api.get("/me").status_code

        thread_statuses = list(pool.map(call, range(CALLERS // 2)))
        assert async_statuses.result(timeout=60) == [200] * (CALLERS // 2)
    assert thread_statuses == [200] * (CALLERS // 2)
    assert example.log.refreshes == 1


# ------------------------------------------------------------ persistence


def test_on_tokens_receives_each_rotated_refresh_token_once(example: Server) -> None:
    saved: list[Tokens] = []
    login = example.login().json()
    auth = RefreshingAuth(REFRESH_PATH, tokens=login, on_tokens=saved.append, clock=example.epoch)
    with auth, httpx.Client(base_url=example.url, auth=auth) as api:
        for _ in range(3):
            example.expire_access_token()
            assert api.get("/me").status_code == 200

    assert example.log.refreshes == 3
    assert len(saved) == 3
    assert len({t.refresh_token for t in saved} | {login["refresh_token"]}) == 4
    assert auth.holder.tokens == saved[-1]


def test_cookie_mode_refreshes_with_the_cookie_and_csrf_token(example: Server) -> None:
    login = example.login(cookie=True)
    assert "refresh_token" not in login.json(), "cookie delivery: not in the body"
    tokens = Tokens.from_token_response(login.json(), now=example.epoch())
    holder = TokenHolder(
        Tokens(
            tokens.access_token,
            refresh_token=login.cookies["__Secure-refresh_token"],
            csrf_token=login.cookies["__Host-refresh_csrf"],
            expires_at=tokens.expires_at,
            issued_at=tokens.issued_at,
        )
    )
    auth = RefreshingAuth(REFRESH_PATH, holder=holder, cookie=CookieRefresh(), clock=example.epoch)
    with auth, httpx.Client(base_url=example.url, auth=auth) as api:
        example.expire_access_token()
        assert api.get("/me").status_code == 200
        first = holder.tokens
        example.expire_access_token()
        assert api.get("/me").status_code == 200  # with the rotated cookie and its CSRF token

    assert example.log.statuses(REFRESH_PATH) == [200, 200]
    assert first is not None and holder.tokens is not None
    assert first.refresh_token != login.cookies["__Secure-refresh_token"]
    assert holder.tokens.refresh_token != first.refresh_token
    assert holder.tokens.csrf_token not in (None, first.csrf_token)


# ------------------------------------------------------------------ errors


def test_a_503_keeps_the_refresh_token_and_the_retry_succeeds_when_the_server_recovers(
    flaky: Server,
) -> None:
    holder = holder_after_login(flaky)
    before = holder.tokens
    waits: list[float] = []

    def recover_while_waiting(seconds: float) -> None:
        waits.append(seconds)
        flaky.outage.active = False

    auth = RefreshingAuth(
        REFRESH_PATH, holder=holder, clock=flaky.epoch, sleep=recover_while_waiting
    )
    flaky.expire_access_token()
    flaky.outage.active = True
    with auth, httpx.Client(base_url=flaky.url, auth=auth) as api:
        assert api.get("/me").status_code == 200

    assert flaky.log.statuses(REFRESH_PATH) == [503, 200]
    assert waits == [7.0], "Retry-After (7 s) lengthens the first 0.5 s backoff"
    assert before is not None and holder.tokens is not None
    assert holder.tokens.refresh_token != before.refresh_token


def test_an_outage_outlasting_the_retries_raises_and_keeps_the_tokens(flaky: Server) -> None:
    holder = holder_after_login(flaky)
    before = holder.tokens
    waits: list[float] = []
    auth = RefreshingAuth(
        REFRESH_PATH, holder=holder, clock=flaky.epoch, sleep=waits.append, retries=2
    )
    flaky.expire_access_token()
    flaky.outage.active = True
    with auth, httpx.Client(base_url=flaky.url, auth=auth) as api:
        with pytest.raises(RefreshUnavailableError) as raised:
            api.get("/me")
        assert raised.value.attempts == 3
        assert raised.value.status == 503
        assert raised.value.retry_after == 7
        assert holder.tokens is before

        flaky.outage.active = False  # the server recovers: the kept refresh token still works
        assert api.get("/me").status_code == 200

    assert flaky.log.statuses(REFRESH_PATH) == [503, 503, 503, 200]
    assert waits == [7.0, 7.0]


def test_a_refused_refresh_token_raises_session_expired(flaky: Server) -> None:
    holder = holder_after_login(flaky)
    tokens = holder.tokens
    assert tokens is not None and tokens.refresh_token is not None
    revoked = httpx.post(f"{flaky.url}/token/revoke", data={"token": tokens.refresh_token})
    assert revoked.status_code == 200
    auth = RefreshingAuth(REFRESH_PATH, holder=holder, clock=flaky.epoch, sleep=never_sleep)
    flaky.expire_access_token()
    with (
        auth,
        httpx.Client(base_url=flaky.url, auth=auth) as api,
        pytest.raises(SessionExpiredError, match="log in again") as raised,
    ):
        api.get("/me")
    assert raised.value.error == "invalid_grant"
    assert raised.value.status == 400
    assert flaky.log.statuses(REFRESH_PATH) == [400], "refused: never retried"
    assert holder.tokens is tokens


def test_a_hundred_callers_share_one_session_expired_answer(flaky: Server) -> None:
    holder = holder_after_login(flaky)
    tokens = holder.tokens
    assert tokens is not None and tokens.refresh_token is not None
    httpx.post(f"{flaky.url}/token/revoke", data={"token": tokens.refresh_token})
    flaky.expire_access_token()

    async def scenario() -> list[BaseException | httpx.Response]:
        async with (
            AsyncRefreshingAuth(REFRESH_PATH, holder=holder, clock=flaky.epoch) as auth,
            httpx.AsyncClient(base_url=flaky.url, auth=auth) as api,
        ):
            return await asyncio.gather(
                *(api.get("/me") for _ in range(CALLERS)), return_exceptions=True
            )

    outcomes = asyncio.run(scenario())
    assert all(isinstance(o, SessionExpiredError) for o in outcomes)
    assert flaky.log.refreshes == 1


def test_the_token_url_may_be_absolute(flaky: Server) -> None:
    holder = holder_after_login(flaky)
    with (
        RefreshingAuth(f"{flaky.url}{REFRESH_PATH}", holder=holder, clock=flaky.epoch) as auth,
        httpx.Client(auth=auth) as api,
    ):
        flaky.clock.advance(timedelta(hours=1))
        assert api.get(f"{flaky.url}/me").status_code == 200
    assert flaky.log.refreshes == 1
