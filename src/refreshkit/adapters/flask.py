"""Flask integration: an extension, its blueprint, ``@require_access`` and ``current_claims``.

::

    app.config["REFRESHKIT_PRIVATE_KEY"] = pem_text
    app.config["REFRESHKIT_STORE_URL"] = "sqlite:///app.db"
    kit = RefreshKit(app)  # or kit = RefreshKit(); kit.init_app(app)

    @app.get("/me")
    @require_access(scopes=["profile"])
    def me():
        return {"user": current_claims.subject}

The blueprint serves the same routes as the FastAPI adapter:
``POST <prefix>/token/refresh``, ``POST <prefix>/token/revoke``,
``POST <prefix>/token/introspect``, ``POST <prefix>/logout``,
``GET <prefix>/sessions``, ``DELETE <prefix>/sessions/<sid>`` and
``GET /.well-known/jwks.json``. The three token endpoints authenticate the
OAuth client and refuse plain HTTP.
Flask uses the sync :class:`~refreshkit.TokenManager`; every HTTP rule lives
in :mod:`refreshkit.adapters._http`.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast, overload

from ..errors import ConfigurationError, MissingExtraError, RefreshKitError

try:
    from flask import Blueprint, Flask, Response, current_app, g, request
    from werkzeug.exceptions import HTTPException
    from werkzeug.local import LocalProxy
except ImportError as _missing:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError(
        f"refreshkit.adapters.flask needs Flask ({_missing.name}): pip install 'refreshkit[flask]'"
    ) from _missing

from .._sync.manager import TokenManager
from ..config import Settings
from ..keys import KeySet
from ..models import AccessClaims
from . import _http

__all__ = ["AccessRefusedError", "RefreshKit", "current_claims", "render", "require_access"]

EXTENSION_KEY = "refreshkit"
View = TypeVar("View", bound=Callable[..., Any])
DeviceResolver = Callable[[], str | None]


class AccessRefusedError(HTTPException):
    """Raised by :func:`require_access`; carries the complete RFC 6750 response."""

    def __init__(self, response: _http.HttpResponse) -> None:
        super().__init__(description=str(response.body), response=render(response))
        self.code: int | None = response.status


def render(response: _http.HttpResponse) -> Response:
    """A Flask response for a framework-neutral one (one ``Set-Cookie`` per cookie)."""
    body = "" if response.body is None else json.dumps(response.body)
    mimetype = None if response.body is None else "application/json"
    rendered = Response(body, status=response.status, mimetype=mimetype)
    for name, value in response.header_items():
        rendered.headers.add(name, value)
    return rendered


@dataclass(frozen=True, slots=True)
class _AppState:
    """What one application's extension holds."""

    manager: TokenManager
    online: bool
    realm: str
    device: DeviceResolver | None

    def device_id(self) -> str | None:
        return self.device() if self.device is not None else None


def _state() -> _AppState:
    state = current_app.extensions.get(EXTENSION_KEY)
    if not isinstance(state, _AppState):
        raise ConfigurationError("refreshkit is not initialised: call RefreshKit(app)")
    return state


