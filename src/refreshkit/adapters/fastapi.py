"""FastAPI integration: a dependency for protected routes and the token router.

::

    kit = RefreshKit(AsyncTokenManager(settings, keys=keys, store="sqlite+aiosqlite:///app.db"))
    kit.install(app)  # the token routes and the error handlers

    @app.get("/me")
    async def me(claims: AccessClaims = Depends(kit.require())):
        return {"user": claims.subject}

Routes (``<prefix>`` is ``settings.url_prefix``): ``POST <prefix>/token/refresh``
(RFC 6749 §6), ``POST <prefix>/token/revoke`` (RFC 7009),
``POST <prefix>/token/introspect`` (RFC 7662), ``POST <prefix>/logout``,
``GET <prefix>/sessions``, ``DELETE <prefix>/sessions/{sid}`` and
``GET /.well-known/jwks.json``. The three token endpoints authenticate the
OAuth client and refuse plain HTTP. Every flow lives in
:mod:`refreshkit.adapters._flows` (every HTTP rule in ``_http``); this
module only translates Starlette requests and responses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from ..errors import MissingExtraError, RefreshKitError

try:
    from fastapi import APIRouter, Depends, FastAPI, Request, Response
    from fastapi.exceptions import HTTPException
    from fastapi.responses import JSONResponse
    from fastapi.security import HTTPAuthorizationCredentials, HTTPBasic, HTTPBearer
    from pydantic import BaseModel, Field
except ImportError as _missing:  # pragma: no cover - exercised only without the extra
    hint = "pip install 'refreshkit[fastapi]'"
    raise MissingExtraError(
        f"refreshkit.adapters.fastapi needs FastAPI ({_missing.name}): {hint}"
    ) from _missing

from .._async.manager import AsyncTokenManager
from ..config import Settings
from ..models import AccessClaims
from . import _flows, _http

__all__ = [
    "AccessErrorBody",
    "OAuthErrorBody",
    "RefreshKit",
    "RefreshKitHTTPException",
    "TokenResponseBody",
]

DeviceResolver = Callable[[Request], str | None]


class TokenResponseBody(BaseModel):
    """RFC 6749 §5.1 successful token response (``refresh_token`` absent in cookie mode)."""

    access_token: str
    #: Required by RFC 6749 §5.1, so required in the schema too: always ``Bearer``.
    token_type: str = Field(examples=["Bearer"])
    expires_in: int
    refresh_token: str | None = None
    scope: str | None = None


class OAuthErrorBody(BaseModel):
    """RFC 6749 §5.2 / RFC 6750 §3 error body."""

    error: str
    error_description: str | None = None


class AccessErrorBody(BaseModel):
    """A protected route's refusal: no ``error`` when no credentials came (RFC 6750 §3.1)."""

    error: str | None = None
    error_description: str | None = None


class SessionBody(BaseModel):
    """One of the signed-in user's sessions (a device)."""

    sid: str
    created_at: str
    last_used_at: str
    expires_at: str
    scope: str | None = None
    current: bool
    user_agent: str | None = None
    #: The client IP as ``Settings.session_ip`` keeps it (plain, truncated or hashed).
    ip: str | None = None
    device_label: str | None = None
    client_id: str | None = None


class SessionsBody(BaseModel):
    """The signed-in user's live sessions, most recently used first."""

    sessions: list[SessionBody]


class EndedSessionsBody(BaseModel):
    """How many sessions "sign out other devices" ended."""

    ended: int


class IntrospectionBody(BaseModel, extra="allow"):
    """RFC 7662 §2.2: ``active``, and for an active token its members."""

    active: bool
    scope: str | None = None
    client_id: str | None = None
    token_type: str | None = None
    exp: int | None = None
    iat: int | None = None
    nbf: int | None = None
    sub: str | None = None
    aud: str | list[str] | None = None
    iss: str | None = None
    jti: str | None = None


class _ClientSecretBasic(HTTPBasic):
    """Documents ``client_secret_basic`` in the OpenAPI schema; reads nothing.

    FastAPI's own ``HTTPBasic`` answers malformed credentials itself; the
    token routes parse them with :func:`_http.client_credentials` instead.
    """

    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        return None


# FastAPI before 0.112 resolves a callable instance's string annotations without
# any module globals: give it the class itself.
_ClientSecretBasic.__call__.__annotations__["request"] = Request


