"""The pure rules of the token lifecycle: no I/O, no clock, no framework.

Read it like a state machine. A presented refresh token plays one of these
roles in its session (see :func:`token_role`), and the session's state
decides the rest (see :func:`classify`)::

    role       presented token is ...                          rotation on      rotation off
    ---------  ----------------------------------------------  ---------------  ------------
    CURRENT    the session's newest                            ROTATED          REUSED
    PREVIOUS   the one the newest replaced (so the newest was  REPLAYED within  REUSE
               never used), consumed < retry_window ago        the window, else
                                                               REUSE (revoke)
    EARLIER    any older token of the session (it carries the  REUSE (revoke)   REUSE (revoke)
               session's chain key)
    + guards that refuse before any of the above: UNKNOWN (no such session,
      wrong secret, or a forgery), REVOKED, EXPIRED, DEVICE_MISMATCH, USE_LIMIT.

A session keeps only its newest and previous token and the hash of its chain
key, so its storage is bounded however often it is refreshed, and a replay
of any earlier token is still recognised as reuse.

Every write is a :class:`~refreshkit.models.SessionUpdate`, a compare-and-set
that a store applies atomically: :func:`refresh_attempt` builds the common
refresh's update (its checks *are* the CURRENT row's guards), so the common
refresh is one store round trip; when its checks fail the store reports the
session as found and :func:`classify` decides what the refusal is. A
REPLAYED retry writes nothing: the manager opens the session's
``sealed_successor`` with the presented token and hands out the very same
successor again (a retry after a lost reply, a resent request, a racing tab);
the family never forks. :func:`consequence_of` decides what a refusal costs
(error, event, revocation), and :func:`revocation` is the update that
revokes.
"""

from __future__ import annotations

import base64
import enum
import hmac
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from . import _tokens
from .config import Settings
from .errors import (
    ClientMismatchError,
    DeviceMismatchError,
    ExpiredTokenError,
    InsufficientScopeError,
    InsufficientUserAuthenticationError,
    InvalidScopeError,
    InvalidTokenError,
    RefreshCheckError,
    RevokedTokenError,
    TokenError,
    TokenReuseError,
)
from .events import EventName
from .models import (
    AccessCheck,
    AccessClaims,
    Check,
    CheckOp,
    FieldValue,
    Session,
    SessionUpdate,
    SubjectCutoff,
)

__all__ = [
    "DEVICE_LABEL_LENGTH",
    "MAX_TIME_CLAIM",
    "RESERVED_CLAIMS",
    "USER_AGENT_LENGTH",
    "Consequence",
    "Outcome",
    "RefreshAttempt",
    "Rejection",
    "Role",
    "access_claims_from_payload",
    "access_expiry",
    "access_payload",
    "auth_time_claim",
    "check_freshness",
    "check_live",
    "check_access_state",
    "check_access_times",
    "classify",
    "client_matches",
    "consequence_of",
    "cut_off",
    "device_matches",
    "introspection_of_access",
    "introspection_of_refresh",
    "is_live",
    "issued_before",
    "narrowed_scope",
    "scope_text",
    "token_contents",
    "needs_own_idle_ttl",
    "new_cutoff",
    "new_session",
    "reauthentication",
    "refresh_attempt",
    "replayed_successor",
    "revocation",
    "session_lifetimes",
    "sessions_to_evict",
    "stored_client_ip",
    "token_role",
]

#: Claims refreshkit owns; an application's own claims may not set them.
RESERVED_CLAIMS = frozenset(
    {
        "iss",
        "sub",
        "aud",
        "exp",
        "nbf",
        "iat",
        "jti",
        "sid",
        "scope",
        "cnf",
        "dev",
        "client_id",
        "auth_time",
    }
)
#: The claim (RFC 9068 §2.2.1, OIDC Core §2) of when the user last authenticated:
#: kept in the session's claims, so every access token of the session carries it.
AUTH_TIME_CLAIM = "auth_time"
#: The access-token claim that carries the bound device's hash.
DEVICE_CLAIM = "dev"


class Rejection(enum.Enum):
    """Why a presented refresh token was refused, in the order the guards run."""

    UNKNOWN = "unknown"
    REVOKED = "revoked"
    EXPIRED = "expired"
    DEVICE_MISMATCH = "device_mismatch"
    CLIENT_MISMATCH = "client_mismatch"
    USE_LIMIT = "use_limit"
    REUSE = "reuse"


