"""RefreshingAuth end to end when a refresh's answer is lost after the server rotated.

The shipped FastAPI example on uvicorn (SQLite, a FrozenClock). Either the
HTTP response of the first ``/token/refresh`` is lost on the wire (a
loopback proxy drops it and cuts the connection: the server rotated, the
client saw a dead connection), or the store's reply inside the server is
lost (:class:`~refreshkit.testing.AsyncLostReplyStore`: the rotation
committed, the endpoint answered 503). Both times the client retries with
the refresh token it kept, gets the successor the server stored, and the
user stays signed in: no ``reuse_detected``, no revocation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from refreshkit import Event, FrozenClock, KeySet, _tokens
from refreshkit.backends.sql import SQLStore
from refreshkit.client import AsyncRefreshingAuth, RefreshingAuth, TokenHolder, Tokens
from refreshkit.testing import AsyncLostReplyStore
from tests.lost_reply.proxy import LossyProxy, Trap

pytest.importorskip("fastapi")

from tests.adapters.support import uvicorn_server

from .servers import REFRESH_PATH, RequestLog, Server, _load_example

pytestmark = pytest.mark.fastapi


@dataclass
class Lossy:
    """The example app on loopback, a proxy in front of it, and what the server saw."""

    server: Server
    proxy: LossyProxy
    lossy_store: AsyncLostReplyStore
    events: list[Event]
    database: Path

    @property
    def proxied_url(self) -> str:
        return f"http://{self.proxy.host}:{self.proxy.port}"

    def named(self, name: str) -> list[Event]:
        return [event for event in self.events if event.name == name]

    def stored_token_id(self, sid: str) -> str:
        """The session's newest refresh token id, read from the database directly."""
        store = SQLStore(f"sqlite:///{self.database}")
        try:
            session = store.get_session(sid)
        finally:
            store.close()
        assert session is not None and session.revoked_at is None
        return session.current_token_id


@contextmanager
def lossy_example(database: Path, keys: KeySet) -> Iterator[Lossy]:
    clock = FrozenClock()
    app = _load_example().create_app(f"sqlite+aiosqlite:///{database}", clock=clock, keys=keys)
    kit = app.state.refreshkit
    events: list[Event] = []
    kit.manager.hooks.on(None, events.append)
    lossy_store = AsyncLostReplyStore(kit.manager.store, lose=0)
    kit.manager.store = lossy_store
    log = RequestLog(app, clock)
    with uvicorn_server(log) as url:
        port = int(url.rsplit(":", 1)[1])
        with LossyProxy("127.0.0.1", port) as proxy:
            yield Lossy(
                Server(url, clock, log, kit.manager.settings.access_ttl),
                proxy,
                lossy_store,
                events,
                database,
            )


@pytest.fixture
def lossy(tmp_path: Path, keys: KeySet) -> Iterator[Lossy]:
    pytest.importorskip("uvicorn")
    with lossy_example(tmp_path / "example.db", keys) as rig:
        yield rig


def _signed_in(rig: Lossy) -> tuple[TokenHolder, str, str]:
    """Sign in (directly, not through the proxy): the holder, the session id, the refresh token."""
    body = rig.server.login().json()
    token = body["refresh_token"]
    sid = _tokens.session_id_of(_tokens.parse_refresh_token(token)[0])
    return TokenHolder(Tokens.from_token_response(body, now=rig.server.epoch())), sid, token


def _token_id(tokens: Tokens | None) -> str:
    assert tokens is not None and tokens.refresh_token is not None
    return _tokens.parse_refresh_token(tokens.refresh_token)[0]


def test_a_lost_refresh_response_is_retried_and_the_user_stays_signed_in(lossy: Lossy) -> None:
    holder, sid, first = _signed_in(lossy)
    waits: list[float] = []
    lossy.proxy.arm(Trap(f"POST {REFRESH_PATH} ".encode()))
    auth = RefreshingAuth(REFRESH_PATH, holder=holder, clock=lossy.server.epoch, sleep=waits.append)
    with auth, httpx.Client(base_url=lossy.proxied_url, auth=auth) as api:
        lossy.server.expire_access_token()
        assert api.get("/me").status_code == 200
        assert lossy.proxy.fired.is_set(), "the first refresh response was not lost"
        # The server answered both; the first answer never reached the client.
        assert lossy.server.log.statuses(REFRESH_PATH) == [200, 200]
        assert waits == [0.5], "one transport error, one backoff, one retry"
        assert _token_id(holder.tokens) == lossy.stored_token_id(sid)
        assert holder.tokens is not None and holder.tokens.refresh_token != first

        lossy.server.expire_access_token()  # the kept successor refreshes normally
        assert api.get("/me").status_code == 200
        assert _token_id(holder.tokens) == lossy.stored_token_id(sid)

    assert not lossy.named("reuse_detected")
    assert not lossy.named("revoked")
    assert len(lossy.named("retry_replayed")) == 1
    assert len(lossy.named("refreshed")) == 2


def test_a_lost_store_reply_answers_503_and_the_clients_retry_gets_the_same_successor(
    lossy: Lossy,
) -> None:
    holder, sid, first = _signed_in(lossy)
    waits: list[float] = []
    lossy.lossy_store.lose(1)
    auth = RefreshingAuth(REFRESH_PATH, holder=holder, clock=lossy.server.epoch, sleep=waits.append)
    with auth, httpx.Client(base_url=lossy.server.url, auth=auth) as api:
        lossy.server.expire_access_token()
        assert api.get("/me").status_code == 200

    assert lossy.server.log.statuses(REFRESH_PATH) == [503, 200]
    assert len(lossy.lossy_store.lost) == 1, "the rotation behind the 503 was applied"
    lost = lossy.lossy_store.lost[0]
    assert lost.applied and lost.session is not None
    assert _token_id(holder.tokens) == lost.session.current_token_id
    assert _token_id(holder.tokens) == lossy.stored_token_id(sid)
    assert holder.tokens is not None and holder.tokens.refresh_token != first
    assert not lossy.named("reuse_detected")
    assert len(lossy.named("retry_replayed")) == 1


def test_a_lost_refresh_response_is_retried_by_the_async_client_too(lossy: Lossy) -> None:
    holder, sid, first = _signed_in(lossy)
    waits: list[float] = []

    async def wait(seconds: float) -> None:
        waits.append(seconds)

    async def scenario() -> int:
        async with (
            AsyncRefreshingAuth(
                REFRESH_PATH, holder=holder, clock=lossy.server.epoch, sleep=wait
            ) as auth,
            httpx.AsyncClient(base_url=lossy.proxied_url, auth=auth) as api,
        ):
            return (await api.get("/me")).status_code

    lossy.proxy.arm(Trap(f"POST {REFRESH_PATH} ".encode()))
    lossy.server.expire_access_token()
    assert asyncio.run(scenario()) == 200
    assert lossy.proxy.fired.is_set()
    assert lossy.server.log.statuses(REFRESH_PATH) == [200, 200]
    assert waits == [0.5]
    assert _token_id(holder.tokens) == lossy.stored_token_id(sid)
    assert holder.tokens is not None and holder.tokens.refresh_token != first
    assert not lossy.named("reuse_detected")
    assert len(lossy.named("retry_replayed")) == 1
