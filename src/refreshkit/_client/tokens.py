"""The client's view of a token pair: what it sends, and when it must renew it.

The client is not the verifier: it reads the access token's ``exp``/``iat``
claims without checking the signature, only to know when to refresh. The
resource server still verifies every token it receives.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import ConfigurationError

__all__ = ["Tokens"]


@dataclass(frozen=True, slots=True)
class Tokens:
    """An access token, the refresh token that renews it, and when it expires.

    ``expires_at`` and ``issued_at`` are epoch seconds on the client's clock;
    when not given they are read from the access token's ``exp`` and ``iat``
    claims (if it is a JWT). ``csrf_token`` is only used in cookie mode.
    Tokens never appear in ``repr()``.
    """

    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    token_type: str = "Bearer"
    expires_at: float | None = None
    issued_at: float | None = None
    scope: str | None = None
    csrf_token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.access_token:
            raise ConfigurationError("Tokens needs an access_token")
        if self.expires_at is None or self.issued_at is None:
            claims = _unverified_claims(self.access_token)
            if self.expires_at is None:
                object.__setattr__(self, "expires_at", _number(claims.get("exp")))
            if self.issued_at is None:
                object.__setattr__(self, "issued_at", _number(claims.get("iat")))
        if self.token_type.lower() == "bearer":
            object.__setattr__(self, "token_type", "Bearer")

    @classmethod
    def from_token_response(
        cls,
        body: Mapping[str, Any],
        *,
        now: float | None = None,
        previous: Tokens | None = None,
    ) -> Tokens:
        """Read an RFC 6749 §5.1 token response (a login's or a refresh's JSON body).

        ``expires_in`` counts from ``now`` (epoch seconds, default the system
        time), so it holds whatever the skew between client and server
        clocks; without it the ``exp`` claim is used. A response that omits
        ``refresh_token`` or ``scope`` keeps ``previous``'s (§6 lets servers
        not rotate, §5.1 lets them omit an unchanged scope).
        Raises :class:`~refreshkit.errors.ConfigurationError` when ``body`` is
        not a token response (no ``access_token``): usually a wrong URL.
        """
        access_token = body.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise ConfigurationError("not an RFC 6749 token response: no access_token")
        received = time.time() if now is None else now
        expires_in = _number(body.get("expires_in"))
        refresh_token = body.get("refresh_token")
        scope = body.get("scope")
        return cls(
            access_token=access_token,
            refresh_token=(
                refresh_token
                if isinstance(refresh_token, str) and refresh_token
                else (previous.refresh_token if previous else None)
            ),
            token_type=str(body.get("token_type") or "Bearer"),
            expires_at=None if expires_in is None else received + expires_in,
            issued_at=None if expires_in is None else received,
            scope=scope if isinstance(scope, str) else (previous.scope if previous else None),
            csrf_token=previous.csrf_token if previous else None,
        )

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header value that presents the access token (RFC 6750 §2.1)."""
        return f"{self.token_type} {self.access_token}"

    def expiring(self, now: float, skew: float) -> bool:
        """Whether the access token expires within ``skew`` seconds of ``now``.

        The margin never exceeds half the token's lifetime (when known), so a
        server that issues tokens shorter than ``skew`` does not make the
        client refresh on every call. A token with no known expiry is never
        renewed ahead of time; a ``401 invalid_token`` renews it instead.
        """
        if self.expires_at is None:
            return False
        margin = skew
        if self.issued_at is not None and self.expires_at > self.issued_at:
            margin = min(skew, (self.expires_at - self.issued_at) / 2)
        return now >= self.expires_at - margin

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field, for a holder that persists tokens."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Tokens:
        """Rebuild what :meth:`to_dict` produced (unknown keys are ignored).

        Raises :class:`~refreshkit.errors.ConfigurationError` without an access token.
        """
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        if not isinstance(known.get("access_token"), str):
            raise ConfigurationError("saved tokens have no access_token")
        return cls(**known)


def _unverified_claims(token: str) -> Mapping[str, Any]:
    """The payload of a JWT, unverified; empty for anything that is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except ValueError:  # bad base64, bad UTF-8 and bad JSON are all ValueErrors
        return {}
    return claims if isinstance(claims, dict) else {}


def _number(value: object) -> float | None:
    """``value`` as seconds when it is a number (or a numeric string), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None