class Role(enum.Enum):
    """What a presented refresh token is to the session it names."""

    CURRENT = "current"
    PREVIOUS = "previous"
    EARLIER = "earlier"
    UNKNOWN = "unknown"


class Outcome(enum.Enum):
    """What a refresh that is not refused does."""

    #: Rotated: the successor is now the session's newest token.
    ROTATED = "rotated"
    #: Rotation off: the use was counted and the session slid.
    REUSED = "reused"
    #: A retry within the window: the same successor is handed out again.
    REPLAYED = "replayed"


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
    client_id: str | None = None,
    cnf: Mapping[str, Any] | None = None,
    auth_time: datetime | None = None,
    user_agent: str | None = None,
    client_ip: str | None = None,
    device_label: str | None = None,
    idle_ttl: timedelta | None = None,
    absolute_ttl: timedelta | None = None,
) -> tuple[Session, str]:
    """A new session and its first refresh token: ``(session, refresh_token)``.

    ``settings`` are the ones of the session's client. ``auth_time`` is when
    the user authenticated (default ``now``), kept in the session's claims.
    ``client_ip`` is the raw address, kept as ``settings.session_ip`` says
    (:func:`stored_client_ip`). ``idle_ttl`` and ``absolute_ttl`` (remember
    me) shorten the session's lifetimes for its whole life
    (:func:`session_lifetimes`). Raises :class:`ValueError` when ``claims``
    try to set a reserved claim, ``cnf`` is not a JSON object, ``auth_time``
    is later than ``now``, a lifetime is longer than the settings' or not
    positive, or ``device_label`` is not a short text.
    """
    if cnf is not None and (not isinstance(cnf, Mapping) or not cnf):
        raise ValueError("cnf must be a non-empty mapping, such as {'jkt': thumbprint}")
    if not isinstance(subject, str) or not subject:
        raise ValueError("subject must be a non-empty string")
    own_claims = dict(claims or {})
    clash = RESERVED_CLAIMS.intersection(own_claims)
    if clash:
        raise ValueError(f"claims may not override reserved claims: {', '.join(sorted(clash))}")
    own_claims[AUTH_TIME_CLAIM] = auth_time_claim(now if auth_time is None else auth_time, now)
    idle, absolute = session_lifetimes(settings, idle_ttl, absolute_ttl)
    if device_label is not None and (
        not isinstance(device_label, str) or len(device_label) > DEVICE_LABEL_LENGTH
    ):
        raise ValueError(f"device_label must be a text of at most {DEVICE_LABEL_LENGTH} characters")
    sid = _tokens.new_session_id()
    token, token_id, secret_hash = _tokens.new_refresh_token(sid)
    session = Session(
        sid=sid,
        subject=subject,
        created_at=now,
        idle_expires_at=now + idle,
        absolute_expires_at=now + absolute,
        last_used_at=now,
        current_token_id=token_id,
        current_secret_hash=secret_hash,
        chain_hash=_tokens.read_refresh_token(token).chain_hash,
        device_hash=_tokens.hash_device(device) if device is not None else None,
        scope=scope,
        claims=own_claims,
        client_id=client_id,
        cnf=dict(cnf) if cnf is not None else None,
        user_agent=user_agent[:USER_AGENT_LENGTH] if user_agent else None,
        client_ip=stored_client_ip(client_ip, settings),
        device_label=device_label or None,
        idle_ttl=idle_ttl,
    )
    return session, token


def auth_time_claim(auth_time: datetime, now: datetime) -> int:
    """``auth_time`` as the claim's integer seconds; raises :class:`ValueError` if after ``now``."""
    if auth_time > now:
        raise ValueError("auth_time may not be later than now")
    return int(auth_time.timestamp())