class RefreshKit:
    """The Flask extension.

    Without ``manager`` it builds a :class:`~refreshkit.TokenManager` from the
    application's ``REFRESHKIT_*`` config (``keys`` overrides the key the
    config names). ``online=True`` makes :func:`require_access` also check
    revocation in the store. ``device`` returns the current request's device
    identifier for device-bound sessions.
    Raises :class:`~refreshkit.errors.ConfigurationError` for bad config.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        manager: TokenManager | None = None,
        keys: KeySet | None = None,
        online: bool = False,
        device: DeviceResolver | None = None,
        realm: str = "refreshkit",
    ) -> None:
        self._manager = manager
        self._keys = keys
        self._online = online
        self._device = device
        self._realm = realm
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Attach to ``app``: register the blueprint and the error handler."""
        manager = self._manager
        if manager is None:
            settings = Settings.from_mapping(app.config, prefix="REFRESHKIT_")
            manager = TokenManager(settings, keys=self._keys)
        _http.check_cookie_names(manager.settings)
        app.extensions[EXTENSION_KEY] = _AppState(manager, self._online, self._realm, self._device)
        app.register_blueprint(_blueprint(manager.settings))
        app.register_error_handler(RefreshKitError, _render_error)

    @property
    def manager(self) -> TokenManager:
        """The current application's manager (inside an app context)."""
        return _state().manager

    def login(
        self,
        subject: str,
        *,
        scope: str | Iterable[str] | None = None,
        claims: Mapping[str, Any] | None = None,
        delivery: _http.TokenDelivery | None = None,
        client_id: str | None = None,
    ) -> Response:
        """Start a session for ``subject`` once the application has checked the password.

        Returns the response for the view to return: the RFC 6749 §5.1 body
        with ``no-store`` and, in cookie mode, the refresh and CSRF cookies.
        ``client_id`` binds the session to that client at once (and its
        settings choose the delivery); without it the first client to
        refresh it is bound.
        Raises :class:`~refreshkit.errors.StoreError` when the store fails.
        """
        state = _state()
        settings = state.manager.clients.settings_for(client_id)
        chosen = _http.choose_delivery(_headers(), settings, delivery)
        pair = state.manager.issue(
            subject, device=state.device_id(), claims=claims, scope=scope, client_id=client_id
        )
        return render(_http.token_response(pair, chosen, state.manager.clock.now(), settings))


# ----------------------------------------------------------------- decorator


def _authenticate(scopes: tuple[str, ...], online: bool | None) -> None:
    """Verify the request's access token into ``g``, or raise :class:`AccessRefusedError`."""
    state = _state()
    try:
        token = _http.bearer_token(request.headers.getlist("Authorization"))
        if token is None:
            raise AccessRefusedError(_http.access_error_response(None, realm=state.realm))
        check_online = state.online if online is None else online
        verify = state.manager.verify_access_online if check_online else state.manager.verify_access
        g.refreshkit_claims = verify(token, device=state.device_id(), scopes=scopes)
    except RefreshKitError as exc:
        raise AccessRefusedError(_http.access_error_response(exc, realm=state.realm)) from None


@overload
def require_access(view: View, /) -> View: ...
@overload
def require_access(
    *, scopes: Iterable[str] = (), online: bool | None = None
) -> Callable[[View], View]: ...
def require_access(
    view: View | None = None, /, *, scopes: Iterable[str] = (), online: bool | None = None
) -> View | Callable[[View], View]:
    """Require a valid access token (and every scope in ``scopes``) for a view.

    Works on sync and ``async def`` views, bare (``@require_access``) or
    called (``@require_access(scopes=["admin"])``). Inside the view,
    :data:`current_claims` holds the verified claims. Refuses with 401, 403,
    400 or 503 (store outage, online checks only) as RFC 6750 responses.
    """
    required = tuple(scopes)

    def decorate(fn: View) -> View:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_view(*args: Any, **kwargs: Any) -> Any:
                _authenticate(required, online)
                return await fn(*args, **kwargs)

            return cast(View, async_view)

        @functools.wraps(fn)
        def sync_view(*args: Any, **kwargs: Any) -> Any:
            _authenticate(required, online)
            return fn(*args, **kwargs)

        return cast(View, sync_view)

    return decorate(view) if view is not None else decorate


def _current_claims() -> AccessClaims:
    claims = g.get("refreshkit_claims")
    if not isinstance(claims, AccessClaims):
        raise RuntimeError("no verified access token here: decorate the view with @require_access")
    return claims


#: The verified claims of the current request (inside a ``@require_access`` view).
current_claims: AccessClaims = cast(AccessClaims, LocalProxy(_current_claims))


# ------------------------------------------------------------------- routes


def _headers() -> dict[str, str]:
    return dict(request.headers.items())


def _fields() -> dict[str, str]:
    """The token request's parameters, read no further than the size cap."""
    body = _http.CappedBody(request.headers.get("Content-Length"))
    stream = request.stream
    while chunk := stream.read(body.read_size()):
        body.feed(chunk)
    return _http.parse_fields(request.content_type, body.value())


def _token_request(manager: TokenManager) -> tuple[dict[str, str], str | None]:
    """TLS, the body's parameters and the authenticated client of a token endpoint.

    Raises :class:`_http.BadRequestError` (plain HTTP, a malformed body) or
    :class:`~refreshkit.errors.InvalidClientError`.
    """
    _http.check_tls(request.scheme, request.remote_addr, _headers(), manager.settings)
    fields = _fields()
    credentials = _http.client_credentials(request.headers.getlist("Authorization"), fields)
    return fields, manager.clients.authenticate(credentials)


