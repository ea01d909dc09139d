"""Real servers on loopback for the client tests, each counting its refreshes itself.

Two apps, both served by uvicorn on 127.0.0.1 (port 0) in a thread, both
on a :class:`~refreshkit.FrozenClock` the test moves:

* :func:`example_server`: ``examples/fastapi_app.py`` as shipped (SQLite,
  online verification, cookie and body modes), built by its ``create_app``.
* :func:`outage_server`: a minimal app from :mod:`refreshkit.adapters.fastapi`
  on a memory store that fails on demand (the token endpoint answers 503).

A :class:`RequestLog` wrapped around either app records every response, so
"exactly one refresh" is counted where it happens: at the server.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response

from refreshkit import AsyncTokenManager, FrozenClock, KeySet, Settings
from refreshkit.adapters import _http
from refreshkit.adapters.fastapi import RefreshKit
from refreshkit.backends.memory._state import MemoryState
from tests.adapters.support import FailingAsyncStore, Outage
from tests.adapters.support import uvicorn_server as serve

ROOT = Path(__file__).resolve().parents[2]
REFRESH_PATH = "/token/refresh"
DEMO_LOGIN = {"username": "demo", "password": "correct horse battery staple"}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]


class RequestLog:
    """ASGI middleware recording (method, path, status, server time) of every response."""

    def __init__(self, app: Asgi, clock: FrozenClock) -> None:
        self.app = app
        self.clock = clock
        self.entries: list[tuple[str, str, int, float]] = []
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def record(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry = (
                    scope["method"],
                    scope["path"],
                    message["status"],
                    self.clock.now().timestamp(),
                )
                with self._lock:
                    self.entries.append(entry)
            await send(message)

        await self.app(scope, receive, record)

    def statuses(self, path: str, method: str | None = None) -> list[int]:
        with self._lock:
            return [s for m, p, s, _ in self.entries if p == path and method in (None, m)]

    @property
    def refreshes(self) -> int:
        """Refresh requests the server answered, whatever the answer."""
        return len(self.statuses(REFRESH_PATH, "POST"))

    def refresh_times(self) -> list[float]:
        with self._lock:
            return [t for m, p, _, t in self.entries if p == REFRESH_PATH and m == "POST"]


@dataclass
class Server:
    """A running app: its URL, the clock it runs on, and its request log."""

    url: str
    clock: FrozenClock
    log: RequestLog
    access_ttl: timedelta
    outage: Outage = field(default_factory=Outage)

    def epoch(self) -> float:
        """The server's time in epoch seconds: a client clock that follows the server."""
        return self.clock.now().timestamp()

    def login(self, *, cookie: bool = False) -> httpx.Response:
        """Sign in as the demo user; the refresh token in the body, or in cookies."""
        headers = {} if cookie else {_http.DELIVERY_HEADER: "body"}
        response = httpx.post(f"{self.url}/login", json=DEMO_LOGIN, headers=headers)
        response.raise_for_status()
        return response

    def expire_access_token(self) -> None:
        """Move the server's time to just after the current access token expired."""
        self.clock.advance(self.access_ttl + timedelta(seconds=1))


def _load_example() -> Any:
    path = ROOT / "examples" / "fastapi_app.py"
    spec = importlib.util.spec_from_file_location("refreshkit_example_fastapi_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def example_server(database: Path, keys: KeySet) -> Iterator[Server]:
    """The shipped FastAPI example, on SQLite at ``database`` and a FrozenClock."""
    clock = FrozenClock()
    app = _load_example().create_app(f"sqlite+aiosqlite:///{database}", clock=clock, keys=keys)
    log = RequestLog(app, clock)
    settings: Settings = app.state.refreshkit.settings
    with serve(log) as url:
        yield Server(url, clock, log, settings.access_ttl)


@contextmanager
def outage_server(keys: KeySet, **settings: Any) -> Iterator[Server]:
    """An adapter app (``/login``, ``/me``) on a memory store that fails while ``outage`` is on."""
    clock, outage = FrozenClock(), Outage()
    manager = AsyncTokenManager(
        Settings(**settings), keys=keys, store=FailingAsyncStore(MemoryState(), outage), clock=clock
    )
    kit = RefreshKit(manager)
    app = FastAPI()
    kit.install(app)
    require = kit.require()

    @app.post("/login")
    async def login(request: Request, response: Response) -> dict[str, Any]:
        return await kit.login(request, response, "demo")

    @app.get("/me")
    async def me(request: Request) -> dict[str, Any]:
        claims = await require(request, None)
        return {"user": claims.subject}

    log = RequestLog(app, clock)
    with serve(log) as url:
        yield Server(url, clock, log, manager.settings.access_ttl, outage)
