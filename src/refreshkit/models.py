"""Values passed between the manager, the policy and the stores.

All are frozen, slotted dataclasses: a store returns new values, it never
mutates what it was given. Fields that hold secrets or their hashes are
excluded from ``repr`` so they cannot leak into logs.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "CHECKABLE_FIELDS",
    "COUNTER_FIELDS",
    "MUTABLE_FIELDS",
    "AccessCheck",
    "AccessClaims",
    "Check",
    "ChangeValue",
    "CheckOp",
    "FieldValue",
    "Session",
    "SessionInfo",
    "SessionUpdate",
    "SubjectCutoff",
    "TokenPair",
    "UpdateResult",
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
    #: The OAuth client the token was issued to (RFC 9068 §2.2), if any.
    client_id: str | None = None
    #: When the user last authenticated (RFC 9068 §2.2.1 ``auth_time``): set at
    #: login, kept across refreshes, moved by a re-authentication. None for a
    #: token without the claim (its session started before refreshkit set it).
    auth_time: datetime | None = None
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

    The session alone holds its token state, in a constant number of fields
    however often it is refreshed: the newest token (``current_token_id`` and
    the hash of its secret), the one it replaced (``previous_*``, consumed at
    ``rotated_at``), and ``chain_hash``, the hash of the key every token of
    the session carries, which tells any earlier token of the session from a
    forgery. ``generation`` counts rotations; ``use_count`` the uses of the
    newest token when rotation is off. ``sealed_successor`` is the newest
    token encrypted under a key only its predecessor's secret derives (see
    :func:`refreshkit._tokens.seal_successor`), so a retry of the predecessor
    gets the same token back while the stored value alone yields nothing. A
    session expires at :attr:`expires_at`, the earlier of its sliding (idle)
    and absolute expiry.
    """

    sid: str
    subject: str
    created_at: datetime
    idle_expires_at: datetime
    absolute_expires_at: datetime
    last_used_at: datetime
    current_token_id: str
    current_secret_hash: str = field(repr=False)
    generation: int = 0
    use_count: int = 0
    previous_token_id: str | None = None
    previous_secret_hash: str | None = field(default=None, repr=False)
    rotated_at: datetime | None = None
    sealed_successor: str | None = field(default=None, repr=False)
    chain_hash: str | None = field(default=None, repr=False)
    device_hash: str | None = field(default=None, repr=False)
    scope: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)
    #: The OAuth client the session belongs to (RFC 6749 §6): set at login or,
    #: for a session started without one, by the first client that refreshes it.
    client_id: str | None = None
    #: RFC 7800 confirmation claim written to every access token of the session.
    cnf: Mapping[str, Any] | None = None
    revoked_at: datetime | None = None
    revoked_reason: str | None = None
    #: The ``User-Agent`` of the login (at most 512 characters), for a device list.
    user_agent: str | None = None
    #: The login's client IP as ``Settings.session_ip`` keeps it (plain, truncated
    #: to its /24 or /48 network, or a keyed hash); None when not recorded.
    client_ip: str | None = None
    #: A label the user or the application gave the device ("Work laptop").
    device_label: str | None = None
    #: The session's own sliding (idle) lifetime, chosen at login (remember me);
    #: None: the settings' ``refresh_idle_ttl``.
    idle_ttl: timedelta | None = None

    @property
    def expires_at(self) -> datetime:
        """When the session ends unless refreshed: min(idle, absolute)."""
        return min(self.idle_expires_at, self.absolute_expires_at)

    @property
    def revoked(self) -> bool:
        """Whether the session was revoked."""
        return self.revoked_at is not None


