"""The pure rules of the token lifecycle: no I/O, no clock, no framework.

Read it like a state machine. A refresh record is in one of these states
relative to its session (see :func:`classify`)::

    state        presented token is ...                          rotation on      rotation off
    ---------    ---------------------------------------------   --------------   ------------
    CURRENT      the session's newest, unconsumed                ROTATED          REUSED
    IN_RETRY     the newest one's parent, consumed < retry_window REPLAYED         -
                 ago (so its successor was never used)
    SPENT        consumed before, or an older generation          REUSE (revoke)   REUSE (revoke)
    + guards that refuse before any of the above: UNKNOWN (no such token or
      wrong secret), REVOKED, EXPIRED, DEVICE_MISMATCH, USE_LIMIT.

A REPLAYED refresh writes nothing: the store reports the session as found,
whose ``sealed_successor`` the manager opens with the presented token to hand
out the very same successor again (a retry after a lost reply, a resent
request, a racing tab). The family never forks.

:func:`transition` is the one function that moves between them. The memory
store calls it under a lock (and writes only what it returns when the result
is applied); the SQL statements and Redis scripts implement exactly the same
table, and the shared conformance suite holds them to it.
:func:`consequence_of` decides what a refusal costs (error, event, revocation).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from . import _tokens
from .config import Settings
from .errors import (
    DeviceMismatchError,
    ExpiredTokenError,
    InsufficientScopeError,
    InvalidTokenError,
    RevokedTokenError,
    TokenError,
    TokenReuseError,
)
from .events import EventName
from .models import (
    AccessCheck,
    AccessClaims,
    ConsumeOutcome,
    ConsumeRequest,
    ConsumeResult,
    NewToken,
    RefreshRecord,
    Session,
)

__all__ = [
    "MAX_TIME_CLAIM",
    "RESERVED_CLAIMS",
    "Consequence",
    "Rejection",
    "access_claims_from_payload",
    "access_expiry",
    "access_payload",
    "already_applied",
    "check_access_state",
    "check_access_times",
    "classify",
    "consequence_of",
    "consume_request",
    "device_matches",
    "is_live",
    "new_session",
    "replayed_successor",
    "sessions_to_evict",
    "transition",
]

#: Claims refreshkit owns; an application's own claims may not set them.
RESERVED_CLAIMS = frozenset(
    {"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid", "scope", "cnf", "dev", "client_id"}
)
#: The access-token claim that carries the bound device's hash.
DEVICE_CLAIM = "dev"


class Rejection(enum.Enum):
    """Why a presented refresh token was refused, in the order the guards run."""

    UNKNOWN = "unknown"
    REVOKED = "revoked"
    EXPIRED = "expired"
    DEVICE_MISMATCH = "device_mismatch"
    USE_LIMIT = "use_limit"
    REUSE = "reuse"


@dataclass(frozen=True, slots=True)
class Consequence:
    """What the manager does about a :class:`Rejection`."""

    error: type[TokenError]
    message: str
    event: EventName | None
    revoke_reason: str | None


# --------------------------------------------------------------------- sessions


def new_session(
    subject: str,
    now: datetime,
    settings: Settings,
    *,
    device: str | None = None,
    scope: str | None = None,
    claims: Mapping[str, Any] | None = None,
) -> tuple[Session, RefreshRecord, str]:
    """A new session and its first refresh record: ``(session, record, refresh_token)``.

    Raises :class:`ValueError` when ``claims`` try to set a reserved claim.
    """
    if not isinstance(subject, str) or not subject:
        raise ValueError("subject must be a non-empty string")
    own_claims = dict(claims or {})
    clash = RESERVED_CLAIMS.intersection(own_claims)
    if clash:
        raise ValueError(f"claims may not override reserved claims: {', '.join(sorted(clash))}")
    sid = _tokens.new_session_id()
    token, token_id, secret_hash = _tokens.new_refresh_token(sid)
    session = Session(
        sid=sid,
        subject=subject,
        created_at=now,
        idle_expires_at=now + settings.refresh_idle_ttl,
        absolute_expires_at=now + settings.refresh_absolute_ttl,
        last_used_at=now,
        current_token_id=token_id,
        device_hash=_tokens.hash_device(device) if device is not None else None,
        scope=scope,
        claims=own_claims,
    )
    record = RefreshRecord(
        token_id=token_id, sid=sid, secret_hash=secret_hash, generation=0, created_at=now
    )
    return session, record, token


def is_live(session: Session, now: datetime) -> bool:
    """A session is live until revoked or past its (idle or absolute) expiry."""
    return session.revoked_at is None and now < session.expires_at


def sessions_to_evict(
    sessions: Iterable[Session],
    max_sessions: int | None,
    now: datetime,
    *,
    keep: str | None = None,
) -> list[Session]:
    """The oldest live sessions beyond ``max_sessions`` (newest are kept).

    ``keep`` is the sid of the login being made: it is never evicted, even
    when other sessions share its ``created_at`` (a coarse or frozen clock),
    where the order would otherwise fall to the random sid.
    """
    if max_sessions is None:
        return []
    live = [s for s in sessions if is_live(s, now)]
    excess = len(live) - max_sessions
    if excess <= 0:
        return []
    others = sorted((s for s in live if s.sid != keep), key=lambda s: (s.created_at, s.sid))
    return others[:excess]


# ---------------------------------------------------------------------- refresh


def consume_request(
    presented: str, now: datetime, settings: Settings, *, device: str | None
) -> tuple[ConsumeRequest, str | None]:
    """Build the store request for one refresh: ``(request, new_refresh_token_or_None)``.

    ``presented`` is the refresh token as the client sent it (raises
    :class:`~refreshkit.errors.InvalidTokenError` when malformed): with
    rotation the successor is sealed under it, so that only a holder of
    ``presented`` can recover the successor on a retry.
    """
    token_id, secret_hash = _tokens.parse_refresh_token(presented)
    successor: NewToken | None = None
    token: str | None = None
    sealed: str | None = None
    if settings.rotation:
        token, new_id, new_hash = _tokens.new_refresh_token(_tokens.session_id_of(token_id))
        successor = NewToken(token_id=new_id, secret_hash=new_hash)
        sealed = _tokens.seal_successor(presented, token)
    window = settings.retry_window if settings.rotation else timedelta(0)
    request = ConsumeRequest(
        token_id=token_id,
        secret_hash=secret_hash,
        now=now,
        idle_expires_at=now + settings.refresh_idle_ttl,
        successor=successor,
        device_hash=_tokens.hash_device(device) if device is not None else None,
        max_uses=None if settings.rotation else settings.max_uses,
        retry_since=now - window if window > timedelta(0) else None,
        sealed_successor=sealed,
    )
    return request, token


def device_matches(bound_hash: str | None, presented_hash: str | None) -> bool:
    """An unbound session accepts any device; a bound one only its own."""
    return bound_hash is None or bound_hash == presented_hash


def classify(
    record: RefreshRecord | None, session: Session | None, request: ConsumeRequest
) -> ConsumeOutcome | Rejection:
    """Decide what a refresh does, from the stored state alone.

    The guards run in a fixed order, so every backend refuses for the same
    reason: unknown, revoked, expired, device, then the token's own state.
    """
    if (
        record is None
        or session is None
        or record.sid != session.sid
        or not _tokens.secrets_match(record.secret_hash, request.secret_hash)
    ):
        return Rejection.UNKNOWN
    if session.revoked_at is not None:
        return Rejection.REVOKED
    if request.now >= session.expires_at:
        return Rejection.EXPIRED
    if not device_matches(session.device_hash, request.device_hash):
        return Rejection.DEVICE_MISMATCH
    current = record.consumed_at is None and record.generation == session.generation
    if request.successor is None:
        if not current:
            return Rejection.REUSE
        if request.max_uses is not None and record.use_count >= request.max_uses:
            return Rejection.USE_LIMIT
        return ConsumeOutcome.REUSED
    if current:
        return ConsumeOutcome.ROTATED
    # A retry: the token's successor is the newest token (so, with rotation,
    # never used) and the token was consumed within the window.
    retry = (
        request.retry_since is not None
        and record.consumed_at is not None
        and record.consumed_at > request.retry_since
        and record.generation == session.generation - 1
    )
    return ConsumeOutcome.REPLAYED if retry else Rejection.REUSE


def transition(
    record: RefreshRecord | None, session: Session | None, request: ConsumeRequest
) -> ConsumeResult:
    """Apply one refresh to the stored state and return the new state.

    Pure: the caller stores what comes back (all of it, atomically) when
    :attr:`~refreshkit.models.ConsumeResult.applied`, else nothing: a
    rejection and a REPLAYED retry report the state as found. The new values
    are built field by field rather than with :func:`dataclasses.replace`,
    which costs twice as much on this hot path.
    """
    decision = classify(record, session, request)
    if isinstance(decision, Rejection):
        return ConsumeResult(ConsumeOutcome.REJECTED, record, session)
    if decision is ConsumeOutcome.REPLAYED:
        return ConsumeResult(decision, record, session)
    assert record is not None and session is not None
    now = request.now
    if decision is ConsumeOutcome.REUSED:
        used = _record_after_use(record, record.consumed_at)
        slid = _session_after_refresh(
            session,
            request,
            session.generation,
            session.current_token_id,
            session.sealed_successor,
        )
        return ConsumeResult(decision, used, slid)
    assert request.successor is not None
    generation = session.generation + 1
    issued = RefreshRecord(
        token_id=request.successor.token_id,
        sid=session.sid,
        secret_hash=request.successor.secret_hash,
        generation=generation,
        created_at=now,
        parent_id=record.token_id,
    )
    consumed = _record_after_use(record, now)
    moved = _session_after_refresh(
        session, request, generation, issued.token_id, request.sealed_successor
    )
    return ConsumeResult(decision, consumed, moved, issued)


def _record_after_use(record: RefreshRecord, consumed_at: datetime | None) -> RefreshRecord:
    return RefreshRecord(
        token_id=record.token_id,
        sid=record.sid,
        secret_hash=record.secret_hash,
        generation=record.generation,
        created_at=record.created_at,
        parent_id=record.parent_id,
        consumed_at=consumed_at,
        use_count=record.use_count + 1,
    )


def _session_after_refresh(
    session: Session,
    request: ConsumeRequest,
    generation: int,
    current_token_id: str,
    sealed_successor: str | None,
) -> Session:
    """The session slid to the request's idle expiry, with its token pointer moved."""
    return Session(
        sid=session.sid,
        subject=session.subject,
        created_at=session.created_at,
        idle_expires_at=request.idle_expires_at,
        absolute_expires_at=session.absolute_expires_at,
        last_used_at=request.now,
        current_token_id=current_token_id,
        generation=generation,
        sealed_successor=sealed_successor,
        device_hash=session.device_hash,
        scope=session.scope,
        claims=session.claims,
        revoked_at=session.revoked_at,
        revoked_reason=session.revoked_reason,
    )


