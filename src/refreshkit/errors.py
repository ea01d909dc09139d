"""The one home of refreshkit's exceptions.

Every error refreshkit raises is a :class:`RefreshKitError`. Each carries the
OAuth error code (RFC 6749 §5.2 / RFC 6750 §3.1) and the HTTP status an
adapter answers with, so no framework integration has to guess::

    RefreshKitError
    ├── ConfigurationError            bad settings                   (500)
    │   ├── MissingExtraError         optional dependency missing (also an ImportError)
    │   └── SchemaMissingError        SQL store: tables not created or migrated
    ├── RefreshCheckError             the application's refresh check failed (500)
    ├── StoreError                    backend down or failing        (503)
    │   └── RefreshUnavailableError   client: token endpoint down, retries spent
    ├── SessionExpiredError           client: refresh refused, log in again
    └── TokenError                    the presented token is refused
        ├── InvalidTokenError         malformed, unknown, forged     (400 / 401)
        │   ├── ExpiredTokenError     past exp / idle / absolute expiry
        │   ├── RevokedTokenError     session or access token revoked
        │   │   └── TokenReuseError   rotated token replayed: session revoked
        │   └── DeviceMismatchError   presented from another device
        ├── RefreshRefused            the application's check refused a refresh
        ├── InsufficientScopeError    valid token, missing scope     (403)
        └── InsufficientUserAuthenticationError  authenticated too long ago (401, RFC 9470)

Refresh errors answer ``400 invalid_grant`` (RFC 6749 §5.2); access-token
errors answer ``401 invalid_token`` (RFC 6750 §3.1) via ``bearer_error``.
The two client errors are raised by :mod:`refreshkit.client`, the calling
side, when an authorization server refuses or cannot serve a refresh.

Messages never contain a token, a secret or a hash of either.
"""

from __future__ import annotations

__all__ = [
    "ClientMismatchError",
    "ConfigurationError",
    "DeviceMismatchError",
    "ExpiredTokenError",
    "InsufficientScopeError",
    "InsufficientUserAuthenticationError",
    "InvalidClientError",
    "InvalidScopeError",
    "InvalidTokenError",
    "MissingExtraError",
    "RefreshCheckError",
    "RefreshKitError",
    "RefreshRefused",
    "RefreshUnavailableError",
    "RevokedTokenError",
    "SchemaMissingError",
    "SessionExpiredError",
    "StoreError",
    "TokenError",
    "TokenReuseError",
]


class RefreshKitError(Exception):
    """Base of every refreshkit error.

    ``error_code`` is the OAuth error an HTTP adapter reports and
    ``status_code`` the HTTP status it answers with.
    """

    error_code: str = "server_error"
    status_code: int = 500

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.__class__.__doc__ or self.__class__.__name__)
        self.message: str = str(self.args[0])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ConfigurationError(RefreshKitError):
    """Settings are invalid, or an optional dependency is not installed."""


class MissingExtraError(ConfigurationError, ImportError):
    """An optional dependency is missing; the message names the ``pip install`` that fixes it.

    Also an :class:`ImportError`, so code that probes for optional parts
    (``try: import refreshkit.backends.redis``, ``pkgutil.walk_packages``)
    keeps working.
    """


class SchemaMissingError(ConfigurationError):
    """The SQL store's tables do not exist: the database was never migrated.

    A deployment mistake, not an outage, so not a :class:`StoreError`: retrying
    cannot help. The message names the fix (``refreshkit db upgrade URL``, or
    ``create_tables=True``) and the table prefix the store looked for.
    """


