"""refreshkit: secure token refresh for Python web apps."""

from __future__ import annotations

from .clock import Clock, FrozenClock, SystemClock
from .config import Settings
from .errors import (
    ConfigurationError,
    DeviceMismatchError,
    ExpiredTokenError,
    InsufficientScopeError,
    InvalidTokenError,
    RefreshKitError,
    RevokedTokenError,
    StoreError,
    TokenError,
    TokenReuseError,
)
from .models import AccessClaims, Session, TokenPair

__version__ = "0.1.0"