def replayed_successor(session: Session, presented: str) -> str | None:
    """The refresh token a retry of ``presented`` gets back, or None: then it is reuse.

    Only ``presented`` opens the session's sealed successor, and what it
    opens must be the session's newest token. A session without a seal
    (stored before the upgrade), a seal that does not open or one that holds
    another token cannot be told from a replay, and no second token may be
    minted for it.
    """
    sealed = session.sealed_successor
    successor = _tokens.open_successor(sealed, presented) if sealed is not None else None
    if successor is None:
        return None
    try:
        successor_id = _tokens.parse_refresh_token(successor)[0]
    except InvalidTokenError:
        return None
    return successor if successor_id == session.current_token_id else None


def already_applied(session: Session | None, request: ConsumeRequest) -> bool:
    """Whether a refused request is this very request, already applied once.

    A client library that re-sends a command after losing its reply (redis-py
    retries on connection errors) makes the store see one request twice: the
    second time the token is consumed, yet the session's newest token is the
    successor this request minted, a random id nobody else can choose. That is
    the success to report again, not reuse to punish with a logout.
    """
    return (
        request.successor is not None
        and session is not None
        and session.current_token_id == request.successor.token_id
        and is_live(session, request.now)
    )


def consequence_of(rejection: Rejection, settings: Settings) -> Consequence:
    """The error, event and revocation that a refused refresh costs."""
    if rejection is Rejection.UNKNOWN:
        return Consequence(InvalidTokenError, "unknown refresh token", None, None)
    if rejection is Rejection.REVOKED:
        return Consequence(RevokedTokenError, "session revoked", None, None)
    if rejection is Rejection.EXPIRED:
        return Consequence(ExpiredTokenError, "session expired", "expired", None)
    if rejection is Rejection.DEVICE_MISMATCH:
        revoke = "device_mismatch" if settings.revoke_on_device_mismatch else None
        return Consequence(
            DeviceMismatchError, "token presented from another device", "device_mismatch", revoke
        )
    if rejection is Rejection.USE_LIMIT:
        return Consequence(ExpiredTokenError, "refresh token use limit reached", None, None)
    return Consequence(
        TokenReuseError, "refresh token reused: session revoked", "reuse_detected", "reuse"
    )