class RefreshKitHTTPException(HTTPException):
    """An access refusal carrying its full RFC 6750 response.

    :meth:`RefreshKit.install` renders it exactly; without the handler
    FastAPI still answers with the right status and ``WWW-Authenticate``.
    """

    def __init__(self, response: _http.HttpResponse) -> None:
        super().__init__(response.status, detail=response.body, headers=dict(response.headers))
        self.response = response


def render(response: _http.HttpResponse) -> Response:
    """A Starlette response for a framework-neutral one (one ``Set-Cookie`` per cookie)."""
    rendered: Response
    if response.body is None:
        rendered = Response(status_code=response.status)
    elif isinstance(response.body, bytes):
        rendered = Response(response.body, response.status, media_type=response.media_type)
    else:
        rendered = JSONResponse(response.body, status_code=response.status)
    for name, value in response.header_items():
        rendered.headers.append(name, value)
    return rendered


def _error(
    status: int, description: str, model: type[BaseModel] = OAuthErrorBody
) -> dict[str, Any]:
    return {"model": model, "description": description}


_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: _error(503, "Token store unavailable; retry after Retry-After seconds")
}
#: RFC 6749 §2.3.1 ``client_secret_post`` (and a public client's ``client_id``).
_CLIENT_FIELDS = {
    "client_id": {"type": "string", "description": "A public client's id, or with client_secret"},
    "client_secret": {
        "type": "string",
        "description": "client_secret_post; never together with Authorization: Basic",
    },
}
_REFRESH_BODY_SCHEMA = {
    "type": "object",
    "properties": {
        "grant_type": {"type": "string", "enum": ["refresh_token"]},
        "refresh_token": {"type": "string", "description": "Omit in cookie mode"},
        "scope": {"type": "string", "description": "At most the granted scope (RFC 6749 §6)"},
        **_CLIENT_FIELDS,
    },
    "required": ["grant_type"],
}
_TOKEN_BODY_SCHEMA = {
    "type": "object",
    "properties": {
        "token": {"type": "string"},
        "token_type_hint": {"type": "string", "enum": ["refresh_token", "access_token"]},
        **_CLIENT_FIELDS,
    },
    "required": ["token"],
}
#: The client authenticates with Basic, or with body parameters (or, public, by id alone).
_CLIENT_SECURITY: dict[str, Any] = {"security": [{}]}


def _request_body(schema: Mapping[str, Any], *, required: bool) -> dict[str, Any]:
    content = {
        "application/x-www-form-urlencoded": {"schema": schema},
        "application/json": {"schema": schema},
    }
    return {"requestBody": {"required": required, "content": content}, **_CLIENT_SECURITY}


