"""The refresh endpoint in-process: refreshkit's adapter beside a hand-written route.

Both apps run on the memory store of their side (refreshkit's MemoryStore,
the baseline's dict), so the ratio is the adapter's cost over a plain
route doing the same RFC 6749 §6 exchange. Requests go through the
framework's own test client: httpx's ASGI transport for FastAPI, Werkzeug's
for Flask.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from refreshkit import AsyncTokenManager, KeySet, Settings, SigningKey, TokenManager
from refreshkit.backends.memory import AsyncMemoryStore, MemoryStore

from ._harness import Config, Row, compare, compare_async, run_async
from .baselines.http_apps import baseline_fastapi, baseline_flask
from .baselines.memory_store import AsyncMemoryTokens, MemoryTokens
from .baselines.service import AsyncAuth, Auth
from .baselines.tokens import AccessTokens

PATH = "/token/refresh"


def _keys() -> tuple[KeySet, AccessTokens]:
    key = SigningKey.generate("HS256")
    return KeySet(key), AccessTokens(key.private, key.public, key.algorithm, key.kid)


def rows(config: Config) -> Iterator[Row]:
    """FastAPI then Flask; a missing framework becomes a note."""
    scaled = config.scaled(0.1)
    try:
        yield run_async(_fastapi_row(scaled))
    except ImportError as missing:
        yield Row("HTTP", "FastAPI refresh endpoint", note=f"skipped: {missing}")
    try:
        yield _flask_row(scaled)
    except ImportError as missing:
        yield Row("HTTP", "Flask refresh endpoint", note=f"skipped: {missing}")


async def _fastapi_row(config: Config) -> Row:
    import fastapi
    import httpx

    from refreshkit.adapters.fastapi import RefreshKit

    keys, tokens = _keys()
    manager = AsyncTokenManager(Settings(), keys=keys, store=AsyncMemoryStore())
    ours_app = fastapi.FastAPI()
    RefreshKit(manager).install(ours_app)
    auth = AsyncAuth(tokens, AsyncMemoryTokens())
    theirs_app = baseline_fastapi(auth)
    ours_token = (await manager.issue("alice")).refresh_token
    theirs_token = (await auth.issue("alice"))[1]
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(ours_app), base_url="http://t") as ours,
        httpx.AsyncClient(transport=httpx.ASGITransport(theirs_app), base_url="http://t") as base,
    ):
        state = {"ours": ours_token, "base": theirs_token}

        async def step(client: Any, side: str, ops: int) -> None:
            for _ in range(ops):
                form = {"grant_type": "refresh_token", "refresh_token": state[side]}
                response = await client.post(PATH, data=form)
                assert response.status_code == 200, response.text
                state[side] = response.json()["refresh_token"]

        return await compare_async(
            "HTTP",
            "FastAPI refresh endpoint",
            lambda ops: step(ours, "ours", ops),
            lambda ops: step(base, "base", ops),
            config,
            target=1.15,
        )


def _flask_row(config: Config) -> Row:
    import flask

    from refreshkit.adapters.flask import RefreshKit

    keys, tokens = _keys()
    manager = TokenManager(Settings(), keys=keys, store=MemoryStore())
    ours_app = flask.Flask("refreshkit")
    RefreshKit(ours_app, manager=manager)
    auth = Auth(tokens, MemoryTokens())
    theirs_app = baseline_flask(auth)
    state = {"ours": manager.issue("alice").refresh_token, "base": auth.issue("alice")[1]}
    clients = {"ours": ours_app.test_client(), "base": theirs_app.test_client()}

    def step(side: str, ops: int) -> None:
        for _ in range(ops):
            form = {"grant_type": "refresh_token", "refresh_token": state[side]}
            response = clients[side].post(PATH, data=form)
            assert response.status_code == 200, response.get_data(as_text=True)
            state[side] = response.get_json()["refresh_token"]

    return compare(
        "HTTP",
        "Flask refresh endpoint",
        lambda ops: step("ours", ops),
        lambda ops: step("base", ops),
        config,
    )
