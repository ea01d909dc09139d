"""The refresh check over HTTP, written once for every adapter.

A framework's test module subclasses :class:`CheckSpec`; its ``make_api``
fixture builds the managers with the ``gate`` fixture as their refresh check,
which each test switches (see :class:`~tests.adapters.support.Gate`).
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import jwt

from refreshkit import FrozenClock, RefreshGrant, RefreshRefused
from refreshkit.client import step_up_required

from .spec import MakeApi, assert_no_store, assert_oauth_error, bearer, login, refresh_form
from .support import Gate

#: The challenge of the test apps' ``GET /fresh``, which requires ``max_age=300``.
STEP_UP_CHALLENGE = (
    'Bearer realm="refreshkit", error="insufficient_user_authentication", '
    'error_description="a more recent authentication is required", max_age="300"'
)


class CheckSpec:
    """The application's refresh check refusing, granting and failing, through HTTP."""

    def test_a_refusal_answers_invalid_grant_and_keeps_the_session(
        self, make_api: MakeApi, gate: Gate
    ) -> None:
        api = make_api()
        tokens = login(api).json()
        gate.refusal = RefreshRefused("account_locked")
        assert_oauth_error(refresh_form(api, tokens["refresh_token"]), 400, "invalid_grant")
        gate.refusal = None
        reply = refresh_form(api, tokens["refresh_token"])
        assert reply.status == 200, reply.text
        assert [c.subject for c in gate.seen] == ["alice", "alice"]

    def test_a_refusal_that_revokes_ends_the_session_for_good(
        self, make_api: MakeApi, gate: Gate
    ) -> None:
        api = make_api()
        tokens = login(api).json()
        gate.refusal = RefreshRefused("account_disabled", revoke=True)
        assert_oauth_error(refresh_form(api, tokens["refresh_token"]), 400, "invalid_grant")
        gate.refusal = None
        assert_oauth_error(refresh_form(api, tokens["refresh_token"]), 400, "invalid_grant")
        assert (
            api.request("GET", "/online-me", headers=bearer(tokens["access_token"])).status == 401
        )

    def test_a_retry_within_the_window_is_checked_again(
        self, make_api: MakeApi, gate: Gate
    ) -> None:
        api = make_api()
        tokens = login(api).json()
        assert refresh_form(api, tokens["refresh_token"]).status == 200
        gate.refusal = RefreshRefused("account_disabled")
        assert_oauth_error(refresh_form(api, tokens["refresh_token"]), 400, "invalid_grant")
        assert [c.replay for c in gate.seen] == [False, True]

    def test_a_grant_narrows_the_scope_and_changes_the_claims_of_the_new_token(
        self, make_api: MakeApi, gate: Gate
    ) -> None:
        api = make_api()
        tokens = login(api, scope="read admin").json()
        gate.grant = RefreshGrant(claims={"role": "viewer"}, scope="read")
        reply = refresh_form(api, tokens["refresh_token"])
        assert reply.status == 200, reply.text
        assert reply.json()["scope"] == "read"
        access = reply.json()["access_token"]
        assert jwt.decode(access, options={"verify_signature": False})["role"] == "viewer"
        assert api.request("GET", "/me", headers=bearer(access)).json()["scopes"] == ["read"]
        assert api.request("GET", "/admin", headers=bearer(access)).status == 403

    def test_a_grant_wider_than_the_session_is_a_server_error(
        self, make_api: MakeApi, gate: Gate
    ) -> None:
        api = make_api()
        tokens = login(api, scope="read").json()
        gate.grant = RefreshGrant(scope="read admin")
        assert_oauth_error(refresh_form(api, tokens["refresh_token"]), 500, "server_error")
        gate.grant = RefreshGrant(scope="read admin", allow_wider_scope=True)
        reply = refresh_form(api, tokens["refresh_token"])
        assert reply.status == 200 and reply.json()["scope"] == "read admin"

    def test_a_failing_check_answers_500_server_error_and_reveals_nothing(
        self, make_api: MakeApi, gate: Gate
    ) -> None:
        api = make_api()
        tokens = login(api).json()
        gate.failure = LookupError("users db password=hunter2 unreachable")
        reply = refresh_form(api, tokens["refresh_token"])
        assert_oauth_error(reply, 500, "server_error")
        assert "hunter2" not in reply.text and "LookupError" not in reply.text
        gate.failure = None
        assert refresh_form(api, tokens["refresh_token"]).status == 200

    # ------------------------------------------------------------ step-up

    def test_a_route_requiring_a_recent_login_answers_the_rfc9470_challenge(
        self, make_api: MakeApi, clock: FrozenClock
    ) -> None:
        api = make_api()
        tokens = login(api).json()
        assert api.request("GET", "/fresh", headers=bearer(tokens["access_token"])).status == 200
        clock.advance(timedelta(seconds=301))
        refreshed = refresh_form(api, tokens["refresh_token"]).json()  # auth_time is kept
        reply = api.request("GET", "/fresh", headers=bearer(refreshed["access_token"]))
        assert reply.status == 401, reply.text
        assert reply.headers_named("WWW-Authenticate") == [STEP_UP_CHALLENGE]
        assert reply.json()["error"] == "insufficient_user_authentication"
        assert_no_store(reply)
        step_up = step_up_required(httpx.Response(reply.status, headers=reply.headers))
        assert step_up is not None and step_up.max_age == 300
        assert step_up.message == "a more recent authentication is required"
        assert api.request("GET", "/me", headers=bearer(refreshed["access_token"])).status == 200

    def test_a_reauthentication_freshens_the_same_session_and_its_refreshes(
        self, make_api: MakeApi, clock: FrozenClock
    ) -> None:
        api = make_api()
        tokens = login(api).json()
        clock.advance(timedelta(minutes=10))
        stale = refresh_form(api, tokens["refresh_token"]).json()
        assert api.request("GET", "/fresh", headers=bearer(stale["access_token"])).status == 401
        reply = api.request("POST", "/reauth", headers=bearer(stale["access_token"]))
        assert reply.status == 200, reply.text
        fresh = reply.json()["access_token"]
        payload = jwt.decode(fresh, options={"verify_signature": False})
        assert payload["auth_time"] == int(clock.now().timestamp())
        assert (
            payload["sid"]
            == jwt.decode(stale["access_token"], options={"verify_signature": False})["sid"]
        )
        assert api.request("GET", "/fresh", headers=bearer(fresh)).status == 200
        clock.advance(timedelta(seconds=60))
        later = refresh_form(api, stale["refresh_token"]).json()
        assert api.request("GET", "/fresh", headers=bearer(later["access_token"])).status == 200