class RefreshKit:
    """Wire an :class:`~refreshkit.AsyncTokenManager` into a FastAPI application.

    ``online=True`` makes :meth:`require` also check revocation in the store
    (one round trip) so logout and reuse detection cut access at once.
    ``device`` derives a device identifier from the request for device-bound
    sessions. Call :meth:`install` once to mount ``router`` (an ``APIRouter``)
    and the error handlers.
    """

    def __init__(
        self,
        manager: AsyncTokenManager,
        *,
        online: bool = False,
        device: DeviceResolver | None = None,
        realm: str = "refreshkit",
        tags: list[str] | None = None,
    ) -> None:
        self.manager = manager
        self.settings: Settings = manager.settings
        self.online = online
        self.realm = realm
        self._device = device
        _http.check_cookie_names(self.settings)
        # What the shared flows read of the manager without I/O.
        self._context = _flows.FlowContext.of(manager, realm)
        self.bearer: HTTPBearer = HTTPBearer(
            auto_error=False,
            scheme_name="BearerAccessToken",
            bearerFormat="JWT",
            description="A refreshkit access token: Authorization: Bearer <token>",
        )
        self.client_basic: HTTPBasic = _ClientSecretBasic(
            auto_error=False,
            scheme_name="ClientSecretBasic",
            description="OAuth client_secret_basic (RFC 6749 §2.3.1): form-urlencoded "
            "client_id and client_secret; or send them as body parameters",
        )
        self.router: APIRouter = self._build_router(tags or ["auth"])

    #: Error responses to list in the OpenAPI entry of a protected route.
    error_responses: dict[int | str, dict[str, Any]] = {  # noqa: RUF012 - read-only by convention
        401: _error(401, "Missing, invalid, expired or revoked access token", AccessErrorBody),
        403: _error(403, "The access token lacks a required scope"),
        **_UNAVAILABLE,
    }

    # ------------------------------------------------------------ dependencies

    def require(
        self,
        scopes: Iterable[str] = (),
        *,
        online: bool | None = None,
        max_age: timedelta | int | None = None,
    ) -> Callable[..., Awaitable[AccessClaims]]:
        """A dependency yielding the verified :class:`~refreshkit.AccessClaims`.

        Refuses with 401 (no or bad token), 403 (a scope in ``scopes`` is
        missing), 400 (malformed header) or 503 (store outage, online checks
        only), all as RFC 6750 responses. ``max_age`` (seconds or a
        timedelta) requires that the user authenticated at most that long
        ago: 401 ``insufficient_user_authentication`` with ``max_age``
        otherwise (RFC 9470). :meth:`require_access` is the same method
        under the name the Flask and Django adapters use.
        """
        required = tuple(scopes)
        check_online = self.online if online is None else online
        bearer = self.bearer

        async def access_claims(
            request: Request,
            _credentials: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
        ) -> AccessClaims:
            flow = _flows.access(
                _neutral(request),
                self._context,
                scopes=required,
                online=check_online,
                device=self._device_of(request),
                max_age=max_age,
            )
            claims = await _flows.run_async(flow, self.manager)
            if isinstance(claims, _http.HttpResponse):
                raise RefreshKitHTTPException(claims)
            return claims

        return access_claims

    require_access = require

    def _device_of(self, request: Request) -> str | None:
        return self._device(request) if self._device else None

    # -------------------------------------------------------------------- login

    async def login(
        self,
        request: Request,
        response: Response,
        subject: str,
        *,
        scope: str | Iterable[str] | None = None,
        claims: Mapping[str, Any] | None = None,
        delivery: _http.TokenDelivery | None = None,
        client_id: str | None = None,
        device_label: str | None = None,
        idle_ttl: timedelta | None = None,
        absolute_ttl: timedelta | None = None,
    ) -> dict[str, Any]:
        """Start a session for ``subject`` once the application has checked the password.

        Returns the RFC 6749 §5.1 body for the route to return and adds the
        ``no-store`` headers (and, in cookie mode, the cookies) to
        ``response``. ``delivery`` forces ``"cookie"`` or ``"body"``; by default
        the only enabled mode (of ``client_id``'s settings), or with both the
        cookie unless the client sends ``X-Token-Delivery: body``.
        ``client_id`` binds the session to that client at once; without it
        the first client to refresh it is bound. The session records the
        request's user agent and client IP, and ``device_label``;
        ``idle_ttl`` / ``absolute_ttl`` shorten its lifetimes (remember me,
        see :doc:`/sessions`).
        Raises :class:`~refreshkit.errors.StoreError` when the store fails.
        """
        flow = _flows.login(
            _neutral(request),
            self._context,
            subject,
            scope=scope,
            claims=claims,
            delivery=delivery,
            client_id=client_id,
            device=self._device_of(request),
            device_label=device_label,
            idle_ttl=idle_ttl,
            absolute_ttl=absolute_ttl,
        )
        answer = await _flows.run_async(flow, self.manager)
        for name, value in answer.header_items():
            response.headers.append(name, value)
        body: dict[str, Any] = answer.body
        return body

    # ----------------------------------------------------------------- install

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        """A FastAPI lifespan closing the manager (and any store it opened) at shutdown.

        Use ``FastAPI(lifespan=kit.lifespan)``, or call it from your own lifespan.
        """
        try:
            yield
        finally:
            await self.manager.aclose()

    def install(self, app: FastAPI) -> None:
        """Mount ``router`` on ``app`` and render refreshkit errors as RFC responses."""
        app.include_router(self.router)
        app.add_exception_handler(RefreshKitHTTPException, _render_http_exception)
        app.add_exception_handler(RefreshKitError, self._render_error)

    async def _render_error(self, request: Request, exc: Exception) -> Response:
        """Errors escaping application code: 503 for outages, RFC 6750 for tokens."""
        return render(_http.access_error_response(exc, realm=self.realm))

    # ------------------------------------------------------------------ routes

    def _build_router(self, tags: list[str]) -> APIRouter:
        router = APIRouter(tags=list(tags))
        docs = self._openapi()
        for endpoint in _flows.ENDPOINTS:
            router.add_api_route(
                endpoint.full_path(self.settings),
                self._route(endpoint),
                methods=[endpoint.method],
                name=endpoint.name,
                **docs[endpoint.name],
            )
        return router

    def _route(self, endpoint: _flows.Endpoint) -> Callable[[Request], Awaitable[Response]]:
        """The Starlette route of one shared endpoint."""

        async def route(request: Request) -> Response:
            neutral = await _token_request(request) if endpoint.reads_body else _neutral(request)
            flow = endpoint.flow(
                neutral, self._context, online=self.online, device=self._device_of(request)
            )
            return render(await _flows.run_async(flow, self.manager))

        route.__name__ = route.__qualname__ = endpoint.name
        return route

    def _openapi(self) -> dict[str, dict[str, Any]]:
        """Each endpoint's OpenAPI description, by endpoint name."""
        bearer_auth = [Depends(self.bearer)]
        client_auth = [Depends(self.client_basic)]
        token_errors: dict[int | str, dict[str, Any]] = {
            400: _error(400, "invalid_grant, invalid_request or unsupported_grant_type"),
            401: _error(401, "invalid_client: client authentication failed"),
            **_UNAVAILABLE,
        }
        token_body = _request_body(_TOKEN_BODY_SCHEMA, required=True)
        sid = {"name": "sid", "in": "path", "required": True, "schema": {"type": "string"}}
        return {
            "refresh_token": {
                "summary": "Exchange a refresh token for a new token pair (RFC 6749 §6)",
                "response_model": TokenResponseBody,
                "responses": {
                    **token_errors,
                    400: _error(400, "invalid_grant, invalid_scope, invalid_request, ..."),
                },
                "dependencies": client_auth,
                "openapi_extra": _request_body(
                    _REFRESH_BODY_SCHEMA, required=not self.settings.cookie_mode
                ),
            },
            "revoke_token": {
                "summary": "Revoke a refresh or access token (RFC 7009)",
                "response_class": Response,
                "responses": {
                    200: {"description": "Revoked, or unknown (RFC 7009 §2.2)"},
                    **token_errors,
                    400: _error(
                        400, "invalid_request, or unauthorized_client: another client's token"
                    ),
                },
                "dependencies": client_auth,
                "openapi_extra": token_body,
            },
            "introspect_token": {
                "summary": "Introspect a token, for resource servers (RFC 7662)",
                "response_model": IntrospectionBody,
                "response_model_exclude_none": True,
                "responses": {
                    **token_errors,
                    400: _error(400, "invalid_request"),
                    401: _error(401, "invalid_client: not a client allowed to introspect"),
                },
                "dependencies": client_auth,
                "openapi_extra": token_body,
            },
            "logout": {
                "summary": "End the current session and clear the refresh cookie",
                "status_code": 204,
                "response_class": Response,
                "responses": self.error_responses,
                "dependencies": bearer_auth,
            },
            "list_sessions": {
                "summary": "List the signed-in user's sessions (devices)",
                "response_model": SessionsBody,
                "responses": self.error_responses,
                "dependencies": bearer_auth,
            },
            "end_session": {
                "summary": "End one of the signed-in user's sessions",
                "status_code": 204,
                "response_class": Response,
                "responses": {
                    404: _error(404, "No such session of this user"),
                    **self.error_responses,
                },
                "dependencies": bearer_auth,
                "openapi_extra": {"parameters": [sid]},
            },
            "end_other_sessions": {
                "summary": "Sign out the signed-in user's other devices (keeps this session)",
                "response_model": EndedSessionsBody,
                "responses": self.error_responses,
                "dependencies": bearer_auth,
            },
            "jwks": {"summary": "Public keys that verify access tokens (RFC 7517)"},
            "browser_script": {
                "summary": "The browser script: single-flight refresh in cookie mode",
                "response_class": Response,
                "responses": {
                    200: {"content": {"application/javascript": {}}, "description": "ES module"},
                    304: {"description": "Not modified (If-None-Match)"},
                },
            },
        }


def _neutral(
    request: Request, body: bytes = b"", refusal: _http.BadRequestError | None = None
) -> _flows.HttpRequest:
    """The flows' view of a Starlette request (the body, when read, passed in)."""
    return _flows.HttpRequest(
        method=request.method,
        scheme=request.url.scheme,
        peer=request.client.host if request.client else None,
        headers=tuple(request.headers.items()),
        cookies=request.cookies,
        body=body,
        content_type=request.headers.get("content-type"),
        body_refusal=refusal,
        path_params=request.path_params,
    )


async def _token_request(request: Request) -> _flows.HttpRequest:
    """A token endpoint's request with its body, read no further than the size cap."""
    try:
        body = _http.CappedBody(request.headers.get("content-length"))
        async for chunk in request.stream():
            body.feed(chunk)
    except _http.BadRequestError as refusal:
        return _neutral(request, refusal=refusal)
    return _neutral(request, body.value())


async def _render_http_exception(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, RefreshKitHTTPException):  # pragma: no cover - registered per type
        raise exc
    return render(exc.response)
