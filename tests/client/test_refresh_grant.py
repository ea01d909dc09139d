"""The RFC 6749 §6 refresh grant, driven by hand: no I/O, outcomes fed in one by one."""

from __future__ import annotations

import base64
from collections.abc import Generator, Sequence

import httpx
import pytest

from refreshkit._client.grant import Backoff, Outcome, RefreshGrant, Send, Sleep, Step
from refreshkit.client import CookieRefresh, Tokens
from refreshkit.errors import (
    ConfigurationError,
    RefreshUnavailableError,
    SessionExpiredError,
    StoreError,
)

ORIGIN = httpx.URL("https://api.test/v1/things?page=2")
HELD = Tokens("at-0", "rt-0", scope="read")
NOW = 5_000.0


def form_of(request: httpx.Request) -> dict[str, str]:
    return dict(httpx.QueryParams(request.content.decode()))


def token_response(**fields: object) -> httpx.Response:
    body = {"access_token": "at-1", "token_type": "bearer", "expires_in": 600, **fields}
    return httpx.Response(200, json=body)


def drive(
    steps: Generator[Step, Outcome, Tokens], outcomes: Sequence[Outcome]
) -> tuple[Tokens | Exception, list[Step]]:
    """Feed ``outcomes`` to each Send (None to each Sleep); the result and every step taken."""
    taken: list[Step] = []
    queue = list(outcomes)
    reply: Outcome = None
    try:
        while True:
            step = steps.send(reply)
            taken.append(step)
            reply = queue.pop(0) if isinstance(step, Send) else None
    except StopIteration as done:
        return done.value, taken
    except Exception as exc:
        return exc, taken


def sleeps(steps: list[Step]) -> list[float]:
    return [s.seconds for s in steps if isinstance(s, Sleep)]


# ---------------------------------------------------------------- requests


def test_the_refresh_request_is_an_rfc6749_form_post_to_the_token_url() -> None:
    request = RefreshGrant("/oauth/token").request(HELD, ORIGIN)
    assert request.method == "POST"
    assert str(request.url) == "https://api.test/oauth/token"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert form_of(request) == {"grant_type": "refresh_token", "refresh_token": "rt-0"}
    assert "authorization" not in request.headers


def test_a_relative_token_url_resolves_against_the_request_and_an_absolute_one_stands() -> None:
    assert RefreshGrant("token").request(HELD, ORIGIN).url == "https://api.test/v1/token"
    absolute = RefreshGrant("https://auth.test/t").request(HELD, ORIGIN)
    assert absolute.url == "https://auth.test/t"