def reauthentication(session: Session | None, now: datetime, auth_time: datetime) -> SessionUpdate:
    """The update that records a new authentication of a live session's user.

    It writes the session's claims with the new ``auth_time`` (each later
    access token carries it), guarded by the session still being live.
    Raises what :func:`check_live` raises for a session that is not, and
    :class:`ValueError` for an ``auth_time`` later than ``now``.
    """
    session = check_live(session, now)
    claims = dict(session.claims)
    claims[AUTH_TIME_CLAIM] = auth_time_claim(auth_time, now)
    return SessionUpdate(
        session.sid,
        (
            _NOT_REVOKED,
            Check("idle_expires_at", CheckOp.AFTER, now),
            Check("absolute_expires_at", CheckOp.AFTER, now),
        ),
        {"claims": claims},
    )


def check_freshness(claims: AccessClaims, max_age: timedelta, now: datetime) -> None:
    """Refuse a token whose user authenticated more than ``max_age`` ago (RFC 9470 §3).

    Ages are in whole seconds, as ``auth_time`` is. A token without
    ``auth_time`` is never fresh. Raises
    :class:`~refreshkit.errors.InsufficientUserAuthenticationError` carrying
    ``max_age`` in whole seconds, for the challenge.
    """
    seconds = int(max_age.total_seconds())
    auth_time = claims.auth_time
    if auth_time is None or now.replace(microsecond=0) - auth_time > max_age:
        raise InsufficientUserAuthenticationError(
            "a more recent authentication is required", max_age=seconds
        )


def check_live(session: Session | None, now: datetime) -> Session:
    """``session`` if it is live; else :class:`~refreshkit.errors.InvalidTokenError` (none),
    :class:`~refreshkit.errors.RevokedTokenError` or :class:`~refreshkit.errors.ExpiredTokenError`.
    """
    if session is None:
        raise InvalidTokenError("unknown session")
    if session.revoked_at is not None:
        raise RevokedTokenError("session revoked")
    if now >= session.expires_at:
        raise ExpiredTokenError("session expired")
    return session


#: The most characters of a ``User-Agent`` a session keeps (the rest is cut).
USER_AGENT_LENGTH = 512
#: The longest device label a login may give.
DEVICE_LABEL_LENGTH = 255
_IP_HASH = b"refreshkit-session-ip\x00"


def session_lifetimes(
    settings: Settings, idle_ttl: timedelta | None, absolute_ttl: timedelta | None
) -> tuple[timedelta, timedelta]:
    """A login's ``(idle, absolute)`` lifetimes: the settings', or shorter ones it chose.

    Remember me: a login may shorten either (a shared computer), never
    lengthen it: a longer one is a :class:`ValueError` rather than a silent
    clamp, so an application that asks for 90 days under a 30-day cap hears
    of it. A zero or negative lifetime is a :class:`ValueError` too.
    """
    chosen: list[timedelta] = []
    for name, wanted, limit in (
        ("idle_ttl", idle_ttl, settings.refresh_idle_ttl),
        ("absolute_ttl", absolute_ttl, settings.refresh_absolute_ttl),
    ):
        if wanted is None:
            chosen.append(limit)
            continue
        if not isinstance(wanted, timedelta) or wanted <= timedelta(0):
            raise ValueError(f"{name} must be a positive timedelta")
        if wanted > limit:
            setting = "refresh_idle_ttl" if name == "idle_ttl" else "refresh_absolute_ttl"
            raise ValueError(
                f"{name} {wanted} is longer than the settings' {setting} {limit}: "
                "a login may shorten a session's lifetime, never lengthen it"
            )
        chosen.append(wanted)
    return chosen[0], chosen[1]


def stored_client_ip(address: str | None, settings: Settings) -> str | None:
    """How a session keeps its login's client IP, as ``settings.session_ip`` says.

    ``"truncated"`` keeps the network (``203.0.113.0/24``, ``2001:db8:1::/48``);
    ``"hashed"`` a keyed HMAC-SHA256 (base64url), so equal addresses compare
    equal but the stored value names none; ``"off"`` nothing. Text that is not
    an IP address is not kept (None), whatever the mode.
    """
    mode = settings.session_ip
    if address is None or mode == "off":
        return None
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if mode == "plain":
        return str(ip)
    if mode == "truncated":
        prefix = 24 if ip.version == 4 else 48
        return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
    key = (settings.session_ip_key or settings.secret_key or "").encode("utf-8")
    digest = hmac.digest(key, _IP_HASH + ip.packed, "sha256")
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


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


