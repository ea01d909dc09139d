"""refreshkit: secure token refresh for Python web apps.

Short-lived signed access tokens, long-lived opaque refresh tokens stored
hashed, rotation with reuse detection, sliding expiry under an absolute cap,
device binding and revocation, on memory, SQL or Redis stores.
"""

from __future__ import annotations

from ._async.manager import AsyncTokenManager
from ._checks import AsyncRefreshCheck, RefreshCheck, RefreshContext, RefreshGrant
from ._sync.manager import TokenManager
from .backends import create_async_store, create_store
from .backends.base import AsyncTokenStore, TokenStore
from .clients import Client
from .clock import Clock, FrozenClock, SystemClock
from .config import Settings, parse_duration
from .errors import (
    ClientMismatchError,
    ConfigurationError,
    DeviceMismatchError,
    ExpiredTokenError,
    InsufficientScopeError,
    InvalidClientError,
    InvalidScopeError,
    InvalidTokenError,
    MissingExtraError,
    RefreshCheckError,
    RefreshKitError,
    RefreshRefused,
    RefreshUnavailableError,
    RevokedTokenError,
    SchemaMissingError,
    SessionExpiredError,
    StoreError,
    TokenError,
    TokenReuseError,
)
from .events import Event, EventHooks
from .keys import KeySet, SigningKey
from .models import AccessClaims, Session, SessionInfo, SubjectCutoff, TokenPair

__version__ = "0.1.0"

__all__ = [
    "AccessClaims",
    "AsyncRefreshCheck",
    "AsyncTokenManager",
    "AsyncTokenStore",
    "Client",
    "ClientMismatchError",
    "Clock",
    "ConfigurationError",
    "DeviceMismatchError",
    "Event",
    "EventHooks",
    "ExpiredTokenError",
    "FrozenClock",
    "InsufficientScopeError",
    "InvalidClientError",
    "InvalidScopeError",
    "InvalidTokenError",
    "KeySet",
    "MissingExtraError",
    "RefreshCheck",
    "RefreshCheckError",
    "RefreshContext",
    "RefreshGrant",
    "RefreshKitError",
    "RefreshRefused",
    "RefreshUnavailableError",
    "RevokedTokenError",
    "SchemaMissingError",
    "Session",
    "SessionInfo",
    "SubjectCutoff",
    "SessionExpiredError",
    "Settings",
    "SigningKey",
    "StoreError",
    "SystemClock",
    "TokenError",
    "TokenManager",
    "TokenPair",
    "TokenReuseError",
    "TokenStore",
    "__version__",
    "create_async_store",
    "create_store",
    "parse_duration",
]
