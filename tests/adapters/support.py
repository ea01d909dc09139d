"""Test support for the adapters: a store that fails on demand, drivers, servers.

Every adapter test talks to an :class:`Api`: one small interface over a
framework's own test client or over real HTTP to a server on loopback, so
one specification (:mod:`tests.adapters.spec`) runs every way.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import httpx

from refreshkit import RefreshContext, RefreshGrant, RefreshRefused
from refreshkit.backends.memory import AsyncMemoryStore, MemoryStore
from refreshkit.backends.memory._state import MemoryState
from refreshkit.errors import StoreError

OUTAGE_RETRY_AFTER = 7


@dataclass
class Outage:
    """A switch shared by the sync and async failing stores."""

    active: bool = False

    def check(self) -> None:
        if self.active:
            raise StoreError("injected outage", retry_after=OUTAGE_RETRY_AFTER)


class Gate:
    """The test app's refresh check, switched by a test: allow, refuse, grant, or fail.

    A plain function, so the sync and the async manager of every adapter take it.
    """

    def __init__(self) -> None:
        self.refusal: RefreshRefused | None = None
        self.grant: RefreshGrant | None = None
        self.failure: Exception | None = None
        self.seen: list[RefreshContext] = []

    def __call__(self, context: RefreshContext) -> RefreshGrant | None:
        self.seen.append(context)
        if self.failure is not None:
            raise self.failure
        if self.refusal is not None:
            raise self.refusal
        return self.grant


_STORE_METHODS = (
    "create_session",
    "record_cutoff",
    "get_cutoff",
    "compare_and_set",
    "get_session",
    "list_sessions",
    "revoke_subject",
    "deny_access",
    "check_access",
    "purge_expired",
)


def _failing_async(name: str) -> Callable[..., Any]:
    async def method(self: FailingAsyncStore, *args: Any, **kwargs: Any) -> Any:
        self.outage.check()
        return await getattr(AsyncMemoryStore, name)(self, *args, **kwargs)

    return method


def _failing_sync(name: str) -> Callable[..., Any]:
    def method(self: FailingStore, *args: Any, **kwargs: Any) -> Any:
        self.outage.check()
        return getattr(MemoryStore, name)(self, *args, **kwargs)

    return method


class FailingAsyncStore(AsyncMemoryStore):
    """A real memory store whose every call raises StoreError while ``outage`` is on."""

    def __init__(self, state: MemoryState, outage: Outage) -> None:
        super().__init__(state)
        self.outage = outage


class FailingStore(MemoryStore):
    """The sync twin of :class:`FailingAsyncStore`."""

    def __init__(self, state: MemoryState, outage: Outage) -> None:
        super().__init__(state)
        self.outage = outage


for _name in _STORE_METHODS:
    setattr(FailingAsyncStore, _name, _failing_async(_name))
    setattr(FailingStore, _name, _failing_sync(_name))


# --------------------------------------------------------------------- drivers


@dataclass
class Reply:
    """One response, framework-neutral."""

    status: int
    headers: list[tuple[str, str]]
    text: str

    def header(self, name: str) -> str | None:
        values = self.headers_named(name)
        return values[0] if values else None

    def headers_named(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self) -> Any:
        return json.loads(self.text)

    def set_cookies(self) -> dict[str, str]:
        """Name -> full ``Set-Cookie`` value."""
        return {v.split("=", 1)[0]: v for v in self.headers_named("set-cookie")}

    def cookie_values(self) -> dict[str, str]:
        """Name -> value of each cookie this response sets."""
        jar: SimpleCookie = SimpleCookie()
        for value in self.headers_named("set-cookie"):
            jar.load(value)
        return {name: morsel.value for name, morsel in jar.items()}


#: Request headers: a mapping, or name/value pairs when a name repeats.
Headers = Mapping[str, str] | Sequence[tuple[str, str]]


class Api(Protocol):
    """A way to send requests to the app under test. Cookies are always explicit.

    Requests go over HTTPS through the test clients and over plain HTTP from
    loopback to the real servers; ``plain=True`` makes the test clients send
    plain HTTP too. The peer is a loopback address every way.
    """

    def request(
        self,
        method: str,
        path: str,
        *,
        form: Mapping[str, str] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        headers: Headers | None = None,
        cookies: Mapping[str, str] | None = None,
        plain: bool = False,
    ) -> Reply: ...


def _headers(headers: Headers | None, cookies: Mapping[str, str] | None) -> list[tuple[str, str]]:
    merged = list(headers.items() if isinstance(headers, Mapping) else headers or ())
    if cookies:
        merged.append(("Cookie", "; ".join(f"{k}={v}" for k, v in cookies.items())))
    return merged


@dataclass
class HttpxApi:
    """Any httpx client: FastAPI's TestClient, or a real connection to a server."""

    client: httpx.Client
    label: str = "httpx"

    def request(
        self,
        method: str,
        path: str,
        *,
        form: Mapping[str, str] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        headers: Headers | None = None,
        cookies: Mapping[str, str] | None = None,
        plain: bool = False,
    ) -> Reply:
        self.client.cookies.clear()
        url: str | httpx.URL = path
        if plain:
            url = self.client.base_url.copy_with(scheme="http").join(path)
        response = self.client.request(
            method,
            url,
            data=dict(form) if form is not None else None,
            json=json_body,
            content=content,
            headers=_headers(headers, cookies),
        )
        self.client.cookies.clear()
        return Reply(response.status_code, list(response.headers.multi_items()), response.text)