#: Checks are immutable values: the one every refresh and revocation has is built once.
_NOT_REVOKED = Check("revoked_at", CheckOp.EQUALS, None)


@dataclass(frozen=True, slots=True)
class RefreshAttempt:
    """One refresh, prepared before any store call: the common path's update and its context."""

    presented: _tokens.PresentedToken
    now: datetime
    #: The compare-and-set that rotates (or, rotation off, counts a use of) a CURRENT token.
    update: SessionUpdate
    #: The successor refresh token (None: rotation off, the presented token stays).
    successor: str | None = field(repr=False)
    successor_id: str | None
    device_hash: str | None = field(repr=False)
    #: A PREVIOUS token rotated after this instant is a retry; None: strict rotation.
    retry_since: datetime | None
    #: With rotation off: the most uses a token may have.
    max_uses: int | None
    #: The OAuth client refreshing (None: an in-process call, not checked).
    client_id: str | None = None
    #: The session's own idle lifetime the update slides by (None: the settings').
    idle_ttl: timedelta | None = None


def refresh_attempt(
    presented: str,
    now: datetime,
    settings: Settings,
    *,
    device: str | None,
    client_id: str | None = None,
    granted_scope: tuple[str | None] | None = None,
    idle_ttl: timedelta | None = None,
) -> RefreshAttempt:
    """Prepare one refresh (raises :class:`~refreshkit.errors.InvalidTokenError` when malformed).

    The update's checks are exactly the guards a CURRENT token passes (known
    secret, not revoked, not expired, the same device, under the use limit),
    so a store that applies it has made the refresh in one round trip. A
    ``client_id`` must own the session or find it unbound, and binds it
    (RFC 6749 §6). ``granted_scope`` (a 1-tuple) pins the session's grant as
    read before a scope-narrowing refresh. ``idle_ttl`` is the session's own
    idle lifetime (remember me; None: the settings'), which the update checks
    is the stored one, so a session that chose another is never slid by the
    wrong one: the manager then retries with the stored lifetime
    (:func:`needs_own_idle_ttl`). With rotation, the successor is
    minted now, carrying the session's chain key, and sealed under
    ``presented`` so only a holder of ``presented`` can recover it on a retry.
    """
    token = _tokens.read_refresh_token(presented)
    device_hash = _tokens.hash_device(device) if device is not None else None
    checks: tuple[Check, ...] = (
        Check("current_token_id", CheckOp.EQUALS, token.token_id),
        Check("current_secret_hash", CheckOp.EQUALS, token.secret_hash),
        _NOT_REVOKED,
        Check("idle_expires_at", CheckOp.AFTER, now),
        Check("absolute_expires_at", CheckOp.AFTER, now),
        Check("device_hash", CheckOp.UNSET_OR_EQUALS, device_hash),
    )
    binding: dict[str, FieldValue] = {}
    if client_id is not None:
        checks += (Check("client_id", CheckOp.UNSET_OR_EQUALS, client_id),)
        binding["client_id"] = client_id
    if granted_scope is not None:
        checks += (Check("scope", CheckOp.EQUALS, granted_scope[0]),)
    checks += (Check("idle_ttl", CheckOp.EQUALS, idle_ttl),)
    idle = now + (idle_ttl if idle_ttl is not None else settings.refresh_idle_ttl)
    if not settings.rotation:
        max_uses = settings.max_uses
        if max_uses is not None:
            checks += (Check("use_count", CheckOp.BELOW, max_uses),)
        update = SessionUpdate(
            token.sid,
            checks,
            {"idle_expires_at": idle, "last_used_at": now, **binding},
            ("use_count",),
        )
        return RefreshAttempt(
            token, now, update, None, None, device_hash, None, max_uses, client_id, idle_ttl
        )
    successor, successor_id, successor_hash = _tokens.new_refresh_token(token.sid, token.chain_key)
    changes: dict[str, FieldValue] = {
        "current_token_id": successor_id,
        "current_secret_hash": successor_hash,
        "previous_token_id": token.token_id,
        "previous_secret_hash": token.secret_hash,
        "rotated_at": now,
        "sealed_successor": _tokens.seal_successor(token.token, successor),
        # The same value on every rotation of a session; it also gives a session
        # stored before chain keys existed its hash at its first rotation.
        "chain_hash": token.chain_hash,
        "use_count": 0,
        "idle_expires_at": idle,
        "last_used_at": now,
        **binding,
    }
    update = SessionUpdate(token.sid, checks, changes, ("generation",))
    window = settings.retry_window
    retry_since = now - window if window > timedelta(0) else None
    return RefreshAttempt(
        token,
        now,
        update,
        successor,
        successor_id,
        device_hash,
        retry_since,
        None,
        client_id,
        idle_ttl,
    )


