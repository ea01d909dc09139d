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
Flask uses the sync :class:`~refreshkit.TokenManager`; every flow lives in
:mod:`refreshkit.adapters._flows`, which this module only drives.
:func:`require` is :func:`require_access` under the FastAPI adapter's name.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
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
from . import _flows, _http

__all__ = [
    "AccessRefusedError",
    "RefreshKit",
    "current_claims",
    "render",
    "require",
    "require_access",
]

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
    if isinstance(response.body, bytes):
        rendered = Response(response.body, response.status, content_type=response.media_type)
    else:
        body = "" if response.body is None else json.dumps(response.body)
        mimetype = None if response.body is None else "application/json"
        rendered = Response(body, status=response.status, mimetype=mimetype)
    for name, value in response.header_items():
        rendered.headers.add(name, value)
    return rendered


@dataclasses.dataclass(frozen=True, slots=True)
class _AppState:
    """What one application's extension holds."""

    manager: TokenManager
    online: bool
    realm: str
    device: DeviceResolver | None
    context: _flows.FlowContext

    def device_id(self) -> str | None:
        return self.device() if self.device is not None else None

    def serve(self, flow: _flows.Flow[_http.HttpResponse]) -> Response:
        """Run a flow with this application's manager and render its response."""
        return render(_flows.run_sync(flow, self.manager))


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
        context = _flows.FlowContext.of(manager, self._realm)
        app.extensions[EXTENSION_KEY] = _AppState(
            manager, self._online, self._realm, self._device, context
        )
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
        device_label: str | None = None,
        idle_ttl: timedelta | None = None,
        absolute_ttl: timedelta | None = None,
    ) -> Response:
        """Start a session for ``subject`` once the application has checked the password.

        Returns the response for the view to return: the RFC 6749 §5.1 body
        with ``no-store`` and, in cookie mode, the refresh and CSRF cookies.
        ``client_id`` binds the session to that client at once (and its
        settings choose the delivery); without it the first client to
        refresh it is bound. The session records the request's user agent
        and client IP, and ``device_label``; ``idle_ttl`` / ``absolute_ttl``
        shorten its lifetimes (remember me, see :doc:`/sessions`).
        Raises :class:`~refreshkit.errors.StoreError` when the store fails.
        """
        state = _state()
        flow = _flows.login(
            _neutral(),
            state.context,
            subject,
            scope=scope,
            claims=claims,
            delivery=delivery,
            client_id=client_id,
            device=state.device_id(),
            device_label=device_label,
            idle_ttl=idle_ttl,
            absolute_ttl=absolute_ttl,
        )
        return state.serve(flow)


# ----------------------------------------------------------------- decorator


def _authenticate(
    scopes: tuple[str, ...], online: bool | None, max_age: timedelta | int | None = None
) -> None:
    """Verify the request's access token into ``g``, or raise :class:`AccessRefusedError`."""
    state = _state()
    check_online = state.online if online is None else online
    flow = _flows.access(
        _neutral(),
        state.context,
        scopes=scopes,
        online=check_online,
        device=state.device_id(),
        max_age=max_age,
    )
    claims = _flows.run_sync(flow, state.manager)
    if isinstance(claims, _http.HttpResponse):
        raise AccessRefusedError(claims)
    g.refreshkit_claims = claims


@overload
def require_access(view: View, /) -> View: ...
@overload
def require_access(
    *,
    scopes: Iterable[str] = (),
    online: bool | None = None,
    max_age: timedelta | int | None = None,
) -> Callable[[View], View]: ...
def require_access(
    view: View | None = None,
    /,
    *,
    scopes: Iterable[str] = (),
    online: bool | None = None,
    max_age: timedelta | int | None = None,
) -> View | Callable[[View], View]:
    """Require a valid access token (and every scope in ``scopes``) for a view.

    Works on sync and ``async def`` views, bare (``@require_access``) or
    called (``@require_access(scopes=["admin"])``). Inside the view,
    :data:`current_claims` holds the verified claims. Refuses with 401, 403,
    400 or 503 (store outage, online checks only) as RFC 6750 responses.
    ``max_age`` (seconds or a timedelta) requires that the user
    authenticated at most that long ago: 401
    ``insufficient_user_authentication`` with ``max_age`` (RFC 9470).
    """
    required = tuple(scopes)

    def decorate(fn: View) -> View:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_view(*args: Any, **kwargs: Any) -> Any:
                _authenticate(required, online, max_age)
                return await fn(*args, **kwargs)

            return cast(View, async_view)

        @functools.wraps(fn)
        def sync_view(*args: Any, **kwargs: Any) -> Any:
            _authenticate(required, online, max_age)
            return fn(*args, **kwargs)

        return cast(View, sync_view)

    return decorate(view) if view is not None else decorate


def _current_claims() -> AccessClaims:
    claims = g.get("refreshkit_claims")
    if not isinstance(claims, AccessClaims):
        raise RuntimeError("no verified access token here: decorate the view with @require_access")
    return claims


#: :func:`require_access` under the name the FastAPI adapter uses.
require = require_access


#: The verified claims of the current request (inside a ``@require_access`` view).
current_claims: AccessClaims = cast(AccessClaims, LocalProxy(_current_claims))


# ------------------------------------------------------------------- routes


def _neutral(body: bytes = b"", refusal: _http.BadRequestError | None = None) -> _flows.HttpRequest:
    """The flows' view of the current request (the body, when read, passed in)."""
    return _flows.HttpRequest(
        method=request.method,
        scheme=request.scheme,
        peer=request.remote_addr,
        headers=tuple(request.headers.items()),
        cookies=request.cookies,
        body=body,
        content_type=request.content_type,
        body_refusal=refusal,
    )


def _token_request() -> _flows.HttpRequest:
    """A token endpoint's request with its body, read no further than the size cap."""
    try:
        body = _http.CappedBody(request.headers.get("Content-Length"))
        stream = request.stream
        while chunk := stream.read(body.read_size()):
            body.feed(chunk)
    except _http.BadRequestError as refusal:
        return _neutral(refusal=refusal)
    return _neutral(body.value())


def _view(endpoint: _flows.Endpoint) -> Callable[..., Response]:
    """The Flask view of one shared endpoint."""

    def view(**path_params: str) -> Response:
        state = _state()
        neutral = _token_request() if endpoint.reads_body else _neutral()
        neutral = dataclasses.replace(neutral, path_params=path_params)
        flow = endpoint.flow(neutral, state.context, online=state.online, device=state.device_id())
        return state.serve(flow)

    view.__name__ = view.__qualname__ = endpoint.name
    return view


def _blueprint(settings: Settings) -> Blueprint:
    blueprint = Blueprint("refreshkit", __name__)
    for endpoint in _flows.ENDPOINTS:
        path = endpoint.full_path(settings, "<{}>")
        blueprint.add_url_rule(path, endpoint.name, _view(endpoint), methods=[endpoint.method])
    return blueprint


def _render_error(exc: RefreshKitError) -> Response:
    """Errors escaping application code: 503 for outages, RFC 6750 for tokens."""
    return render(_http.access_error_response(exc, realm=_state().realm))
