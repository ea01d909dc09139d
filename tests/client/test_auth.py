"""What RefreshingAuth / AsyncRefreshingAuth do to each request, against the fake server."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import httpx
import pytest

from refreshkit.client import (
    AsyncRefreshingAuth,
    CookieRefresh,
    RefreshingAuth,
    SessionExpiredError,
    TokenHolder,
    Tokens,
)
from refreshkit.errors import ConfigurationError

from .fakes import FakeServer

NOW = 1_000_000.0


def jwt_like(**claims: object) -> str:
    """An unsigned JWT-shaped token: the client reads claims without verifying them."""

    def part(data: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'EdDSA', 'typ': 'at+jwt'})}.{part(claims)}.c2ln"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def client(server: FakeServer, auth: RefreshingAuth) -> httpx.Client:
    return httpx.Client(
        base_url="https://api.test", auth=auth, transport=httpx.MockTransport(server.handle)
    )


def auth_for(
    server: FakeServer, tokens: Tokens | None, clock: Clock, **options: object
) -> RefreshingAuth:
    return RefreshingAuth(
        "/token",
        tokens=tokens,
        clock=clock,
        refresh_client=httpx.Client(transport=httpx.MockTransport(server.handle)),
        **options,  # type: ignore[arg-type]
    )


# ------------------------------------------------------------------ tokens


def test_expiry_is_read_from_the_exp_claim_without_verification() -> None:
    tokens = Tokens(jwt_like(exp=2_000, iat=1_100), "rt")
    assert (tokens.expires_at, tokens.issued_at) == (2_000.0, 1_100.0)


def test_an_opaque_access_token_has_no_known_expiry_and_is_never_renewed_early() -> None:
    tokens = Tokens("opaque", "rt")
    assert tokens.expires_at is None
    assert not tokens.expiring(now=10**12, skew=30)


def test_expires_in_counts_from_receipt_and_wins_over_exp() -> None:
    body = {"access_token": jwt_like(exp=NOW + 5), "expires_in": 900, "refresh_token": "rt"}
    tokens = Tokens.from_token_response(body, now=NOW)
    assert tokens.expires_at == NOW + 900


def test_the_refresh_margin_never_exceeds_half_a_short_lifetime() -> None:
    tokens = Tokens("at", "rt", issued_at=NOW, expires_at=NOW + 20)  # shorter than the skew
    assert not tokens.expiring(NOW + 9, skew=30)
    assert tokens.expiring(NOW + 10, skew=30)


def test_tokens_round_trip_through_a_dict_and_never_show_in_repr() -> None:
    tokens = Tokens("at-secret", "rt-secret", expires_at=NOW, scope="read", csrf_token="c")
    assert Tokens.from_dict(json.loads(json.dumps(tokens.to_dict()))) == tokens
    assert "secret" not in repr(tokens)
    assert "secret" not in repr(TokenHolder(tokens))


def test_a_body_without_an_access_token_is_not_a_token_response() -> None:
    with pytest.raises(ConfigurationError, match="access_token"):
        Tokens.from_token_response({"error": "invalid_grant"})


# ---------------------------------------------------------------- proactive


def test_a_call_with_a_token_far_from_expiry_sends_it_as_is() -> None:
    server, clock = FakeServer(), Clock()
    with client(server, auth_for(server, server.tokens(expires_at=NOW + 31), clock)) as api:
        response = api.get("/api")
    assert response.request.headers["authorization"] == "Bearer at-0"
    assert server.refreshes == 0


def test_a_token_expiring_within_the_skew_is_refreshed_before_the_call() -> None:
    server, clock = FakeServer(), Clock()
    with client(server, auth_for(server, server.tokens(expires_at=NOW + 30), clock)) as api:
        response = api.get("/api")
    assert response.status_code == 200
    assert response.request.headers["authorization"] == "Bearer at-1"
    assert server.refreshes == 1
    assert len(server.api_calls) == 1, "refreshed ahead: the API never saw the old token"


def test_the_skew_is_configurable() -> None:
    server, clock = FakeServer(), Clock()
    tokens = server.tokens(expires_at=NOW + 100)
    with client(server, auth_for(server, tokens, clock, skew=timedelta(minutes=2))) as api:
        api.get("/api")
    assert server.refreshes == 1


def test_successful_calls_never_refresh() -> None:
    server, clock = FakeServer(expires_in=900), Clock()
    with client(server, auth_for(server, server.tokens(expires_at=NOW + 900), clock)) as api:
        for _ in range(200):
            assert api.get("/api").status_code == 200
            clock.now += 4  # 800 s in all: still 100 s before the 30 s margin
    assert server.refreshes == 0


# ---------------------------------------------------------------- reactive


def test_invalid_token_refreshes_once_and_retries_once_with_the_same_body() -> None:
    server, clock = FakeServer(), Clock()
    with client(server, auth_for(server, Tokens("at-stale", "rt-0"), clock)) as api:
        response = api.post("/api", content=b"payload")
    assert response.status_code == 200
    assert response.json()["body"] == "payload"
    assert server.api_calls == [
        "Bearer at-stale",
        "Bearer at-1",
    ]
    assert server.refreshes == 1
    assert [r.status_code for r in response.history] == [401]


def test_a_second_invalid_token_is_returned_without_another_refresh() -> None:
    server, clock = FakeServer(), Clock()

    def always_refuse(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return server.handle(request)
        return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})

    auth = auth_for(server, Tokens("at-0", "rt-0"), clock)
    with httpx.Client(auth=auth, transport=httpx.MockTransport(always_refuse)) as api:
        response = api.get("https://api.test/api")
    assert response.status_code == 401
    assert server.refreshes == 1


@pytest.mark.parametrize(
    ("status", "challenge"),
    [
        (401, 'Bearer realm="api"'),
        (401, 'Bearer error="invalid_request"'),
        (403, 'Bearer error="insufficient_scope", scope="admin"'),
        (500, ""),
    ],
)
def test_other_refusals_are_returned_as_they_are(status: int, challenge: str) -> None:
    server, clock = FakeServer(), Clock()
    headers = {"WWW-Authenticate": challenge} if challenge else {}
    transport = httpx.MockTransport(lambda _: httpx.Response(status, headers=headers))
    auth = auth_for(server, Tokens("at-0", "rt-0"), clock)
    with httpx.Client(auth=auth, transport=transport) as api:
        assert api.get("https://api.test/api").status_code == status
    assert server.refreshes == 0


# ----------------------------------------------------------- configuration


def test_an_auth_without_tokens_asks_for_a_login() -> None:
    server, clock = FakeServer(), Clock()
    with (
        client(server, auth_for(server, None, clock)) as api,
        pytest.raises(SessionExpiredError, match="log in"),
    ):
        api.get("/api")


def test_a_login_response_body_is_accepted_as_the_tokens() -> None:
    server, clock = FakeServer(), Clock()
    body = {"access_token": "at-0", "refresh_token": "rt-0", "expires_in": 900}
    auth = RefreshingAuth("/token", tokens=body, clock=clock)
    assert auth.holder.tokens == Tokens("at-0", "rt-0", issued_at=NOW, expires_at=NOW + 900)
    with client(server, auth) as api:
        assert api.get("/api").status_code == 200


def test_tokens_belong_in_the_holder_when_one_is_given() -> None:
    with pytest.raises(ConfigurationError):
        RefreshingAuth("/t", holder=TokenHolder(), tokens=Tokens("at"))


async def test_the_sync_auth_refuses_an_async_client() -> None:
    auth = RefreshingAuth("/t", tokens=Tokens("at", "rt"))
    transport = httpx.MockTransport(lambda _: httpx.Response(200))
    async with httpx.AsyncClient(auth=auth, transport=transport) as api:
        with pytest.raises(ConfigurationError, match="AsyncRefreshingAuth"):
            await api.get("https://api.test/")


def test_the_async_auth_refuses_a_sync_client() -> None:
    auth = AsyncRefreshingAuth("/t", tokens=Tokens("at", "rt"))
    transport = httpx.MockTransport(lambda _: httpx.Response(200))
    with (
        httpx.Client(auth=auth, transport=transport) as api,
        pytest.raises(ConfigurationError, match="RefreshingAuth"),
    ):
        api.get("https://api.test/")


async def test_the_async_auth_refreshes_ahead_and_on_invalid_token() -> None:
    server, clock = FakeServer(), Clock()
    transport = httpx.MockTransport(server.ahandle)
    auth = AsyncRefreshingAuth(
        "/token",
        tokens=Tokens("at-stale", "rt-0"),
        clock=clock,
        refresh_client=httpx.AsyncClient(transport=transport),
    )
    async with httpx.AsyncClient(
        base_url="https://api.test", auth=auth, transport=transport
    ) as api:
        assert (await api.get("/api")).status_code == 200  # 401, refresh, retry
        clock.now += 900  # at-1 now expires within the skew
        assert (await api.get("/api")).status_code == 200
    assert server.refreshes == 2
    assert server.api_calls == [
        "Bearer at-stale",
        "Bearer at-1",
        "Bearer at-2",
    ]


# A login answered in cookie mode: the refresh token went into a cookie, not the body.
COOKIE_MODE_LOGIN = {"access_token": "at-0", "token_type": "Bearer", "expires_in": 300}


@pytest.mark.parametrize("auth_class", [RefreshingAuth, AsyncRefreshingAuth])
def test_tokens_without_a_refresh_token_are_refused_at_once_naming_the_fix(
    auth_class: type[RefreshingAuth] | type[AsyncRefreshingAuth],
) -> None:
    with pytest.raises(ConfigurationError, match="no refresh_token") as refused:
        auth_class("/token/refresh", tokens=COOKIE_MODE_LOGIN)
    assert "X-Token-Delivery: body" in str(refused.value)
    assert "CookieRefresh" in str(refused.value)


@pytest.mark.parametrize("auth_class", [RefreshingAuth, AsyncRefreshingAuth])
def test_cookie_mode_without_the_refresh_cookie_value_is_refused_at_once(
    auth_class: type[RefreshingAuth] | type[AsyncRefreshingAuth],
) -> None:
    with pytest.raises(ConfigurationError, match="refresh cookie"):
        auth_class("/token/refresh", tokens=COOKIE_MODE_LOGIN, cookie=CookieRefresh())
    accepted = Tokens("at-0", refresh_token="cookie-value", csrf_token="csrf-value")
    auth_class("/token/refresh", tokens=accepted, cookie=CookieRefresh())


def test_a_holder_whose_tokens_cannot_be_refreshed_fails_the_first_request() -> None:
    server, clock = FakeServer(), Clock()
    holder = TokenHolder(Tokens("at-0", expires_at=NOW + 300))  # fresh for 5 minutes
    auth = RefreshingAuth(
        "/token",
        holder=holder,
        clock=clock,
        refresh_client=httpx.Client(transport=httpx.MockTransport(server.handle)),
    )
    with client(server, auth) as api, pytest.raises(ConfigurationError, match="no refresh_token"):
        api.get("/api")  # not 5 minutes later, at the first refresh
    assert server.refreshes == 0
