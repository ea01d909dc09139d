"""Standard clients (not ours) against the running examples, with no custom code.

Authlib's OAuth 2.0 client refreshes (RFC 6749 §6) and revokes (RFC 7009);
PyJWT's PyJWKClient verifies access tokens with the keys from the JWKS route.
Both examples run on an SQLite file, served for real on loopback.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from .support import load_example, uvicorn_server, werkzeug_server

authlib_httpx = pytest.importorskip("authlib.integrations.httpx_client")
from authlib.integrations.base_client import OAuthError  # noqa: E402

LOGIN = {"username": "demo", "password": "correct horse battery staple"}


@pytest.fixture(
    params=[
        pytest.param("fastapi_app", marks=pytest.mark.fastapi),
        pytest.param("flask_app", marks=pytest.mark.flask),
    ]
)
def example_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    pytest.importorskip("fastapi" if request.param == "fastapi_app" else "flask")
    module = load_example(request.param)
    if request.param == "fastapi_app":
        app = module.create_app(f"sqlite+aiosqlite:///{tmp_path / 'example.db'}")
        with uvicorn_server(app) as url:
            yield url
    else:
        app = module.create_app(f"sqlite:///{tmp_path / 'example.db'}")
        with werkzeug_server(app) as url:
            yield url


def login(url: str) -> dict[str, Any]:
    reply = httpx.post(f"{url}/login", json=LOGIN, headers={"X-Token-Delivery": "body"})
    assert reply.status_code == 200, reply.text
    token: dict[str, Any] = reply.json()
    return token


def test_the_example_rejects_a_wrong_password(example_url: str) -> None:
    reply = httpx.post(f"{example_url}/login", json={**LOGIN, "password": "guess"})
    assert reply.status_code == 401


def test_authlib_refreshes_an_expired_token_on_its_own(example_url: str) -> None:
    token = login(example_url)
    token["expires_at"] = int(time.time()) - 60  # the client believes it expired
    updates: list[dict[str, Any]] = []
    with authlib_httpx.OAuth2Client(
        client_id="spa",
        token=token,
        token_endpoint=f"{example_url}/token/refresh",
        update_token=lambda new, refresh_token=None, access_token=None: updates.append(new),
    ) as client:
        reply = client.get(f"{example_url}/me")
    assert reply.status_code == 200, reply.text
    assert reply.json()["user"] == "demo"
    assert len(updates) == 1
    assert updates[0]["refresh_token"] != token["refresh_token"]  # rotated


def test_authlib_refresh_token_call_and_replay_detection(example_url: str) -> None:
    token = login(example_url)
    with authlib_httpx.OAuth2Client(client_id="spa", token=token) as client:
        fresh = client.refresh_token(f"{example_url}/token/refresh")
        assert fresh["access_token"] != token["access_token"]
        client.refresh_token(f"{example_url}/token/refresh")  # the successor is used
        with pytest.raises(OAuthError, match="invalid_grant"):
            client.refresh_token(
                f"{example_url}/token/refresh", refresh_token=token["refresh_token"]
            )


def test_authlib_revokes_a_refresh_token(example_url: str) -> None:
    token = login(example_url)
    with authlib_httpx.OAuth2Client(client_id="spa", token=token) as client:
        reply = client.revoke_token(
            f"{example_url}/token/revoke",
            token=token["refresh_token"],
            token_type_hint="refresh_token",
        )
        assert reply.status_code == 200
        with pytest.raises(OAuthError, match="invalid_grant"):
            client.refresh_token(f"{example_url}/token/refresh")


def test_pyjwkclient_verifies_access_tokens_from_the_jwks_route(example_url: str) -> None:
    access = login(example_url)["access_token"]
    jwks_client = jwt.PyJWKClient(f"{example_url}/.well-known/jwks.json")
    signing_key = jwks_client.get_signing_key_from_jwt(access)
    claims = jwt.decode(access, signing_key.key, algorithms=["EdDSA"], audience="refreshkit")
    assert claims["sub"] == "demo"
    assert jwt.get_unverified_header(access)["typ"] == "at+jwt"
