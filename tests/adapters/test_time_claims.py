"""Validly signed tokens with absurd time claims get 401 or 200, never a 500, on both adapters.

``exp``/``nbf``/``iat`` of 10**12 (year 33658) or 10**400 once overflowed a
float sum or a datetime conversion inside the request; the policy now
refuses them as malformed tokens, so each route answers as for any other
invalid token: 401 on protected routes and ``/logout``, 200 on
``/token/revoke`` (RFC 7009 §2.2: an invalid token is no error).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest

from refreshkit import FrozenClock, KeySet, Settings
from refreshkit.backends.memory._state import MemoryState

from .spec import assert_oauth_error, bearer, login
from .support import Api, FlaskClientApi, HttpxApi, Outage

#: (claim, value) pairs that each once escaped as OverflowError/ValueError or
#: produced an unconvertible datetime later; floats are refused by type.
ABSURD_TIMES = [
    pytest.param("exp", 10**12, id="exp-1e12"),
    pytest.param("exp", 10**400, id="exp-1e400"),
    pytest.param("exp", -(10**400), id="exp-minus-1e400"),
    pytest.param("nbf", 10**400, id="nbf-1e400"),
    pytest.param("iat", 10**400, id="iat-1e400"),
    pytest.param("iat", -(10**400), id="iat-minus-1e400"),
    pytest.param("exp", 1e300, id="exp-float-1e300"),
]
FRAMEWORKS = [
    pytest.param("fastapi", marks=pytest.mark.fastapi),
    pytest.param("flask", marks=pytest.mark.flask),
]


def _fastapi_api(keys: KeySet, clock: FrozenClock) -> Iterator[Api]:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from refreshkit import AsyncTokenManager

    from .support import FailingAsyncStore
    from .test_fastapi import build_app

    store = FailingAsyncStore(MemoryState(), Outage())
    manager = AsyncTokenManager(Settings(), keys=keys, store=store, clock=clock)
    app, _ = build_app(manager)
    with TestClient(app, base_url="https://testserver") as client:
        yield HttpxApi(client, "test-client")


def _flask_api(keys: KeySet, clock: FrozenClock) -> Iterator[Api]:
    pytest.importorskip("flask")
    from refreshkit import TokenManager
    from refreshkit.adapters.flask import RefreshKit

    from .support import FailingStore
    from .test_flask import build_app

    store = FailingStore(MemoryState(), Outage())
    manager = TokenManager(Settings(), keys=keys, store=store, clock=clock)
    yield FlaskClientApi(build_app(RefreshKit(manager=manager)).test_client(use_cookies=False))


@pytest.fixture(params=FRAMEWORKS)
def api(request: pytest.FixtureRequest, keys: KeySet, clock: FrozenClock) -> Iterator[Api]:
    build: Callable[[KeySet, FrozenClock], Iterator[Api]] = (
        _fastapi_api if request.param == "fastapi" else _flask_api
    )
    yield from build(keys, clock)


def _with_time(api: Api, keys: KeySet, claim: str, value: object) -> str:
    """A real login's access token, re-signed by the app's own key with ``claim`` set."""
    access = login(api).json()["access_token"]
    payload: dict[str, Any] = jwt.decode(access, options={"verify_signature": False})
    payload[claim] = value
    key = keys.active
    return jwt.encode(
        payload, key.private, algorithm=key.algorithm, headers={"kid": key.kid, "typ": "at+jwt"}
    )


@pytest.mark.parametrize(("claim", "value"), ABSURD_TIMES)
def test_a_protected_route_answers_401_for_out_of_range_time_claims(
    api: Api, keys: KeySet, claim: str, value: object
) -> None:
    token = _with_time(api, keys, claim, value)
    for path in ("/me", "/online-me"):
        assert_oauth_error(api.request("GET", path, headers=bearer(token)), 401, "invalid_token")


@pytest.mark.parametrize(("claim", "value"), ABSURD_TIMES)
def test_logout_answers_401_for_out_of_range_time_claims(
    api: Api, keys: KeySet, claim: str, value: object
) -> None:
    token = _with_time(api, keys, claim, value)
    reply = api.request("POST", "/logout", headers=bearer(token))
    assert_oauth_error(reply, 401, "invalid_token")


@pytest.mark.parametrize(("claim", "value"), ABSURD_TIMES)
def test_revoking_a_token_with_out_of_range_time_claims_answers_200(
    api: Api, keys: KeySet, claim: str, value: object
) -> None:
    token = _with_time(api, keys, claim, value)
    for hint in ("access_token", "refresh_token", None):
        form = {"token": token} if hint is None else {"token": token, "token_type_hint": hint}
        reply = api.request("POST", "/token/revoke", form=form)
        assert reply.status == 200, reply.text