@dataclass
class FlaskClientApi:
    """Flask's own test client, with its cookie jar off."""

    client: Any
    label: str = "flask-test-client"
    #: The peer's address (werkzeug's default is loopback).
    remote_addr: str = "127.0.0.1"
    _unused: list[str] = field(default_factory=list)

    def request(
        self,
        method: str,
        path: str,
        *,
        form: Mapping[str, str] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        headers: Headers | None = None,
        cookies: Mapping[str, str] | None = None,
        plain: bool = False,
    ) -> Reply:
        kwargs: dict[str, Any] = {
            "method": method,
            "headers": _headers(headers, cookies),
            "base_url": "http://localhost" if plain else "https://localhost",
            "environ_overrides": {"REMOTE_ADDR": self.remote_addr},
        }
        if form is not None:
            kwargs["data"] = dict(form)
        elif json_body is not None:
            kwargs["json"] = json_body
        elif content is not None:
            kwargs["data"] = content
        response = self.client.open(path, **kwargs)
        return Reply(response.status_code, list(response.headers.items()), response.get_data(True))


# -------------------------------------------------------------------- examples

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def from_peer(app: Any, peer: tuple[str, int]) -> Any:
    """``app`` as if every request came from ``peer`` (Starlette's TestClient says "testclient").

    An ASGI wrapper rather than ``TestClient(client=...)``, which Starlette
    only has since 0.37.
    """

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = {**scope, "client": peer}
        await app(scope, receive, send)

    return wrapped


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` (the examples are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------- servers


def _free_socket() -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio only disables Nagle for sockets whose
    # proto says TCP, and delayed ACKs would add ~40 ms to every response.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def uvicorn_server(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a free loopback port in a thread; yields its URL."""
    import uvicorn

    sock = _free_socket()
    port = sock.getsockname()[1]
    # No proxy_headers: refreshkit's own trusted_proxies rule is under test, and
    # uvicorn would otherwise rewrite the scheme for any loopback peer.
    config = uvicorn.Config(app, log_level="warning", lifespan="on", proxy_headers=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@contextmanager
def werkzeug_server(app: Any) -> Iterator[str]:
    """Serve a WSGI app with werkzeug on a free loopback port in a thread; yields its URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


def login_options(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The test apps' login options beyond scope and client: device label, lifetimes.

    Lifetimes come as integer microseconds (``idle_ttl_us``, ``absolute_ttl_us``),
    so a spec can check them to the microsecond.
    """
    options: dict[str, Any] = {"device_label": payload.get("device_label")}
    for name in ("idle_ttl", "absolute_ttl"):
        micros = payload.get(name + "_us")
        options[name] = timedelta(microseconds=micros) if micros is not None else None
    return options
