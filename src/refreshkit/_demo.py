"""``refreshkit demo``: the FastAPI example on SQLite, narrated over real HTTP.

The demo starts ``examples/fastapi_app.py`` (shipped inside the wheel as
``refreshkit._examples.fastapi_app``) with uvicorn on a free loopback port,
then walks a client through login, a protected call, access-token expiry,
refresh with rotation, a replayed refresh token, reuse detection and logout,
printing every request and response.

Time is not waited for: the demo server's clock is the real one plus an
offset that only the demo can move, through ``POST /_demo/clock/advance``,
a route that exists only in demo mode and answers only loopback clients.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import importlib.util
import json
import logging
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

from .clock import SystemClock
from .errors import ConfigurationError, RefreshKitError
from .events import Event

try:
    from fastapi import Request
    from fastapi.responses import HTMLResponse, JSONResponse
except ModuleNotFoundError as _missing:  # pragma: no cover - exercised only without the extra
    raise ConfigurationError(
        f"the demo needs {_missing.name}: pip install 'refreshkit[cli]'"
    ) from _missing

__all__ = [
    "BROWSER_PAGE",
    "BROWSER_PAGE_PATH",
    "DemoClock",
    "DemoError",
    "demo_app",
    "narrate",
    "running_server",
]

Write = Callable[[str], None]
_LOOPBACK = frozenset({"127.0.0.1", "::1"})
_SHOWN_HEADERS = ("cache-control", "pragma", "www-authenticate", "retry-after", "set-cookie")


class DemoError(RefreshKitError):
    """A demo step did not answer as refreshkit promises (or the server did not start)."""


class DemoClock:
    """The wall clock plus an offset the demo advances: access tokens expire on cue."""

    def __init__(self) -> None:
        self._system = SystemClock()
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Real time, fast-forwarded by every :meth:`advance` so far."""
        with self._lock:
            return self._system.now() + self._offset

    def advance(self, seconds: float) -> datetime:
        """Move the server's time forward by ``seconds`` (never back)."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        return self.now()


@functools.cache
def load_example() -> ModuleType:
    """The FastAPI example: from the installed package, else from a source checkout."""
    try:
        return importlib.import_module("refreshkit._examples.fastapi_app")
    except ModuleNotFoundError as exc:
        if exc.name not in ("refreshkit._examples", "refreshkit._examples.fastapi_app"):
            raise ConfigurationError(
                f"the demo needs {exc.name}: pip install 'refreshkit[cli]'"
            ) from exc
    source = Path(__file__).resolve().parents[2] / "examples" / "fastapi_app.py"
    spec = importlib.util.spec_from_file_location("refreshkit_example_fastapi_app", source)
    if spec is None or spec.loader is None or not source.exists():
        raise ConfigurationError("the FastAPI example is missing from this installation")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ModuleNotFoundError as exc:
        raise ConfigurationError(
            f"the demo needs {exc.name}: pip install 'refreshkit[cli]'"
        ) from exc
    return module


def demo_app(database_url: str, clock: DemoClock) -> tuple[Any, list[Event]]:
    """The example app on ``database_url`` with ``clock``, plus the demo-only clock route.

    Returns the app and the list its manager's lifecycle events are appended to.
    """
    example = load_example()
    app = example.create_app(database_url, clock=clock)
    events: list[Event] = []
    app.state.refreshkit.manager.hooks.on(None, events.append)
    # The events are narrated; keep the library's log records off the terminal.
    logging.getLogger("refreshkit").addHandler(logging.NullHandler())

    async def advance_clock(request: Request, seconds: float) -> JSONResponse:
        if request.client is None or request.client.host not in _LOOPBACK:
            return JSONResponse({"error": "the demo clock answers loopback only"}, 403)
        if not 0 <= seconds <= 366 * 86400:
            return JSONResponse({"error": "seconds must be between 0 and a year"}, 400)
        return JSONResponse({"server_time": clock.advance(seconds).isoformat()})

    app.add_api_route(
        "/_demo/clock/advance", advance_clock, methods=["POST"], include_in_schema=False
    )

    async def browser_page() -> HTMLResponse:
        return HTMLResponse(BROWSER_PAGE)

    app.add_api_route(BROWSER_PAGE_PATH, browser_page, methods=["GET"], include_in_schema=False)
    return app, events


#: Where the served demo shows refreshkit.js at work (open it in two tabs).
BROWSER_PAGE_PATH = "/_demo/browser"

#: The demo's page for refreshkit.js: sign in, expire the token, call /me in parallel.
BROWSER_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>refreshkit.js demo</title>
<style>body{font:15px system-ui;margin:2em;max-width:50em}pre{background:#eee;padding:1em}
button{margin:.2em}</style></head>
<body>
<h1>refreshkit.js</h1>
<p>Open this page in two tabs. Sign in in one: the other gets the access token too.
Expire it, then call <code>/me</code> ten times at once in each tab: the log shows one
refresh for all of them (the server's events are in the terminal of
<code>refreshkit demo --serve</code>). Sign out in one tab: both are signed out.</p>
<p>
  <button id="login">Sign in as demo</button>
  <button id="expire">Expire the access token (server clock +301 s)</button>
  <button id="calls">Call /me 10 times at once</button>
  <button id="logout">Sign out</button>
</p>
<pre id="log"></pre>
<script type="module">
import { createRefreshKit } from "/refreshkit.js";

const log = (line) => {
  const at = new Date().toLocaleTimeString();
  document.getElementById("log").textContent += at + " " + line + "\\n";
};
const kit = createRefreshKit({ refreshUrl: "/token/refresh", logoutUrl: "/logout" });
window.kit = kit;
kit.addEventListener("refreshed", () => log("this tab refreshed (one refresh for every tab)"));
kit.addEventListener("token", () => log("access token received (held in memory only)"));
kit.addEventListener("signedout", (e) => log("signed out: " + e.detail.reason));
kit.addEventListener("outage", (e) => log("outage: retry in " + e.detail.retryAfter + " ms"));
document.getElementById("login").onclick = async () => {
  const response = await fetch("/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: "demo", password: "correct horse battery staple" }),
  });
  if (response.ok) kit.setTokens(await response.json());
  log("login: " + response.status);
};
document.getElementById("expire").onclick = async () => {
  const response = await fetch("/_demo/clock/advance?seconds=301", { method: "POST" });
  log("server clock advanced: " + response.status + " (the next call gets 401 invalid_token)");
};
document.getElementById("calls").onclick = async () => {
  const statuses = await Promise.all(Array.from({ length: 10 }, async () => {
    try {
      return (await kit.fetch("/me")).status;
    } catch (error) {
      return error.name;
    }
  }));
  log("/me x10: " + statuses.join(" "));
  document.getElementById("log").dataset.calls = statuses.join(" ");
};
document.getElementById("logout").onclick = () => kit.logout();
</script>
</body></html>
"""


