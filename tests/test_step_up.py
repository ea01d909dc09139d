"""Step-up freshness (RFC 9470): ``auth_time``, ``max_age`` and re-authentication."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from refreshkit import (
    FrozenClock,
    InvalidTokenError,
    KeySet,
    RefreshContext,
    RefreshRefused,
    Settings,
    TokenManager,
    _policy,
)
from refreshkit.adapters import _http
from refreshkit.backends.memory import MemoryStore
from refreshkit.errors import InsufficientUserAuthenticationError

T0 = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)


def manager(**kwargs: Any) -> tuple[TokenManager, FrozenClock]:
    clock = FrozenClock(T0)
    keys = KeySet.generate()
    return TokenManager(Settings(), keys=keys, store=MemoryStore(), clock=clock, **kwargs), clock


def test_issue_sets_auth_time_and_refreshes_keep_it() -> None:
    tokens, clock = manager()
    pair = tokens.issue("alice")
    assert tokens.verify_access(pair.access_token).auth_time == T0
    clock.advance(timedelta(hours=2))
    refreshed = tokens.refresh(pair.refresh_token)
    payload = jwt.decode(refreshed.access_token, options={"verify_signature": False})
    assert payload["auth_time"] == int(T0.timestamp())
    assert tokens.verify_access(refreshed.access_token).auth_time == T0


def test_a_login_may_carry_an_earlier_auth_time_but_never_a_later_one() -> None:
    tokens, _ = manager()
    earlier = T0 - timedelta(minutes=3)
    pair = tokens.issue("alice", auth_time=earlier)
    assert tokens.verify_access(pair.access_token).auth_time == earlier
    with pytest.raises(ValueError, match="later than now"):
        tokens.issue("alice", auth_time=T0 + timedelta(seconds=1))
    with pytest.raises(ValueError, match="auth_time"):
        tokens.issue("alice", claims={"auth_time": 0})


@pytest.mark.parametrize("max_age", [300, timedelta(minutes=5)])
def test_max_age_accepts_an_authentication_exactly_that_old_and_refuses_one_second_more(
    max_age: int | timedelta,
) -> None:
    tokens, clock = manager()
    pair = tokens.issue("alice")
    clock.advance(timedelta(seconds=300))
    refreshed = tokens.refresh(pair.refresh_token)
    assert tokens.verify_access(refreshed.access_token, max_age=max_age).subject == "alice"
    clock.advance(timedelta(seconds=1))
    with pytest.raises(InsufficientUserAuthenticationError) as stale:
        tokens.verify_access(refreshed.access_token, max_age=max_age)
    assert stale.value.max_age == 300 and stale.value.status_code == 401
    with pytest.raises(InsufficientUserAuthenticationError):
        tokens.verify_access_online(refreshed.access_token, max_age=max_age)
    with pytest.raises(ValueError, match="negative"):
        tokens.verify_access(refreshed.access_token, max_age=-1)


def test_a_token_without_auth_time_is_never_fresh_and_a_malformed_one_is_invalid() -> None:
    tokens, _ = manager()
    claims = tokens.verify_access(tokens.issue("alice").access_token)
    without = _policy.access_claims_from_payload(
        {k: v for k, v in claims.raw.items() if k != "auth_time"}
    )
    assert without.auth_time is None
    with pytest.raises(InsufficientUserAuthenticationError):
        _policy.check_freshness(without, timedelta(days=365), T0)
    for malformed in ("1", 1.5, True, -1, 10**13):
        with pytest.raises(InvalidTokenError, match="auth_time"):
            _policy.access_claims_from_payload({**claims.raw, "auth_time": malformed})


def test_reauthenticate_moves_auth_time_in_the_same_session_without_rotating() -> None:
    tokens, clock = manager()
    pair = tokens.issue("alice", claims={"role": "admin"})
    clock.advance(timedelta(hours=1))
    access = tokens.reauthenticate(pair.sid)
    claims = tokens.verify_access(access, max_age=0)
    assert (claims.sid, claims.auth_time, claims.extra) == (
        pair.sid,
        clock.now(),
        {"role": "admin"},
    )
    (session,) = tokens.store.list_sessions("alice")
    assert session.generation == 0 and session.current_token_id in pair.refresh_token
    refreshed = tokens.refresh(pair.refresh_token)
    assert tokens.verify_access(refreshed.access_token).auth_time == clock.now()


def test_reauthenticate_runs_the_refresh_check_and_a_refusal_writes_nothing() -> None:
    def refuse(context: RefreshContext) -> None:
        raise RefreshRefused("account_disabled")

    tokens, clock = manager()
    pair = tokens.issue("alice")
    tokens.refresh_check = refuse
    clock.advance(timedelta(minutes=1))
    with pytest.raises(RefreshRefused):
        tokens.reauthenticate(pair.sid)
    (session,) = tokens.store.list_sessions("alice")
    assert session.claims["auth_time"] == int(T0.timestamp())


def test_the_challenge_is_rfc9470s_with_max_age_and_an_error_body() -> None:
    stale = InsufficientUserAuthenticationError(
        "a more recent authentication is required", max_age=60
    )
    response = _http.access_error_response(stale, realm="api")
    assert response.status == 401
    assert dict(response.headers)["WWW-Authenticate"] == (
        'Bearer realm="api", error="insufficient_user_authentication", '
        'error_description="a more recent authentication is required", max_age="60"'
    )
    assert response.body["error"] == "insufficient_user_authentication"