def test_client_credentials_go_in_http_basic_form_encoded_first() -> None:
    grant = RefreshGrant("/t", client_id="my app", client_secret="s3cr:t", scope="read")
    request = grant.request(HELD, ORIGIN)
    scheme, _, encoded = request.headers["authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode() == "my%20app:s3cr%3At"
    assert form_of(request) == {
        "grant_type": "refresh_token",
        "refresh_token": "rt-0",
        "scope": "read",
    }


def test_client_credentials_can_go_in_the_body() -> None:
    grant = RefreshGrant("/t", client_id="app", client_secret="secret", client_auth="body")
    request = grant.request(HELD, ORIGIN)
    assert "authorization" not in request.headers
    assert form_of(request)["client_id"] == "app"
    assert form_of(request)["client_secret"] == "secret"


def test_a_public_client_sends_only_its_id() -> None:
    request = RefreshGrant("/t", client_id="spa").request(HELD, ORIGIN)
    assert form_of(request)["client_id"] == "spa"
    assert "client_secret" not in form_of(request)
    assert "authorization" not in request.headers


def test_cookie_mode_sends_the_refresh_token_as_a_cookie_with_the_csrf_proof() -> None:
    held = Tokens("at-0", "rt-0", csrf_token="csrf-0")
    request = RefreshGrant("/t", cookie=CookieRefresh()).request(held, ORIGIN)
    assert form_of(request) == {"grant_type": "refresh_token"}
    assert request.headers["cookie"] == "__Secure-refresh_token=rt-0; __Host-refresh_csrf=csrf-0"
    assert request.headers["x-csrf-token"] == "csrf-0"


def test_without_a_refresh_token_the_session_is_over() -> None:
    with pytest.raises(SessionExpiredError, match="log in again"):
        RefreshGrant("/t").request(Tokens("at-0"), ORIGIN)


def test_a_secret_without_a_client_id_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        RefreshGrant("/t", client_secret="s")


# ----------------------------------------------------------------- answers


def test_a_token_response_becomes_the_new_tokens() -> None:
    result, taken = drive(
        RefreshGrant("/t").steps(HELD, ORIGIN, lambda: NOW),
        [token_response(refresh_token="rt-1")],
    )
    assert isinstance(result, Tokens)
    assert (result.access_token, result.refresh_token) == ("at-1", "rt-1")
    assert result.token_type == "Bearer"
    assert (result.issued_at, result.expires_at) == (NOW, NOW + 600)
    assert result.scope == "read", "an omitted scope is the one granted before"
    assert len(taken) == 1


def test_a_server_that_does_not_rotate_leaves_the_refresh_token_in_place() -> None:
    result, _ = drive(RefreshGrant("/t").steps(HELD, ORIGIN, lambda: NOW), [token_response()])
    assert isinstance(result, Tokens)
    assert result.refresh_token == "rt-0"


def test_cookie_mode_reads_the_rotated_tokens_from_set_cookie() -> None:
    response = httpx.Response(
        200,
        json={"access_token": "at-1", "token_type": "Bearer", "expires_in": 600},
        headers=[
            (
                "Set-Cookie",
                "__Secure-refresh_token=rt-1; Path=/t; HttpOnly; Secure; SameSite=Strict",
            ),
            ("Set-Cookie", "__Host-refresh_csrf=csrf-1; Path=/; Secure; SameSite=Strict"),
        ],
    )
    held = Tokens("at-0", "rt-0", csrf_token="csrf-0")
    result, _ = drive(
        RefreshGrant("/t", cookie=CookieRefresh()).steps(held, ORIGIN, lambda: NOW), [response]
    )
    assert isinstance(result, Tokens)
    assert (result.refresh_token, result.csrf_token) == ("rt-1", "csrf-1")


@pytest.mark.parametrize("status", [400, 401])
def test_invalid_grant_means_the_session_expired_and_is_never_retried(status: int) -> None:
    refusal = httpx.Response(
        status, json={"error": "invalid_grant", "error_description": "revoked"}
    )
    result, taken = drive(RefreshGrant("/t").steps(HELD, ORIGIN, lambda: NOW), [refusal])
    assert isinstance(result, SessionExpiredError)
    assert (result.error, result.status) == ("invalid_grant", status)
    assert "revoked" in result.message and "log in again" in result.message
    assert "rt-0" not in result.message
    assert sleeps(taken) == []


@pytest.mark.parametrize(
    "refusal",
    [
        httpx.Response(401, json={"error": "invalid_client"}),
        httpx.Response(400, json={"error": "unsupported_grant_type"}),
        httpx.Response(404, text="<html>not found</html>"),
        httpx.Response(200, text="<html>a login page</html>"),
    ],
    ids=["invalid_client", "unsupported_grant_type", "404", "200-not-json"],
)
def test_other_refusals_are_configuration_errors_not_retried(refusal: httpx.Response) -> None:
    result, taken = drive(RefreshGrant("/t").steps(HELD, ORIGIN, lambda: NOW), [refusal])
    assert isinstance(result, ConfigurationError)
    assert sleeps(taken) == []


def test_server_errors_are_retried_with_exponential_backoff_then_reported() -> None:
    result, taken = drive(
        RefreshGrant("/t").steps(HELD, ORIGIN, lambda: NOW), [httpx.Response(500)] * 4
    )
    assert isinstance(result, RefreshUnavailableError)
    assert isinstance(result, StoreError), "an outage, like a store outage: 503 if it escapes"
    assert (result.attempts, result.status) == (4, 500)
    assert sleeps(taken) == [0.5, 1.0, 2.0]


def test_network_errors_are_retried_and_a_recovery_succeeds() -> None:
    request = httpx.Request("POST", "https://api.test/t")
    result, taken = drive(
        RefreshGrant("/t").steps(HELD, ORIGIN, lambda: NOW),
        [httpx.ConnectError("refused", request=request), httpx.Response(502), token_response()],
    )
    assert isinstance(result, Tokens)
    assert sleeps(taken) == [0.5, 1.0]


def test_network_errors_through_every_retry_chain_the_last_one() -> None:
    request = httpx.Request("POST", "https://api.test/t")
    grant = RefreshGrant("/t", backoff=Backoff(retries=1))
    result, _ = drive(
        grant.steps(HELD, ORIGIN, lambda: NOW),
        [httpx.ReadTimeout("slow", request=request)] * 2,
    )
    assert isinstance(result, RefreshUnavailableError)
    assert result.status is None
    assert isinstance(result.__cause__, httpx.ReadTimeout)


def test_retry_after_lengthens_a_wait_up_to_the_maximum() -> None:
    busy = httpx.Response(429, headers={"Retry-After": "3"})
    down = httpx.Response(503, headers={"Retry-After": "120"})
    result, taken = drive(
        RefreshGrant("/t").steps(HELD, ORIGIN, lambda: NOW), [busy, down, token_response()]
    )
    assert isinstance(result, Tokens)
    assert sleeps(taken) == [3.0, 8.0]


def test_backoff_doubles_and_is_capped() -> None:
    backoff = Backoff(retries=6, initial=0.25, maximum=2.0)
    assert [backoff.delay(n) for n in range(5)] == [0.25, 0.5, 1.0, 2.0, 2.0]
    with pytest.raises(ConfigurationError):
        Backoff(retries=-1)


def test_zero_retries_reports_the_first_outage() -> None:
    grant = RefreshGrant("/t", backoff=Backoff(retries=0))
    result, taken = drive(grant.steps(HELD, ORIGIN, lambda: NOW), [httpx.Response(503)])
    assert isinstance(result, RefreshUnavailableError)
    assert result.attempts == 1
    assert sleeps(taken) == []
