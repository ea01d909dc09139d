"""Django REST framework: bearer authentication and a scope permission.

::

    REST_FRAMEWORK = {
        "DEFAULT_AUTHENTICATION_CLASSES": [
            "refreshkit.adapters.django.drf.RefreshKitAuthentication",
        ],
        "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    }

    class Orders(APIView):
        permission_classes = [IsAuthenticated, HasScope.with_scopes("orders:read")]

    class Payout(APIView):   # a recent authentication (RFC 9470): at most 5 minutes ago
        permission_classes = [IsAuthenticated, RecentAuthentication.with_max_age(300)]

``request.user`` is a :class:`TokenUser` (no database query) unless
``REFRESHKIT["django_user_lookup"]`` names a user-model field; ``request.auth``
and ``request.auth_claims`` are the verified :class:`~refreshkit.AccessClaims`.
Refusals are the shared HTTP layer's RFC 6750 answers:
401 with the ``Bearer`` challenge, 403 ``insufficient_scope``, 400 for a
malformed header, and 503 with ``Retry-After`` when the store fails (never 401).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any, ClassVar

from ...errors import MissingExtraError

try:
    from django.contrib.auth import get_user_model
    from django.core.exceptions import ValidationError
    from rest_framework.authentication import BaseAuthentication
    from rest_framework.exceptions import APIException
    from rest_framework.permissions import BasePermission
    from rest_framework.request import Request
except ImportError as _missing:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError(
        f"refreshkit.adapters.django.drf needs Django REST framework ({_missing.name}):"
        " pip install 'refreshkit[drf]'"
    ) from _missing

from ... import _policy
from ...errors import (
    InsufficientScopeError,
    InsufficientUserAuthenticationError,
    InvalidTokenError,
    RefreshKitError,
)
from ...models import AccessClaims
from .. import _http
from . import conf

__all__ = [
    "AccessRefused",
    "HasScope",
    "RecentAuthentication",
    "RefreshKitAuthentication",
    "TokenUser",
]


class TokenUser:
    """The user a verified access token names, built from its claims without a query.

    Like simplejwt's ``TokenUser``: ``id``, ``pk`` and ``username`` are the
    token's subject; it is authenticated, active, and has no permissions.
    """

    __slots__ = ("claims",)

    is_authenticated: ClassVar[bool] = True
    is_anonymous: ClassVar[bool] = False
    is_active: ClassVar[bool] = True
    is_staff: ClassVar[bool] = False
    is_superuser: ClassVar[bool] = False

    def __init__(self, claims: AccessClaims) -> None:
        self.claims: AccessClaims = claims

    @property
    def id(self) -> str:
        """The token's subject."""
        return self.claims.subject

    @property
    def pk(self) -> str:
        """The token's subject."""
        return self.claims.subject

    @property
    def username(self) -> str:
        """The token's subject."""
        return self.claims.subject

    def get_username(self) -> str:
        """The token's subject, as Django's user API names it."""
        return self.claims.subject

    def has_perm(self, perm: str, obj: object = None) -> bool:
        """Always False: permissions live in the database, scopes in the token."""
        return False

    def has_perms(self, perm_list: Iterable[str], obj: object = None) -> bool:
        """Always False (see :meth:`has_perm`)."""
        return False

    def has_module_perms(self, app_label: str) -> bool:
        """Always False (see :meth:`has_perm`)."""
        return False

    def __str__(self) -> str:
        return self.claims.subject

    def __repr__(self) -> str:
        return f"TokenUser({self.claims.subject!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TokenUser) and other.claims.subject == self.claims.subject

    def __hash__(self) -> int:
        return hash(self.claims.subject)


class AccessRefused(APIException):
    """An RFC 6750 refusal: the status, JSON body and headers of the shared HTTP layer.

    DRF's exception handler sends ``auth_header`` as ``WWW-Authenticate`` and
    ``wait`` as ``Retry-After``.
    """

    def __init__(self, response: _http.HttpResponse) -> None:
        body = response.body if isinstance(response.body, dict) else {}
        super().__init__(detail=body, code=body.get("error"))
        headers = dict(response.headers)
        retry_after = headers.get("Retry-After")
        self.status_code: int = response.status
        self.auth_header: str | None = headers.get("WWW-Authenticate")
        self.wait: int | None = int(retry_after) if retry_after else None


def _realm(override: str | None) -> str:
    return override if override is not None else str(conf.get_option("django_realm"))


