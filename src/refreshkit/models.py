"""Values passed between the manager, the policy and the stores.

All are frozen, slotted dataclasses: a store returns new values, it never
mutates what it was given. Fields that hold secrets or their hashes are
excluded from ``repr`` so they cannot leak into logs.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "AccessCheck",
    "AccessClaims",
    "ConsumeOutcome",
    "ConsumeRequest",
    "ConsumeResult",
    "NewToken",
    "RefreshRecord",
    "Session",
    "TokenPair",
    "TokenState",
]


@dataclass(frozen=True, slots=True)
class TokenPair:
    """What a login or a refresh hands to the client.

    ``to_response()`` gives the RFC 6749 §5.1 JSON body.
    """

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_in: int
    access_expires_at: datetime
    refresh_expires_at: datetime
    sid: str
    subject: str
    scope: str | None = None
    token_type: str = "Bearer"

    def to_response(self) -> dict[str, Any]:
        """The RFC 6749 §5.1 successful-response body."""
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
        }
        if self.scope is not None:
            body["scope"] = self.scope
        return body


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """A verified access token's claims.

    ``extra`` holds the application's own claims; ``raw`` the whole payload.
    Times are integer seconds since the epoch, as in the JWT; verification
    refuses any outside ``[0, 253402300799]`` (up to the year 9999), so each
    converts to a :class:`~datetime.datetime`.
    """

    subject: str
    sid: str
    jti: str
    issuer: str
    audience: tuple[str, ...]
    issued_at: int
    not_before: int
    expires_at: int
    scopes: frozenset[str] = frozenset()
    device_hash: str | None = None
    cnf: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def expires(self) -> datetime:
        """``exp`` as an aware UTC datetime."""
        return datetime.fromtimestamp(self.expires_at, UTC)

    def has_scopes(self, required: frozenset[str] | set[str] | tuple[str, ...]) -> bool:
        """True when every scope in ``required`` was granted."""
        return set(required) <= self.scopes


@dataclass(frozen=True, slots=True)
class Session:
    """A refresh family: one login on one device, until logout, revocation or expiry.

    ``generation`` counts rotations; ``current_token_id`` is the newest token.
    ``sealed_successor`` is that newest token, encrypted under a key only its
    predecessor's secret derives (see :func:`refreshkit._tokens.seal_successor`),
    so a retry of the predecessor gets the same token back while the stored
    value alone yields nothing. A session expires at :attr:`expires_at`, the
    earlier of its sliding (idle) and absolute expiry.
    """

    sid: str
    subject: str
    created_at: datetime
    idle_expires_at: datetime
    absolute_expires_at: datetime
    last_used_at: datetime
    current_token_id: str
    generation: int = 0
    sealed_successor: str | None = field(default=None, repr=False)
    device_hash: str | None = field(default=None, repr=False)
    scope: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)
    revoked_at: datetime | None = None
    revoked_reason: str | None = None

    @property
    def expires_at(self) -> datetime:
        """When the session ends unless refreshed: min(idle, absolute)."""
        return min(self.idle_expires_at, self.absolute_expires_at)

    @property
    def revoked(self) -> bool:
        """Whether the session was revoked."""
        return self.revoked_at is not None


@dataclass(frozen=True, slots=True)
class RefreshRecord:
    """The stored half of one refresh token: never the secret, only its hash.

    ``generation`` places it in its session; a record is usable while its
    generation is the session's and it is not consumed.
    """

    token_id: str
    sid: str
    secret_hash: str = field(repr=False)
    generation: int
    created_at: datetime
    parent_id: str | None = None
    consumed_at: datetime | None = None
    use_count: int = 0


@dataclass(frozen=True, slots=True)
class NewToken:
    """A freshly minted token's public id and secret hash, for the store to insert."""

    token_id: str
    secret_hash: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ConsumeRequest:
    """Everything a store needs to apply one refresh atomically, in one round trip.

    The policy computes it; the store applies :func:`refreshkit._policy.transition`
    to the stored record and session under its own atomicity (a lock, a
    transaction, a Lua script) and reports the result.
    """

    token_id: str
    secret_hash: str = field(repr=False)
    now: datetime
    #: The session's new sliding expiry if the refresh is applied.
    idle_expires_at: datetime
    #: The successor to insert; None when rotation is off (the token is reused).
    successor: NewToken | None
    device_hash: str | None = field(default=None, repr=False)
    #: With rotation off: the most uses a token may have.
    max_uses: int | None = None
    #: The newest token's predecessor, consumed after this instant, is a retry
    #: (the same successor is handed out again); None: strict rotation.
    retry_since: datetime | None = None
    #: The successor sealed under the presented token's secret, stored in the
    #: session on rotation so a retry can recover it; None when rotation is off.
    sealed_successor: str | None = field(default=None, repr=False)


class ConsumeOutcome(enum.Enum):
    """What a store did with a :class:`ConsumeRequest`."""

    #: Consumed now; the successor was inserted as the session's newest token.
    ROTATED = "rotated"
    #: A retry: the token's successor is the session's newest, unused, and the
    #: token was consumed within the retry window. Nothing is written; the
    #: session (with its sealed successor) is reported so the same successor
    #: is returned again.
    REPLAYED = "replayed"
    #: Rotation off: the use was counted and the session slid.
    REUSED = "reused"
    #: Nothing written; the state is reported for the policy to judge.
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class ConsumeResult:
    """The outcome of a consume and the state it left (or found).

    ``record``/``session`` are as stored *after* the operation (as found when
    ``REJECTED``); either is None when unknown. ``issued`` is the inserted
    successor, if any.
    """

    outcome: ConsumeOutcome
    record: RefreshRecord | None = None
    session: Session | None = None
    issued: RefreshRecord | None = None

    @property
    def applied(self) -> bool:
        """Whether the store wrote anything (a rotation or a counted use)."""
        return self.outcome is ConsumeOutcome.ROTATED or self.outcome is ConsumeOutcome.REUSED


@dataclass(frozen=True, slots=True)
class TokenState:
    """A refresh record together with its session, as a store reports them."""

    record: RefreshRecord
    session: Session


@dataclass(frozen=True, slots=True)
class AccessCheck:
    """What an online access-token check needs: is the jti denied, and the session."""

    denied: bool
    session: Session | None