def needs_own_idle_ttl(session: Session | None, attempt: RefreshAttempt) -> bool:
    """Whether a refresh that was not applied must be retried with the session's idle lifetime.

    The common refresh assumes the settings' lifetime (one round trip); a
    session that chose its own (remember me) refuses that update, and is
    then refreshed with its own: one more round trip, for those sessions only.
    """
    return session is not None and session.idle_ttl != attempt.idle_ttl


def client_matches(bound: str | None, presented: str | None) -> bool:
    """An unbound session, or an in-process call (no client), passes; else the same client."""
    return bound is None or presented is None or bound == presented


def narrowed_scope(granted: str | None, requested: str | None) -> str | None:
    """The scope a refresh that asks for ``requested`` gets (RFC 6749 §6).

    None (not asked): the whole grant. Otherwise at most the grant, never
    more: raises :class:`~refreshkit.errors.InvalidScopeError`. The session's
    grant itself never changes, so a later refresh may ask for all of it.
    """
    if requested is None:
        return granted
    wanted = list(dict.fromkeys(requested.split()))
    allowed = set(granted.split()) if granted else set()
    beyond = [s for s in wanted if s not in allowed]
    if beyond or not wanted:
        raise InvalidScopeError(f"scope {' '.join(beyond) or '(empty)'} exceeds the granted scope")
    return " ".join(wanted)


def scope_text(scope: str | Iterable[str] | None) -> str | None:
    """Scopes as the space-delimited string of RFC 6749 §3.3, duplicates dropped.

    Raises :class:`ValueError` for a scope with a space, quote or backslash.
    """
    if scope is None:
        return None
    parts = scope.split() if isinstance(scope, str) else [str(s) for s in scope]
    unique = list(dict.fromkeys(p for p in parts if p))
    if any(" " in p or '"' in p or "\\" in p for p in unique):
        raise ValueError("scopes may not contain spaces, quotes or backslashes")
    return " ".join(unique) or None


def token_contents(
    session: Session,
    scope: str | None,
    claims: Mapping[str, Any] | None,
    granted_scope: str | Iterable[str] | None,
    *,
    allow_wider_scope: bool = False,
) -> tuple[dict[str, Any], str | None]:
    """The claims and scope of an access token whose refresh check answered a grant.

    ``scope`` is what the token would carry without the check. ``claims``
    are merged over the session's (None drops one) and may not set a
    reserved claim; ``granted_scope`` replaces the scope and must lie
    within the session's grant unless ``allow_wider_scope``. Raises
    :class:`~refreshkit.errors.RefreshCheckError`: an answer outside these
    rules is the application's mistake, a server error, never a wider token.
    """
    merged = dict(session.claims)
    if claims is not None:
        if not isinstance(claims, Mapping):
            raise RefreshCheckError("a refresh check's claims must be a mapping")
        clash = RESERVED_CLAIMS.intersection(claims)
        if clash:
            raise RefreshCheckError(
                f"a refresh check may not set reserved claims: {', '.join(sorted(clash))}"
            )
        for name, value in claims.items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
    if granted_scope is None:
        return merged, scope
    try:
        chosen = scope_text(granted_scope)
    except ValueError:
        raise RefreshCheckError("a refresh check answered a malformed scope") from None
    if not allow_wider_scope:
        allowed = set(session.scope.split()) if session.scope else set()
        if chosen is not None and not set(chosen.split()) <= allowed:
            raise RefreshCheckError(
                "a refresh check answered a scope beyond the session's grant "
                "(allow_wider_scope=True allows it)"
            )
    return merged, chosen


def device_matches(bound_hash: str | None, presented_hash: str | None) -> bool:
    """An unbound session accepts any device; a bound one only its own."""
    return bound_hash is None or bound_hash == presented_hash


