"""A tiny FastAPI app protected by refreshkit, on an embedded SQLite file.

Run it::

    pip install 'refreshkit[cli]'
    python examples/fastapi_app.py            # http://127.0.0.1:8000
    # or: uvicorn --factory fastapi_app:create_app

Sign in as ``demo`` / ``correct horse battery staple`` on the page at ``/``,
or from a terminal::

    curl -s -X POST http://127.0.0.1:8000/login -H 'X-Token-Delivery: body' \\
         -H 'Content-Type: application/json' \\
         -d '{"username": "demo", "password": "correct horse battery staple"}'

Browsers get the refresh token in an HttpOnly cookie (cookie mode, with a
double-submit CSRF token); API clients that send ``X-Token-Delivery: body``
get it in the JSON body, as the README's ``refreshkit.client`` example does.
``/login`` reads the password from a form or JSON body, never from the URL.
The token routes (``/token/refresh``, ``/token/revoke``, ``/token/introspect``,
``/logout``, ``/sessions``, ``/.well-known/jwks.json``) come from
:class:`refreshkit.adapters.fastapi.RefreshKit`.

Three OAuth clients are registered: ``spa`` (this page, public, the default
for requests that name no client), ``backend`` (confidential: Basic or body
credentials) and ``resource-server`` (confidential, may introspect). Their
secrets come from ``EXAMPLE_BACKEND_SECRET`` / ``EXAMPLE_RESOURCE_SERVER_SECRET``,
or are made fresh at each start and printed.
"""

import hashlib
import hmac
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from refreshkit import (
    AccessClaims,
    AsyncTokenManager,
    Client,
    Clock,
    KeySet,
    Settings,
    SigningKey,
)
from refreshkit.adapters.fastapi import RefreshKit
from refreshkit.backends.sql import migrate

DEFAULT_DATABASE = "sqlite+aiosqlite:///refreshkit-example.db"
DEMO_USER = "demo"
DEMO_PASSWORD = "correct horse battery staple"


def _client_secret(variable: str) -> str:
    """A client secret from the environment, or a fresh random one for this run."""
    return os.environ.get(variable) or secrets.token_urlsafe(32)


BACKEND_SECRET = _client_secret("EXAMPLE_BACKEND_SECRET")
RESOURCE_SERVER_SECRET = _client_secret("EXAMPLE_RESOURCE_SERVER_SECRET")


def example_clients() -> tuple[Client, ...]:
    """The browser page, a confidential backend, and a resource server that introspects."""
    return (
        Client.public("spa"),
        Client.confidential_with_secret("backend", BACKEND_SECRET),
        Client.confidential_with_secret(
            "resource-server", RESOURCE_SERVER_SECRET, introspection=True
        ),
    )


class PasswordBook:
    """Users and their scrypt password hashes: never a plain-text compare."""

    def __init__(self) -> None:
        self._hashes: dict[str, tuple[bytes, bytes]] = {}

    @staticmethod
    def _hash(password: str, salt: bytes) -> bytes:
        return hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)

    def add(self, username: str, password: str) -> None:
        salt = secrets.token_bytes(16)
        self._hashes[username] = (salt, self._hash(password, salt))

    def check(self, username: str, password: str) -> bool:
        salt, expected = self._hashes.get(username, (b"\0" * 16, b""))
        # Hash even for unknown users, so timing does not reveal which names exist.
        return hmac.compare_digest(self._hash(password, salt), expected) and bool(expected)


def example_keys() -> KeySet:
    """The key from REFRESHKIT_PRIVATE_KEY (PEM), or a fresh Ed25519 key per start."""
    pem = os.environ.get("REFRESHKIT_PRIVATE_KEY")
    return KeySet(SigningKey.from_pem(pem)) if pem else KeySet.generate("EdDSA")