#: The session fields a :class:`SessionUpdate` may change: everything but the
#: identity and what a login fixes (``sid``, ``subject``, ``created_at``,
#: ``absolute_expires_at``, ``cnf``). ``client_id`` is written once, by the
#: first client's refresh; ``claims`` (a JSON object, written whole) only by a
#: re-authentication, which moves their ``auth_time``.
MUTABLE_FIELDS: frozenset[str] = frozenset(
    {
        "idle_expires_at",
        "last_used_at",
        "current_token_id",
        "current_secret_hash",
        "generation",
        "use_count",
        "previous_token_id",
        "previous_secret_hash",
        "rotated_at",
        "sealed_successor",
        "chain_hash",
        "device_hash",
        "scope",
        "client_id",
        "revoked_at",
        "revoked_reason",
        "claims",
    }
)
#: The fields a :class:`Check` may name: the mutable ones but ``claims``, the
#: absolute expiry and the session's own idle lifetime (a refresh slides by it).
CHECKABLE_FIELDS: frozenset[str] = (MUTABLE_FIELDS - {"claims"}) | {
    "absolute_expires_at",
    "idle_ttl",
}
#: The integer fields a :class:`SessionUpdate` may add one to.
COUNTER_FIELDS: frozenset[str] = frozenset({"generation", "use_count"})

#: A stored field's value as a check compares it and an update writes it.
FieldValue = str | int | datetime | timedelta | None
#: What an update may write: a field's value, or the whole ``claims`` object.
ChangeValue = FieldValue | Mapping[str, Any]


class CheckOp(enum.Enum):
    """How a :class:`Check` compares one stored session field with its value."""

    #: The field equals the value; with None, the field is unset.
    EQUALS = "equals"
    #: The field is unset, or equals the value (a device binding).
    UNSET_OR_EQUALS = "unset_or_equals"
    #: The field is set and later than the value (a datetime): not yet expired.
    AFTER = "after"
    #: The field is set and below the value (an integer): a use limit.
    BELOW = "below"


@dataclass(frozen=True, slots=True)
class Check:
    """One condition on one stored session field; see :class:`CheckOp`."""

    field: str
    op: CheckOp
    value: FieldValue = dataclasses.field(repr=False)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """What a user sees of one of their sessions in a device list: no token state.

    ``current`` marks the session the request listing them belongs to.
    ``client_ip`` is as stored (see ``Settings.session_ip``).
    """

    sid: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    current: bool = False
    user_agent: str | None = None
    client_ip: str | None = None
    device_label: str | None = None
    client_id: str | None = None
    scope: str | None = None

    @classmethod
    def of(cls, session: Session, current: str | None = None) -> SessionInfo:
        """The view of ``session``; ``current`` is the sid of the session asking."""
        return cls(
            sid=session.sid,
            created_at=session.created_at,
            last_used_at=session.last_used_at,
            expires_at=session.expires_at,
            current=current is not None and session.sid == current,
            user_agent=session.user_agent,
            client_ip=session.client_ip,
            device_label=session.device_label,
            client_id=session.client_id,
            scope=session.scope,
        )


@dataclass(frozen=True, slots=True)
class SessionUpdate:
    """A compare-and-set on one session, built by the policy, applied by a store.

    The store applies ``changes`` (field to new value, None clears it) and adds
    one to each of ``increments`` only if the session ``sid`` exists and every
    one of ``checks`` holds, all in one atomic step, and reports the session as
    it is afterwards (or as found, when nothing was applied). The store decides
    nothing: every rule is in the checks and changes.
    """

    sid: str
    checks: tuple[Check, ...]
    changes: Mapping[str, ChangeValue] = field(default_factory=dict, repr=False)
    increments: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class UpdateResult:
    """What a store reports for a :class:`SessionUpdate`.

    ``applied``: every check held and the changes were written. ``session``:
    the session after the write when applied, else as found (None: no such
    session).
    """

    applied: bool
    session: Session | None


@dataclass(frozen=True, slots=True)
class SubjectCutoff:
    """A subject's cutoff: sessions and tokens issued before ``before`` are void.

    Written by ``revoke_subject(subject, before=...)`` (a password change,
    say), ``reason`` saying why and ``recorded_at`` when. A store keeps one
    per subject and only ever moves it later (monotonic).
    """

    subject: str
    before: datetime
    reason: str
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class AccessCheck:
    """What an online access-token check needs: is the jti denied, the session, the cutoff.

    ``cutoff`` is the ``before`` of the subject's :class:`SubjectCutoff`
    (None: none, or the subject was not asked about).
    """

    denied: bool
    session: Session | None
    cutoff: datetime | None = None