def token_role(session: Session | None, token: _tokens.PresentedToken) -> Role:
    """Which of the session's tokens ``token`` is, judged in constant time.

    EARLIER needs only the chain key: every token of a session carries it and
    the session keeps its hash, so a token from any number of rotations ago is
    recognised while a forged one (someone who knows only the session id) is
    UNKNOWN and revokes nothing.
    """
    if session is None or token.sid != session.sid:
        return Role.UNKNOWN
    if token.token_id == session.current_token_id and _tokens.secrets_match(
        session.current_secret_hash, token.secret_hash
    ):
        return Role.CURRENT
    previous = session.previous_secret_hash
    if (
        token.token_id == session.previous_token_id
        and previous is not None
        and _tokens.secrets_match(previous, token.secret_hash)
    ):
        return Role.PREVIOUS
    chain = session.chain_hash
    if chain is not None and _tokens.secrets_match(chain, token.chain_hash):
        return Role.EARLIER
    return Role.UNKNOWN


def classify(session: Session | None, attempt: RefreshAttempt) -> Outcome | Rejection:
    """Decide what a refresh does, from the session's stored state alone.

    The guards run in a fixed order, so every backend refuses for the same
    reason: unknown, revoked, expired, device, then the token's own role.
    ROTATED for a PREVIOUS token means this very attempt was applied already
    (its successor, a random id nobody else could choose, is the newest): a
    client library re-sent it after losing the reply.
    """
    role = token_role(session, attempt.presented)
    if session is None or role is Role.UNKNOWN:
        return Rejection.UNKNOWN
    if session.revoked_at is not None:
        return Rejection.REVOKED
    if attempt.now >= session.expires_at:
        return Rejection.EXPIRED
    if not device_matches(session.device_hash, attempt.device_hash):
        return Rejection.DEVICE_MISMATCH
    if not client_matches(session.client_id, attempt.client_id):
        return Rejection.CLIENT_MISMATCH
    if role is Role.CURRENT:
        if attempt.successor is not None:
            return Outcome.ROTATED
        if attempt.max_uses is not None and session.use_count >= attempt.max_uses:
            return Rejection.USE_LIMIT
        return Outcome.REUSED
    if role is Role.PREVIOUS and attempt.successor is not None:
        if session.current_token_id == attempt.successor_id:
            return Outcome.ROTATED
        rotated = session.rotated_at
        if (
            attempt.retry_since is not None
            and rotated is not None
            and rotated > attempt.retry_since
        ):
            return Outcome.REPLAYED
    return Rejection.REUSE