def create_app(
    database_url: str = DEFAULT_DATABASE,
    *,
    clock: Clock | None = None,
    keys: KeySet | None = None,
) -> FastAPI:
    """Build the example application (``clock`` lets the demo fast-forward time)."""
    settings = Settings(
        store_url=database_url,
        access_ttl="5m",
        refresh_idle_ttl="7d",
        refresh_absolute_ttl="30d",
        cookie_mode=True,  # browsers: HttpOnly refresh cookie + CSRF token
        body_mode=True,  # API clients: refresh_token in the JSON body
        clients=example_clients(),
        default_client="spa",  # a request naming no client is the browser page
    )
    migrate.upgrade(database_url)  # create or update the tables
    manager = AsyncTokenManager(settings, keys=keys or example_keys(), clock=clock)
    kit = RefreshKit(manager, online=True)  # online: logout and theft cut access at once
    users = PasswordBook()
    users.add(DEMO_USER, DEMO_PASSWORD)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await manager.aclose()

    app = FastAPI(title="refreshkit example", lifespan=lifespan)
    kit.install(app)
    app.state.refreshkit = kit

    @app.post("/login", responses={401: {"description": "Wrong username or password"}})
    async def login(request: Request, response: Response) -> Any:
        """Check the password, then let refreshkit start the session."""
        is_json = request.headers.get("content-type", "").startswith("application/json")
        form: Any = await request.json() if is_json else await request.form()
        username, password = str(form.get("username", "")), str(form.get("password", ""))
        if not users.check(username, password):
            return JSONResponse({"error": "wrong username or password"}, status_code=401)
        return await kit.login(request, response, username, scope=["profile"])

    @app.get("/me", responses=kit.error_responses)
    async def me(claims: Annotated[AccessClaims, Depends(kit.require(scopes=["profile"]))]) -> Any:
        """A protected route: who is signed in."""
        return {"user": claims.subject, "session": claims.sid, "expires_at": claims.expires_at}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> str:
        return PAGE

    return app


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>refreshkit example</title>
<style>body{font:15px system-ui;margin:2em;max-width:50em}pre{background:#eee;padding:1em}
button{margin:.2em}</style></head>
<body>
<h1>refreshkit example</h1>
<form id="login-form">
  <input id="username" name="username" value="demo">
  <input id="password" name="password" type="password" value="correct horse battery staple">
  <button id="login" type="submit">Sign in</button>
</form>
<p>
  <button id="me">Call /me</button>
  <button id="refresh">Refresh (with CSRF token)</button>
  <button id="refresh-no-csrf">Refresh without CSRF token</button>
  <button id="show-cookies">Show document.cookie</button>
  <button id="logout">Sign out</button>
</p>
<pre id="out">Signed out.</pre>
<script>
let accessToken = null;  // in memory only; the refresh token never reaches this script
const out = document.getElementById("out");
const show = (label, status, body) => {
  out.textContent = label + " -> " + status + "\\n" + JSON.stringify(body, null, 2);
  out.dataset.status = String(status);
};
const csrfToken = () => {
  const found = document.cookie.split("; ").find((c) => c.startsWith("__Host-refresh_csrf="));
  return found ? found.split("=")[1] : "";
};
const readJson = async (response) => {
  const text = await response.text();
  return text ? JSON.parse(text) : null;
};
document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const response = await fetch("/login", {
    method: "POST", credentials: "include", body: new FormData(event.target),
  });
  const body = await readJson(response);
  if (response.ok) accessToken = body.access_token;
  show("login", response.status, body);
});
const refresh = async (withCsrf) => {
  const headers = {"Content-Type": "application/x-www-form-urlencoded"};
  if (withCsrf) headers["X-CSRF-Token"] = csrfToken();
  const response = await fetch("/token/refresh", {
    method: "POST", credentials: "include", headers, body: "grant_type=refresh_token",
  });
  const body = await readJson(response);
  if (response.ok) accessToken = body.access_token;
  show(withCsrf ? "refresh" : "refresh without CSRF", response.status, body);
};
document.getElementById("refresh").onclick = () => refresh(true);
document.getElementById("refresh-no-csrf").onclick = () => refresh(false);
document.getElementById("me").onclick = async () => {
  const response = await fetch("/me", {headers: {Authorization: "Bearer " + accessToken}});
  show("/me", response.status, await readJson(response));
};
document.getElementById("show-cookies").onclick = () => {
  show("document.cookie", 200, {cookie: document.cookie});
};
document.getElementById("logout").onclick = async () => {
  const response = await fetch("/logout", {
    method: "POST", credentials: "include", headers: {Authorization: "Bearer " + accessToken},
  });
  accessToken = null;
  show("logout", response.status, await readJson(response));
};
</script>
</body></html>
"""


if __name__ == "__main__":
    import uvicorn

    print(f"client secrets: backend={BACKEND_SECRET} resource-server={RESOURCE_SERVER_SECRET}")
    uvicorn.run(create_app(), host="127.0.0.1", port=8000)
