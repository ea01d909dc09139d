"""The refresh check over HTTP, written once for every adapter.

A framework's test module subclasses :class:`CheckSpec`; its ``make_api``
fixture builds the managers with the ``gate`` fixture as their refresh check,
which each test switches (see :class:`~tests.adapters.support.Gate`).
"""

from __future__ import annotations

import jwt

from refreshkit import RefreshGrant, RefreshRefused

from .spec import MakeApi, assert_oauth_error, bearer, login, refresh_form
from .support import Gate


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