def revocation(sid: str, now: datetime, reason: str) -> SessionUpdate:
    """The update that revokes a session: monotonic, so its first revocation is kept."""
    return SessionUpdate(
        sid,
        (_NOT_REVOKED,),
        {"revoked_at": now, "revoked_reason": reason},
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
    if rejection is Rejection.CLIENT_MISMATCH:
        return Consequence(
            ClientMismatchError, "refresh token was issued to another client", None, None
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
    session: Session,
    jti: str,
    now: datetime,
    expires: datetime,
    settings: Settings,
    scope: str | None = None,
    claims: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The RFC 9068 claims of an access token for ``session``, expiring at ``expires``.

    ``expires`` comes from :func:`access_expiry`; the caller computes it once.
    ``scope`` is the (possibly narrowed) scope of this token; None: the grant.
    ``claims`` replace the session's own claims in this token (a refresh
    check's answer, from :func:`token_contents`).
    """
    issued = int(now.timestamp())
    payload: dict[str, Any] = dict(session.claims if claims is None else claims)
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
    granted = scope if scope is not None else session.scope
    if granted:
        payload["scope"] = granted
    if session.client_id is not None:
        payload["client_id"] = session.client_id
    if session.cnf is not None:
        payload["cnf"] = dict(session.cnf)
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
    auth_time = payload.get(AUTH_TIME_CLAIM)
    if auth_time is not None and (
        not isinstance(auth_time, int)
        or isinstance(auth_time, bool)
        or not 0 <= auth_time <= MAX_TIME_CLAIM
    ):
        raise InvalidTokenError(f"access token claim {AUTH_TIME_CLAIM!r} malformed")
    device = payload.get(DEVICE_CLAIM)
    cnf = payload.get("cnf")
    client_id = payload.get("client_id")
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
        client_id=client_id if isinstance(client_id, str) else None,
        auth_time=datetime.fromtimestamp(auth_time, UTC) if auth_time is not None else None,
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


def check_access_state(
    check: AccessCheck, now: datetime, claims: AccessClaims | None = None
) -> None:
    """Online check: refuse a denied jti, a session gone, revoked or expired, or one cut off.

    With the subject's cutoff (``check.cutoff``) and the token's ``claims``:
    refuse a token of a session started before the cutoff, or one issued
    before it (:func:`issued_before`).
    """
    if check.denied:
        raise RevokedTokenError("access token revoked")
    if check.session is None or check.session.revoked_at is not None:
        raise RevokedTokenError("session revoked")
    if now >= check.session.expires_at:
        raise ExpiredTokenError("session expired")
    cutoff = check.cutoff
    if (
        cutoff is not None
        and claims is not None
        and (check.session.created_at < cutoff or issued_before(claims, cutoff))
    ):
        raise RevokedTokenError("access token issued before the subject's cutoff")


def issued_before(claims: AccessClaims, cutoff: datetime) -> bool:
    """Whether the token was certainly issued before ``cutoff``.

    ``iat`` counts whole seconds, rounded down: a token is before the cutoff
    when its whole second of issue is (``iat + 1s <= cutoff``); one issued in
    the cutoff's own second is judged by its session's start instead.
    """
    return datetime.fromtimestamp(claims.issued_at + 1, UTC) <= cutoff


def new_cutoff(subject: str, before: datetime | None, now: datetime, reason: str) -> SubjectCutoff:
    """The cutoff ``revoke_subject(subject, before=...)`` records.

    ``before`` may not be later than ``now`` (:class:`ValueError`): a cutoff
    in the future would refuse logins until then. It must be timezone-aware.
    """
    at = now if before is None else before
    if at.utcoffset() is None:
        raise ValueError("before must be a timezone-aware datetime")
    if at > now:
        raise ValueError("before may not be in the future: a cutoff ends what was issued already")
    if not reason:
        raise ValueError("a cutoff needs a reason")
    return SubjectCutoff(subject, at, reason, now)


def cut_off(sessions: Iterable[Session], cutoff: SubjectCutoff) -> list[Session]:
    """The sessions ``cutoff`` ends: every unrevoked one started before it."""
    return [s for s in sessions if s.revoked_at is None and s.created_at < cutoff.before]


# ---------------------------------------------------------------- introspection


def introspection_of_access(claims: AccessClaims) -> dict[str, Any]:
    """The RFC 7662 §2.2 answer for an active access token (checked by the caller)."""
    answer: dict[str, Any] = {
        "active": True,
        "token_type": "Bearer",
        "sub": claims.subject,
        "iss": claims.issuer,
        "aud": list(claims.audience) if len(claims.audience) != 1 else claims.audience[0],
        "exp": claims.expires_at,
        "iat": claims.issued_at,
        "nbf": claims.not_before,
        "jti": claims.jti,
        "sid": claims.sid,
    }
    if claims.scopes:
        answer["scope"] = claims.raw.get("scope", " ".join(sorted(claims.scopes)))
    if claims.client_id is not None:
        answer["client_id"] = claims.client_id
    if claims.cnf is not None:
        answer["cnf"] = dict(claims.cnf)
    return answer


def introspection_of_refresh(session: Session) -> dict[str, Any]:
    """The RFC 7662 §2.2 answer for a refresh token: active only while it is the current one.

    ``exp`` is when the session ends unless refreshed; ``iat`` when this
    token was issued (the session's last rotation, or its start).
    """
    issued = session.rotated_at if session.generation and session.rotated_at else None
    answer: dict[str, Any] = {
        "active": True,
        "sub": session.subject,
        "exp": int(session.expires_at.timestamp()),
        "iat": int((issued or session.created_at).timestamp()),
        "sid": session.sid,
    }
    if session.scope:
        answer["scope"] = session.scope
    if session.client_id is not None:
        answer["client_id"] = session.client_id
    if session.cnf is not None:
        answer["cnf"] = dict(session.cnf)
    return answer