@contextmanager
def running_server(app: Any, port: int = 0) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1:``port`` (0: a free one) in a thread.

    Yields the base URL; stops the server on exit. Raises :class:`DemoError`
    when it does not come up within 15 seconds.
    """
    try:
        import uvicorn
    except ModuleNotFoundError as exc:
        raise ConfigurationError("the demo needs uvicorn: pip install 'refreshkit[cli]'") from exc
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        raise DemoError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:  # bounded wait for startup, not for tokens to expire
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise DemoError("the demo server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


@contextmanager
def demo_database(path: str | None) -> Iterator[str]:
    """An SQLite database URL: ``path`` if given (kept), else a temporary file (removed)."""
    if path is not None:
        yield f"sqlite+aiosqlite:///{Path(path).resolve()}"
        return
    with tempfile.TemporaryDirectory(prefix="refreshkit-demo-") as folder:
        yield f"sqlite+aiosqlite:///{Path(folder) / 'demo.db'}"


# ---------------------------------------------------------------- narration


def _short(value: Any) -> Any:
    """Tokens abbreviated for reading: enough to tell them apart, not to use them."""
    if isinstance(value, str) and len(value) > 40 and " " not in value:
        return f"{value[:12]}...{value[-6:]}"
    if isinstance(value, dict):
        return {k: _short(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_short(v) for v in value]
    return value


@dataclass
class _Narrator:
    client: Any  # httpx.Client
    write: Write
    events: list[Event]
    step: int = 0

    def title(self, text: str, explanation: str) -> None:
        self.step += 1
        heading = f"{self.step}. {text}"
        self.write("")
        self.write(heading)
        self.write("=" * len(heading))
        self.write(explanation)

    def note(self, text: str) -> None:
        self.write(f"  => {text}")

    def call(
        self,
        method: str,
        path: str,
        expect: int,
        *,
        headers: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
        json_body: dict[str, str] | None = None,
    ) -> Any:
        self.write("")
        self.write(f"  > {method} {path}")
        for name, value in (headers or {}).items():
            shown = value if name.lower() != "authorization" else f"Bearer {_short(value[7:])}"
            self.write(f"  > {name}: {shown}")
        if form is not None:
            self.write("  > Content-Type: application/x-www-form-urlencoded")
            self.write("  > " + "&".join(f"{k}={_short(v)}" for k, v in form.items()))
        if json_body is not None:
            self.write("  > Content-Type: application/json")
            self.write("  > " + json.dumps(_short(json_body)))
        response = self.client.request(method, path, headers=headers, data=form, json=json_body)
        self.write(f"  < {response.status_code} {response.reason_phrase}")
        for name, value in response.headers.multi_items():
            if name.lower() in _SHOWN_HEADERS:
                self.write(f"  < {name}: {value}")
        body = response.json() if response.content else None
        if body is not None:
            for line in json.dumps(_short(body), indent=2).splitlines():
                self.write(f"  < {line}")
        while self.events:
            event = self.events.pop(0)
            reason = f", reason {event.reason}" if event.reason else ""
            self.write(f"  * server event: {event.name} (session {event.sid}{reason})")
        if response.status_code != expect:
            raise DemoError(
                f"step {self.step}: expected {expect} from {method} {path}, "
                f"got {response.status_code}"
            )
        return body


def narrate(
    base_url: str,
    write: Write = print,
    *,
    events: list[Event] | None = None,
    password: str | None = None,
) -> None:
    """Walk a client through the refresh lifecycle against ``base_url``, printing each exchange.

    ``events`` is the list :func:`demo_app` fills with the server's lifecycle
    events; they are shown after the response that caused them.
    Raises :class:`DemoError` if any response differs from what refreshkit promises.
    """
    import httpx

    example = load_example()
    login_body = {"username": example.DEMO_USER, "password": password or example.DEMO_PASSWORD}
    as_api_client = {"X-Token-Delivery": "body"}
    with httpx.Client(base_url=base_url, timeout=30) as client:
        say = _Narrator(client, write, events if events is not None else [])
        write(f"refreshkit demo: the FastAPI example on SQLite, served at {base_url}")

        say.title(
            "Log in",
            "The app checks the password (scrypt), then refreshkit starts a session:\n"
            "a short-lived signed access token and an opaque, rotating refresh token.",
        )
        first = say.call("POST", "/login", 200, headers=as_api_client, json_body=login_body)

        say.title("Call a protected route", "The access token alone opens /me.")
        say.call("GET", "/me", 200, headers=_bearer(first["access_token"]))

        say.title(
            "Access token expires",
            "Fast-forward the demo server's clock past the access token's 5 minutes\n"
            "(a demo-only, loopback-only route; nobody waits).",
        )
        say.call("POST", f"/_demo/clock/advance?seconds={first['expires_in'] + 1}", 200)
        say.call("GET", "/me", 401, headers=_bearer(first["access_token"]))
        say.note("401 invalid_token with a WWW-Authenticate challenge: time to refresh.")

        say.title(
            "Refresh with rotation",
            "RFC 6749 section 6: the refresh token buys a new pair, and is itself replaced.",
        )
        grant = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
        second = say.call("POST", "/token/refresh", 200, form=grant)
        if second["refresh_token"] == first["refresh_token"]:
            raise DemoError("the refresh token was not rotated")
        say.note("a new refresh token: the old one is now spent.")
        say.call("GET", "/me", 200, headers=_bearer(second["access_token"]))
        retried = say.call("POST", "/token/refresh", 200, form=grant)
        if retried["refresh_token"] != second["refresh_token"]:
            raise DemoError("a retry within the window did not get the same successor")
        say.note(
            "the same spent token again within the retry window (a lost reply, a racing tab):\n"
            "the very same successor comes back, so nobody is logged out."
        )

        say.title(
            "Replay of the old refresh token",
            "Later, someone presents the spent refresh token again, as a thief who copied it\n"
            "would: past the retry window, it is reuse.",
        )
        say.call("POST", "/_demo/clock/advance?seconds=60", 200)
        say.call("POST", "/token/refresh", 400, form=grant)

        say.title(
            "Reuse detected: session revoked",
            "refreshkit cannot tell thief from victim, so it ends the whole session:\n"
            "the newest refresh token and its access token stop working too.",
        )
        newest = {"grant_type": "refresh_token", "refresh_token": second["refresh_token"]}
        say.call("POST", "/token/refresh", 400, form=newest)
        say.call("GET", "/me", 401, headers=_bearer(second["access_token"]))

        say.title("Log out", "A new login, then logout ends that session and its refresh token.")
        third = say.call("POST", "/login", 200, headers=as_api_client, json_body=login_body)
        say.call("POST", "/logout", 204, headers=_bearer(third["access_token"]))
        after = {"grant_type": "refresh_token", "refresh_token": third["refresh_token"]}
        say.call("POST", "/token/refresh", 400, form=after)

        write("")
        write("Done: every exchange above went over real HTTP to the example app.")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def curl_lines(base_url: str) -> list[str]:
    """Commands to try against a served demo."""
    example = load_example()
    login = json.dumps({"username": example.DEMO_USER, "password": example.DEMO_PASSWORD})
    return [
        f"curl -s -X POST {base_url}/login -H 'X-Token-Delivery: body' "
        f"-H 'Content-Type: application/json' -d '{login}'",
        f'curl -s {base_url}/me -H "Authorization: Bearer $ACCESS"',
        f"curl -s -X POST {base_url}/token/refresh "
        '-d grant_type=refresh_token -d "refresh_token=$REFRESH"',
        f'curl -s -X POST {base_url}/token/revoke -d "token=$REFRESH"',
        f"curl -s {base_url}/.well-known/jwks.json",
        f"curl -s -X POST '{base_url}/_demo/clock/advance?seconds=301'",
    ]