class RefreshKitAuthentication(BaseAuthentication):
    """Authenticate ``Authorization: Bearer <access token>`` with the process's manager.

    Returns ``(user, claims)``; a request without bearer credentials is left
    to the next authentication class (and to ``IsAuthenticated``, which then
    answers 401 with this class's challenge). Set ``online = True`` on a
    subclass (or ``REFRESHKIT["django_online"]``) to also check revocation in
    the store; ``realm`` names the challenge's realm.
    """

    #: Check revocation in the store too (None: ``REFRESHKIT["django_online"]``).
    online: ClassVar[bool | None] = None
    #: The challenge's realm (None: ``REFRESHKIT["django_realm"]``).
    realm: ClassVar[str | None] = None
    #: Require an authentication at most this many seconds ago (RFC 9470);
    #: per view, :class:`RecentAuthentication` is usually the better place.
    max_age: ClassVar[int | None] = None

    def authenticate(self, request: Request) -> tuple[Any, AccessClaims] | None:
        """Verify the bearer token. Raises :class:`AccessRefused` (401, 400 or 503)."""
        try:
            token = _http.bearer_token(request.headers.get("Authorization"))
            if token is None:
                return None
            claims = self.verify(token)
            user = self.get_user(claims)
        except RefreshKitError as exc:
            raise AccessRefused(
                _http.access_error_response(exc, realm=_realm(self.realm))
            ) from None
        # Both the DRF request and Django's own, so middleware and templates see them.
        request.auth_claims = claims  # type: ignore[attr-defined]
        request._request.auth_claims = claims  # type: ignore[attr-defined]
        return user, claims

    def verify(self, token: str) -> AccessClaims:
        """The token's claims, verified offline or online. Raises refreshkit's errors."""
        manager = conf.get_manager()
        online = self.online if self.online is not None else bool(conf.get_option("django_online"))
        if online:
            return manager.verify_access_online(token, max_age=self.max_age)
        return manager.verify_access(token, max_age=self.max_age)

    def get_user(self, claims: AccessClaims) -> Any:
        """``request.user``: a :class:`TokenUser`, or the user model's row for the subject.

        ``REFRESHKIT["django_user_lookup"]`` None gives a :class:`TokenUser`;
        ``"username"`` looks the subject up by the model's ``USERNAME_FIELD``,
        ``"pk"`` or any other name by that field. Raises
        :class:`~refreshkit.errors.InvalidTokenError` (401) when no active user matches.
        """
        lookup = conf.get_option("django_user_lookup")
        if lookup is None:
            return TokenUser(claims)
        model = get_user_model()
        field = str(model.USERNAME_FIELD if lookup == "username" else lookup)
        try:
            user = model._default_manager.get(**{field: claims.subject})
        except (model.DoesNotExist, ValueError, ValidationError):
            raise InvalidTokenError("no such user") from None
        if not getattr(user, "is_active", True):
            raise InvalidTokenError("user inactive")
        return user

    def authenticate_header(self, request: Request) -> str:
        """The bare RFC 6750 challenge, so DRF answers 401 (not 403) without credentials."""
        response = _http.access_error_response(None, realm=_realm(self.realm))
        return dict(response.headers)["WWW-Authenticate"]


class HasScope(BasePermission):
    """Require scopes of the verified access token: 403 ``insufficient_scope`` without them.

    The scopes are the class's ``required_scopes`` (``HasScope.with_scopes("read")``)
    plus the view's ``required_scopes`` attribute. A request that
    :class:`RefreshKitAuthentication` did not authenticate is refused as
    unauthenticated (401 with the challenge).
    """

    required_scopes: ClassVar[tuple[str, ...]] = ()
    realm: ClassVar[str | None] = None

    @classmethod
    def with_scopes(cls, *scopes: str) -> type[HasScope]:
        """A subclass that requires ``scopes`` (for ``permission_classes``)."""
        name = f"{cls.__name__}[{' '.join(scopes)}]"
        return type(name, (cls,), {"required_scopes": (*cls.required_scopes, *scopes)})

    # ``view`` is an APIView; importing rest_framework.views here would be circular
    # (DRF imports this module while loading it, for DEFAULT_AUTHENTICATION_CLASSES).
    def has_permission(self, request: Request, view: object) -> bool:
        """True when every required scope was granted. Raises :class:`AccessRefused` (403)."""
        claims = request.auth
        if not isinstance(claims, AccessClaims):
            return False
        on_view = getattr(view, "required_scopes", ())
        on_view = on_view.split() if isinstance(on_view, str) else tuple(on_view)
        required = frozenset((*self.required_scopes, *on_view))
        if not claims.has_scopes(required):
            missing = InsufficientScopeError("missing required scope", required=required)
            raise AccessRefused(_http.access_error_response(missing, realm=_realm(self.realm)))
        return True


class RecentAuthentication(BasePermission):
    """Require a recent authentication (RFC 9470): 401 ``insufficient_user_authentication``.

    ``max_age`` is in seconds: the class's (``RecentAuthentication.with_max_age(300)``),
    or the view's ``max_age`` attribute. The challenge carries ``max_age``, so
    the client knows to send the user through a re-authentication
    (``manager.reauthenticate``) and retry. A request that
    :class:`RefreshKitAuthentication` did not authenticate is refused as
    unauthenticated (401 with the bare challenge).
    """

    max_age: ClassVar[int | None] = None
    realm: ClassVar[str | None] = None

    @classmethod
    def with_max_age(cls, seconds: int) -> type[RecentAuthentication]:
        """A subclass that requires an authentication at most ``seconds`` ago."""
        return type(f"{cls.__name__}[{seconds}]", (cls,), {"max_age": seconds})

    def has_permission(self, request: Request, view: object) -> bool:
        """True when the user authenticated recently enough. Raises :class:`AccessRefused` (401)."""
        claims = request.auth
        if not isinstance(claims, AccessClaims):
            return False
        max_age = getattr(view, "max_age", None) or self.max_age
        if max_age is None:
            return True
        manager = conf.get_manager()
        try:
            _policy.check_freshness(claims, timedelta(seconds=max_age), manager.clock.now())
        except InsufficientUserAuthenticationError as stale:
            refusal = _http.access_error_response(stale, realm=_realm(self.realm))
            raise AccessRefused(refusal) from None
        return True