class StoreError(RefreshKitError):
    """The token store is unreachable or failed.

    Deliberately *not* a :class:`TokenError`: an outage must never look like
    a bad token, or users would be logged out by an infrastructure hiccup.
    Adapters answer ``503`` with ``Retry-After``.
    """

    error_code = "temporarily_unavailable"
    status_code = 503

    def __init__(self, message: str = "", *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RefreshCheckError(RefreshKitError):
    """The application's refresh check raised, or answered something it may not (500).

    A server error, never a refused token: the client is told
    ``server_error`` and may try again, and nothing was written. The message
    names only the exception's type; the exception itself is ``__cause__``.
    """


class RefreshUnavailableError(StoreError):
    """The token endpoint stayed unreachable or failing (5xx, 429, network) through every retry.

    Raised by :mod:`refreshkit.client`. A :class:`StoreError` because it means
    the same thing one hop further out: a transient outage, not a bad token.
    The refresh token was kept, so calling again later can still succeed, and
    an adapter that lets it escape answers ``503`` with ``Retry-After``.
    ``attempts`` counts the refresh requests tried; ``status`` is the last
    HTTP status seen (None when the last failure was a network error).
    """

    def __init__(
        self,
        message: str = "",
        *,
        retry_after: int = 1,
        attempts: int = 0,
        status: int | None = None,
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        self.attempts = attempts
        self.status = status


class SessionExpiredError(RefreshKitError):
    """The authorization server refused the refresh token: the session is over, log in again.

    Raised by :mod:`refreshkit.client` on ``invalid_grant`` (the refresh token
    expired, was revoked, or was already rotated), or when there is no
    refresh token to use. Retrying cannot help. ``error`` is the server's
    OAuth error code and ``status`` its HTTP status (None when no request was
    made).
    """

    error_code = "invalid_grant"

    def __init__(
        self, message: str = "", *, error: str = "invalid_grant", status: int | None = None
    ) -> None:
        super().__init__(message)
        self.error = error
        self.status = status


class TokenError(RefreshKitError):
    """A presented token was refused."""

    error_code = "invalid_grant"
    #: RFC 6750 error for access tokens; refresh errors use ``error_code``.
    bearer_error = "invalid_token"
    status_code = 400


class InvalidTokenError(TokenError):
    """The token is malformed, unknown, or its signature or claims do not verify."""


class ExpiredTokenError(InvalidTokenError):
    """The token, or the session it belongs to, has expired."""


class RevokedTokenError(InvalidTokenError):
    """The token, or the session it belongs to, has been revoked."""


class TokenReuseError(RevokedTokenError):
    """A rotated refresh token was presented again: its whole session is now revoked."""

    def __init__(self, message: str = "", *, sid: str | None = None) -> None:
        super().__init__(message)
        self.sid = sid


class DeviceMismatchError(InvalidTokenError):
    """The token was presented from a device other than the one it was bound to."""


class ClientMismatchError(InvalidTokenError):
    """The token belongs to another OAuth client (RFC 6749 §6, RFC 7009 §2.1).

    Refused as ``invalid_grant``; the session is left intact, since the
    client that owns it did nothing wrong.
    """


class InvalidClientError(RefreshKitError):
    """Client authentication failed (RFC 6749 §5.2 ``invalid_client``, 401).

    An unknown client, a wrong secret, a method the client is not
    registered for, or no credentials where the client must authenticate.
    """

    error_code = "invalid_client"
    status_code = 401


class InvalidScopeError(RefreshKitError):
    """A requested scope exceeds what was granted (RFC 6749 §5.2 ``invalid_scope``, 400)."""

    error_code = "invalid_scope"
    status_code = 400


class RefreshRefused(TokenError):
    """Raised by an application's refresh check to refuse a refresh (``invalid_grant``).

    ``reason`` is the application's short, non-secret word for why
    (``"account_disabled"``); it goes into the ``refresh_refused`` event and,
    with ``revoke=True``, becomes the session's revocation reason. The
    client is told only ``invalid_grant``. ``revoke=False`` keeps the
    session and the presented refresh token as they were (a later refresh
    may succeed); ``revoke=True`` ends the session. The manager re-raises
    this same exception to its caller.
    """

    def __init__(self, reason: str = "refresh_refused", *, revoke: bool = False) -> None:
        super().__init__("refresh refused by the application")
        self.reason = reason
        self.revoke = revoke


class InsufficientScopeError(TokenError):
    """The access token is valid but lacks a required scope."""

    error_code = "insufficient_scope"
    bearer_error = "insufficient_scope"
    status_code = 403

    def __init__(self, message: str = "", *, required: frozenset[str] = frozenset()) -> None:
        super().__init__(message)
        self.required = required


class InsufficientUserAuthenticationError(TokenError):
    """The access token is valid but its user authenticated too long ago (RFC 9470).

    A route that requires a recent authentication (``max_age``) answers 401
    with ``WWW-Authenticate: Bearer error="insufficient_user_authentication"``
    and ``max_age``: the client sends the user through a re-authentication
    and retries with the fresher token. ``max_age`` is in seconds.
    """

    error_code = "insufficient_user_authentication"
    bearer_error = "insufficient_user_authentication"
    status_code = 401

    def __init__(self, message: str = "", *, max_age: int | None = None) -> None:
        super().__init__(message)
        self.max_age = max_age