# ----------------------------------------------------------------------- access


def access_expiry(session: Session, now: datetime, settings: Settings) -> datetime:
    """An access token lives ``access_ttl``, never past its session's expiry."""
    return min(now + settings.access_ttl, session.expires_at)


def access_payload(
    session: Session, jti: str, now: datetime, expires: datetime, settings: Settings
) -> dict[str, Any]:
    """The RFC 9068 claims of an access token for ``session``, expiring at ``expires``.

    ``expires`` comes from :func:`access_expiry`; the caller computes it once.
    """
    issued = int(now.timestamp())
    payload: dict[str, Any] = dict(session.claims)
    payload.update(
        iss=settings.issuer,
        sub=session.subject,
        aud=settings.audience[0],
        iat=issued,
        nbf=issued,
        exp=int(expires.timestamp()),
        jti=jti,
        sid=session.sid,
    )
    if session.scope:
        payload["scope"] = session.scope
    if session.device_hash is not None:
        payload[DEVICE_CLAIM] = session.device_hash
    return payload


_REQUIRED_CLAIMS: dict[str, type | tuple[type, ...]] = {
    "sub": str,
    "sid": str,
    "jti": str,
    "iss": str,
    "exp": int,
    "iat": int,
    "nbf": int,
}
_TIME_CLAIMS = ("exp", "iat", "nbf")
#: The range of ``exp``/``iat``/``nbf``: integer seconds from the epoch to
#: 9999-12-31T23:59:59Z, the last second a :class:`~datetime.datetime` holds.
#: Anything outside (negative, 10**12, 10**400) is a malformed token, refused
#: here rather than overflowing later in a float sum or a datetime conversion.
MAX_TIME_CLAIM = 253402300799


