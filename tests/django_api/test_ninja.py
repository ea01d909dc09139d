"""Django Ninja: the sync and async bearer classes answer with the RFC 6750 challenge."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

pytest.importorskip("ninja")

from django.http import HttpRequest
from ninja import NinjaAPI
from ninja.testing import TestAsyncClient, TestClient

from refreshkit.adapters.django import conf
from refreshkit.adapters.django.ninja import RefreshKitBearer

from .urls import api

pytestmark = pytest.mark.django

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


class Caller:
    """One client for both flavours: ``/me`` on the sync routes, ``/async/me`` on the async."""

    def __init__(self, flavour: str) -> None:
        self.prefix = "/async" if flavour == "async" else ""
        self.flavour = flavour

    async def get(self, route: str, token: str | None = None, **headers: str) -> Any:
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        path = f"{self.prefix}{route}"
        if self.flavour == "async":
            return await TestAsyncClient(api).get(path, headers=headers)
        return TestClient(api).get(path, headers=headers)

    async def access_token(self, subject: str = "alice", scope: str | None = None) -> str:
        """A token whose session the caller's own manager's store holds (for online checks)."""
        if self.flavour == "async":
            return (await conf.get_async_manager().issue(subject, scope=scope)).access_token
        return conf.get_manager().issue(subject, scope=scope).access_token

    async def revoke(self, token: str) -> None:
        if self.flavour == "async":
            manager = conf.get_async_manager()
            await manager.revoke_session(manager.verify_access(token).sid)
        else:
            conf.get_manager().revoke_session(conf.get_manager().verify_access(token).sid)


@pytest.fixture(params=["sync", "async"])
def caller(request: pytest.FixtureRequest) -> Caller:
    return Caller(request.param)


async def test_a_valid_token_answers_200_with_its_claims(caller: Caller) -> None:
    reply = await caller.get("/me", await caller.access_token(scope="profile"))
    assert reply.status_code == 200, reply.content
    assert reply.json() == {"subject": "alice", "scopes": ["profile"], "auth_claims": "alice"}


async def test_without_a_token_the_answer_is_401_with_a_bare_bearer_challenge(
    caller: Caller,
) -> None:
    reply = await caller.get("/me")
    assert reply.status_code == 401
    assert reply["WWW-Authenticate"] == 'Bearer realm="refreshkit"'
    assert "error" not in reply.json()  # RFC 6750 §3.1: no error code without credentials


async def test_a_bad_token_answers_401_invalid_token(caller: Caller) -> None:
    reply = await caller.get("/me", "not.a.jwt")
    assert reply.status_code == 401
    assert 'error="invalid_token"' in reply["WWW-Authenticate"]
    assert reply.json()["error"] == "invalid_token"


async def test_a_malformed_bearer_header_answers_400_invalid_request(caller: Caller) -> None:
    reply = await caller.get("/me", Authorization="Bearer two words")
    assert reply.status_code == 400
    assert reply.json()["error"] == "invalid_request"


async def test_a_missing_scope_answers_403_insufficient_scope_naming_it(caller: Caller) -> None:
    refused = await caller.get("/orders", await caller.access_token(scope="profile"))
    allowed = await caller.get("/orders", await caller.access_token(scope="orders:read"))
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused["WWW-Authenticate"]
    assert 'scope="orders:read"' in refused["WWW-Authenticate"]
    assert allowed.status_code == 200


async def test_an_online_check_refuses_a_revoked_sessions_token(caller: Caller) -> None:
    token = await caller.access_token()
    assert (await caller.get("/online", token)).status_code == 200
    await caller.revoke(token)
    reply = await caller.get("/online", token)
    assert reply.status_code == 401
    assert 'error="invalid_token"' in reply["WWW-Authenticate"]


async def test_a_login_too_long_ago_answers_401_with_the_step_up_challenge(
    caller: Caller,
) -> None:
    manager = conf.get_manager()
    pair = manager.issue("alice", auth_time=manager.clock.now() - timedelta(minutes=10))
    reply = await caller.get("/fresh", pair.access_token)
    assert reply.status_code == 401, reply.content
    assert reply["WWW-Authenticate"] == (
        'Bearer realm="refreshkit", error="insufficient_user_authentication", '
        'error_description="a more recent authentication is required", max_age="300"'
    )
    assert (await caller.get("/me", pair.access_token)).status_code == 200
    fresh = manager.reauthenticate(pair.sid)
    assert (await caller.get("/fresh", fresh)).status_code == 200


async def test_a_store_outage_on_an_online_check_answers_503_with_retry_after_never_401(
    caller: Caller, refreshkit_settings: Callable[..., None]
) -> None:
    pytest.importorskip("redis")
    token = conf.get_manager().issue("alice").access_token
    refreshkit_settings(store_url=UNREACHABLE_REDIS)
    reply = await caller.get("/online", token)
    assert reply.status_code == 503, reply.content
    assert reply.json()["error"] == "temporarily_unavailable"
    assert int(reply["Retry-After"]) >= 1


def test_without_install_the_status_is_still_right_but_the_challenge_is_missing() -> None:
    bare = NinjaAPI(urls_namespace="refreshkit_bare")

    @bare.get("/me", auth=RefreshKitBearer())
    def me(request: HttpRequest) -> dict[str, str]:
        return {}

    reply = TestClient(bare).get("/me", headers={"Authorization": "Bearer not.a.jwt"})
    assert reply.status_code == 401
    assert "WWW-Authenticate" not in reply.headers
