"""A tiny Flask app protected by refreshkit, on an embedded SQLite file.

Run it::

    pip install 'refreshkit[flask,sql]'
    python examples/flask_app.py              # http://127.0.0.1:5000
    # or: flask --app flask_app:create_app run

Then::

    curl -s -X POST http://127.0.0.1:5000/login -H 'X-Token-Delivery: body' \\
         -H 'Content-Type: application/json' \\
         -d '{"username": "demo", "password": "correct horse battery staple"}'
    curl -s http://127.0.0.1:5000/me -H "Authorization: Bearer $ACCESS"

Browsers get the refresh token in an HttpOnly cookie; API clients that send
``X-Token-Delivery: body`` (as the README's ``refreshkit.client`` example does)
get it in the JSON body. ``/login`` reads a form or JSON body, never the URL.
refreshkit reads its settings from ``REFRESHKIT_*`` keys of the Flask config
and adds the token routes (``/token/refresh``, ``/token/revoke``,
``/token/introspect``, ``/logout``, ``/sessions``, ``/.well-known/jwks.json``).

Three OAuth clients are registered, as in the FastAPI example: ``spa``
(public, the default), ``backend`` (confidential) and ``resource-server``
(confidential, may introspect); their secrets come from
``EXAMPLE_BACKEND_SECRET`` / ``EXAMPLE_RESOURCE_SERVER_SECRET`` or are made
fresh at each start and printed.
"""

import hashlib
import hmac
import os
import secrets
from typing import Any

from flask import Flask, jsonify, request

from refreshkit import Client, KeySet
from refreshkit.adapters.flask import RefreshKit, current_claims, require_access
from refreshkit.backends.sql import migrate

DEFAULT_DATABASE = "sqlite:///refreshkit-flask-example.db"
DEMO_USER = "demo"
DEMO_PASSWORD = "correct horse battery staple"


def _scrypt(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)


_SALT = secrets.token_bytes(16)
USERS = {DEMO_USER: _scrypt(DEMO_PASSWORD, _SALT)}  # username -> scrypt hash


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


def check_password(username: str, password: str) -> bool:
    """Constant-time comparison of scrypt hashes; unknown users cost the same."""
    expected = USERS.get(username, b"")
    return hmac.compare_digest(_scrypt(password, _SALT), expected) and bool(expected)


def create_app(database_url: str = DEFAULT_DATABASE, **config: Any) -> Flask:
    """Build the example application; ``config`` overrides Flask config keys."""
    app = Flask(__name__)
    app.config.update(
        REFRESHKIT_STORE_URL=database_url,
        REFRESHKIT_ACCESS_TTL="5m",
        REFRESHKIT_COOKIE_MODE=True,  # browsers: HttpOnly refresh cookie + CSRF token
        REFRESHKIT_BODY_MODE=True,  # API clients: refresh_token in the JSON body
        REFRESHKIT_CLIENTS=example_clients(),
        REFRESHKIT_DEFAULT_CLIENT="spa",  # a request naming no client is the browser
    )
    app.config.update(config)
    migrate.upgrade(app.config["REFRESHKIT_STORE_URL"])  # create or update the tables
    # The signing key: REFRESHKIT_PRIVATE_KEY (PEM) from the config or the environment,
    # else a fresh Ed25519 key per start.
    pem = app.config.get("REFRESHKIT_PRIVATE_KEY") or os.environ.get("REFRESHKIT_PRIVATE_KEY")
    app.config["REFRESHKIT_PRIVATE_KEY"] = pem
    kit = RefreshKit(app, keys=None if pem else KeySet.generate("EdDSA"))

    @app.post("/login")
    def login() -> Any:
        """Check the password, then let refreshkit start the session."""
        form = request.get_json(silent=True) or request.form
        username, password = str(form.get("username", "")), str(form.get("password", ""))
        if not check_password(username, password):
            return jsonify(error="wrong username or password"), 401
        return kit.login(username, scope=["profile"])

    @app.get("/me")
    @require_access(scopes=["profile"])
    def me() -> Any:
        """A protected route: who is signed in."""
        return {"user": current_claims.subject, "session": current_claims.sid}

    return app


if __name__ == "__main__":
    print(f"client secrets: backend={BACKEND_SECRET} resource-server={RESOURCE_SERVER_SECRET}")
    create_app().run(host="127.0.0.1", port=5000)