def refresh_token() -> Response:
    """``POST <prefix>/token/refresh``: RFC 6749 §6."""
    state = _state()
    manager = state.manager
    try:
        fields, client_id = _token_request(manager)
        settings = manager.clients.settings_for(client_id)
        parsed = _http.read_refresh_request(fields, request.cookies, _headers(), settings)
        pair = manager.refresh(
            parsed.refresh_token,
            device=state.device_id(),
            client_id=client_id,
            scope=parsed.scope,
        )
    except RefreshKitError as exc:
        return render(_http.token_error_response(exc, realm=state.realm))
    return render(_http.token_response(pair, parsed.delivery, manager.clock.now(), settings))


def revoke_token() -> Response:
    """``POST <prefix>/token/revoke``: RFC 7009, 200 also for unknown tokens."""
    state = _state()
    manager = state.manager
    try:
        fields, client_id = _token_request(manager)
        parsed = _http.read_revocation_request(fields)
        if _http.revocation_target(parsed) == "refresh_token":
            manager.revoke(parsed.token, client_id=client_id)
        else:
            manager.revoke_access_token(parsed.token, client_id=client_id)
    except RefreshKitError as exc:
        return render(_http.revocation_error_response(exc, realm=state.realm))
    return render(_http.revocation_response())


def introspect_token() -> Response:
    """``POST <prefix>/token/introspect``: RFC 7662, for clients allowed to introspect."""
    state = _state()
    manager = state.manager
    try:
        fields, client_id = _token_request(manager)
        _http.check_introspector(manager.clients.get(client_id))
        answer = manager.introspect(_http.read_introspection_request(fields).token)
    except RefreshKitError as exc:
        return render(_http.token_error_response(exc, realm=state.realm))
    return render(_http.introspection_response(answer))


@require_access
def logout() -> Response:
    """``POST <prefix>/logout``: end the current session, clear the cookies."""
    manager = _state().manager
    manager.revoke_session(current_claims.sid, reason="logout")
    manager.revoke_access(current_claims.jti, current_claims.expires)
    return render(_http.logout_response(manager.settings))


@require_access
def list_sessions() -> Response:
    """``GET <prefix>/sessions``: the signed-in user's live sessions."""
    sessions = _state().manager.sessions(current_claims.subject)
    return render(_http.sessions_response(sessions, current_claims))


@require_access
def end_session(sid: str) -> Response:
    """``DELETE <prefix>/sessions/<sid>``: end one of the user's own sessions (404 otherwise)."""
    manager = _state().manager
    if not _http.owns_session(manager.sessions(current_claims.subject), sid):
        return render(_http.not_found_response("no such session"))
    manager.revoke_session(sid, reason="ended_by_user")
    return render(_http.no_content_response())


def jwks() -> Response:
    """``GET /.well-known/jwks.json``: the public verification keys."""
    return render(_http.jwks_response(_state().manager.keys.jwks()))


def _blueprint(settings: Settings) -> Blueprint:
    prefix = settings.url_prefix
    blueprint = Blueprint("refreshkit", __name__)
    blueprint.add_url_rule(f"{prefix}/token/refresh", view_func=refresh_token, methods=["POST"])
    blueprint.add_url_rule(f"{prefix}/token/revoke", view_func=revoke_token, methods=["POST"])
    blueprint.add_url_rule(
        f"{prefix}/token/introspect", view_func=introspect_token, methods=["POST"]
    )
    blueprint.add_url_rule(f"{prefix}/logout", view_func=logout, methods=["POST"])
    blueprint.add_url_rule(f"{prefix}/sessions", view_func=list_sessions, methods=["GET"])
    blueprint.add_url_rule(f"{prefix}/sessions/<sid>", view_func=end_session, methods=["DELETE"])
    blueprint.add_url_rule("/.well-known/jwks.json", view_func=jwks, methods=["GET"])
    return blueprint


def _render_error(exc: RefreshKitError) -> Response:
    """Errors escaping application code: 503 for outages, RFC 6750 for tokens."""
    return render(_http.access_error_response(exc, realm=_state().realm))