def access_claims_from_payload(payload: Mapping[str, Any]) -> AccessClaims:
    """Type-check a decoded payload and wrap it; malformed claims are invalid tokens.

    Time claims must be integers in ``[0, MAX_TIME_CLAIM]``; raises
    :class:`InvalidTokenError` otherwise.
    """
    for name, kind in _REQUIRED_CLAIMS.items():
        value = payload.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise InvalidTokenError(f"access token claim {name!r} missing or malformed")
    for name in _TIME_CLAIMS:
        if not 0 <= payload[name] <= MAX_TIME_CLAIM:
            raise InvalidTokenError(f"access token claim {name!r} out of range")
    aud = payload.get("aud")
    audience = (aud,) if isinstance(aud, str) else tuple(aud) if isinstance(aud, list) else ()
    scope = payload.get("scope")
    if scope is not None and not isinstance(scope, str):
        raise InvalidTokenError("access token claim 'scope' malformed")
    device = payload.get(DEVICE_CLAIM)
    cnf = payload.get("cnf")
    return AccessClaims(
        subject=payload["sub"],
        sid=payload["sid"],
        jti=payload["jti"],
        issuer=payload["iss"],
        audience=audience,
        issued_at=payload["iat"],
        not_before=payload["nbf"],
        expires_at=payload["exp"],
        scopes=frozenset(scope.split()) if scope else frozenset(),
        device_hash=device if isinstance(device, str) else None,
        cnf=cnf if isinstance(cnf, dict) else None,
        extra={k: v for k, v in payload.items() if k not in RESERVED_CLAIMS},
        raw=dict(payload),
    )


def check_access_times(claims: AccessClaims, now: datetime, leeway: timedelta) -> None:
    """Refuse an access token outside ``[nbf, exp)`` (with leeway)."""
    instant = now.timestamp()
    slack = leeway.total_seconds()
    if instant >= claims.expires_at + slack:
        raise ExpiredTokenError("access token expired")
    if instant + slack < claims.not_before or instant + slack < claims.issued_at:
        raise InvalidTokenError("access token not yet valid")


def check_access_binding(
    claims: AccessClaims, device: str | None, scopes: Iterable[str] = ()
) -> None:
    """Refuse a token bound to another device, or lacking a required scope."""
    if claims.device_hash is not None:
        presented = _tokens.hash_device(device) if device is not None else None
        if presented != claims.device_hash:
            raise DeviceMismatchError("access token bound to another device")
    required = frozenset(scopes)
    if required and not required <= claims.scopes:
        raise InsufficientScopeError("missing required scope", required=required)


def check_access_state(check: AccessCheck, now: datetime) -> None:
    """Online check: refuse a denied jti or a session that is gone, revoked or expired."""
    if check.denied:
        raise RevokedTokenError("access token revoked")
    if check.session is None or check.session.revoked_at is not None:
        raise RevokedTokenError("session revoked")
    if now >= check.session.expires_at:
        raise ExpiredTokenError("session expired")
