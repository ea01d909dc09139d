"""Django Ninja: bearer security classes that answer with the RFC 6750 challenge.

::

    api = NinjaAPI()
    install(api)  # renders refusals with their WWW-Authenticate challenge

    @api.get("/me", auth=RefreshKitBearer())
    def me(request):
        return {"user": request.auth.subject}

    @api.get("/orders", auth=AsyncRefreshKitBearer(scopes=["orders:read"]))
    async def orders(request): ...

``request.auth`` (and ``request.auth_claims``) are the verified
:class:`~refreshkit.AccessClaims`. Ninja's own ``HttpBearer`` answers a bare
401 with no challenge, so these classes raise :class:`AccessRefused` instead,
which the handler :func:`install` registers turns into the shared HTTP
layer's answer: 401 ``Bearer realm=...`` without credentials, 401
``invalid_token``, 403 ``insufficient_scope``, 400 for a malformed header,
503 with ``Retry-After`` when the store fails. Without :func:`install` the
status is still right (``AccessRefused`` is a Ninja ``HttpError``) but the
challenge is missing. A request without credentials is refused at once, so
in ``auth=[...]`` with other schemes put these classes last.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from ...errors import MissingExtraError

try:
    from django.http import HttpRequest, HttpResponse
    from ninja import NinjaAPI
    from ninja.errors import HttpError
    from ninja.security import HttpBearer
except ImportError as _missing:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError(
        f"refreshkit.adapters.django.ninja needs Django Ninja ({_missing.name}):"
        " pip install 'refreshkit[ninja]'"
    ) from _missing

from ...errors import RefreshKitError
from ...models import AccessClaims
from .. import _http
from . import _bridge, conf

__all__ = ["AccessRefused", "AsyncRefreshKitBearer", "RefreshKitBearer", "install"]


class AccessRefused(HttpError):
    """An RFC 6750 refusal carrying the shared HTTP layer's response."""

    def __init__(self, response: _http.HttpResponse) -> None:
        body = response.body if isinstance(response.body, dict) else {}
        super().__init__(response.status, str(body.get("error_description", "")))
        self.response: _http.HttpResponse = response


def _on_access_refused(
    request: HttpRequest, exc: AccessRefused | type[AccessRefused]
) -> HttpResponse:
    # Ninja's annotation admits the class too; only instances are ever raised.
    if not isinstance(exc, AccessRefused):  # pragma: no cover
        raise TypeError("an AccessRefused instance is expected")
    return _bridge.render(exc.response)


def install(api: NinjaAPI) -> None:
    """Register the handler that answers :class:`AccessRefused` with its challenge."""
    api.add_exception_handler(AccessRefused, _on_access_refused)


class _Bearer(HttpBearer):
    """What the sync and async classes share: options, reading the header, refusing."""

    def __init__(
        self,
        *,
        scopes: Iterable[str] = (),
        online: bool | None = None,
        realm: str | None = None,
        max_age: timedelta | int | None = None,
    ) -> None:
        """``scopes`` are required of every token; ``online`` and ``realm`` default to
        ``REFRESHKIT["django_online"]`` and ``REFRESHKIT["django_realm"]``;
        ``max_age`` requires an authentication that recent (RFC 9470)."""
        super().__init__()
        self.scopes: tuple[str, ...] = tuple(scopes)
        self.max_age: timedelta | int | None = max_age
        self.online: bool | None = online
        self.realm: str | None = realm

    def _refused(self, exc: Exception | None) -> AccessRefused:
        realm = self.realm if self.realm is not None else str(conf.get_option("django_realm"))
        return AccessRefused(_http.access_error_response(exc, realm=realm))

    def _token(self, request: HttpRequest) -> str:
        try:
            token = _http.bearer_token(request.headers.get("Authorization"))
        except RefreshKitError as exc:
            raise self._refused(exc) from None
        if token is None:
            raise self._refused(None)
        return token

    def _checks_online(self) -> bool:
        return self.online if self.online is not None else bool(conf.get_option("django_online"))

    @staticmethod
    def _accepted(request: HttpRequest, claims: AccessClaims) -> AccessClaims:
        request.auth_claims = claims  # type: ignore[attr-defined]
        return claims


class RefreshKitBearer(_Bearer):
    """Sync security class: the process's sync manager (``conf.get_manager()``) verifies."""

    def __call__(self, request: HttpRequest) -> AccessClaims:
        """The verified claims. Raises :class:`AccessRefused`."""
        return self.authenticate(request, self._token(request))

    def authenticate(self, request: HttpRequest, token: str) -> AccessClaims:
        """Verify ``token`` (offline, or online). Raises :class:`AccessRefused`."""
        manager = conf.get_manager()
        verify = manager.verify_access_online if self._checks_online() else manager.verify_access
        try:
            claims = verify(token, scopes=self.scopes, max_age=self.max_age)
        except RefreshKitError as exc:
            raise self._refused(exc) from None
        return self._accepted(request, claims)


class AsyncRefreshKitBearer(_Bearer):
    """Async security class, for ``async def`` operations: the async manager verifies."""

    async def __call__(self, request: HttpRequest) -> AccessClaims:
        """The verified claims. Raises :class:`AccessRefused`."""
        return await self.authenticate(request, self._token(request))

    async def authenticate(self, request: HttpRequest, token: str) -> AccessClaims:
        """Verify ``token`` (offline, or online). Raises :class:`AccessRefused`."""
        manager = conf.get_async_manager()
        try:
            if self._checks_online():
                claims = await manager.verify_access_online(
                    token, scopes=self.scopes, max_age=self.max_age
                )
            else:
                claims = manager.verify_access(token, scopes=self.scopes, max_age=self.max_age)
        except RefreshKitError as exc:
            raise self._refused(exc) from None
        return self._accepted(request, claims)
