"""Table tests over the pure lifecycle rules: every state x retry window x expiry x binding."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta

import pytest

from refreshkit import Settings, _policy, _tokens
from refreshkit.backends.base import apply_update
from refreshkit.errors import (
    DeviceMismatchError,
    ExpiredTokenError,
    InvalidTokenError,
    RevokedTokenError,
    TokenReuseError,
)
from refreshkit.models import Session

T0 = datetime(2030, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)
WINDOW = timedelta(seconds=10)
PHONE, LAPTOP = _tokens.hash_device("phone"), _tokens.hash_device("laptop")

# How the presented token relates to its session (which is at generation 2).
ROLES = ("current", "previous", "earlier", "chain_key_holder", "forged", "wrong_secret")
ROTATED_AGO = {"just_now": timedelta(seconds=3), "long_ago": timedelta(minutes=5)}
EXPIRIES = {
    "live": dict(idle=NOW + timedelta(days=1), absolute=NOW + timedelta(days=9)),
    "idle_expired": dict(idle=NOW, absolute=NOW + timedelta(days=9)),
    "absolute_expired": dict(idle=NOW + timedelta(days=1), absolute=NOW - timedelta(seconds=1)),
}
BINDINGS = {
    "unbound": (None, PHONE),
    "same_device": (PHONE, PHONE),
    "other_device": (PHONE, LAPTOP),
    "device_missing": (PHONE, None),
}


def _chain(
    expiry: str = "live",
    bound: str | None = None,
    *,
    revoked: bool = False,
    rotated_ago: timedelta = ROTATED_AGO["just_now"],
) -> tuple[Session, dict[str, str]]:
    """A session rotated twice, and a token for every role against it."""
    session, first = _policy.new_session("alice", T0, Settings())
    key = _tokens.read_refresh_token(first).chain_key
    previous, previous_id, previous_hash = _tokens.new_refresh_token(session.sid, key)
    current, current_id, current_hash = _tokens.new_refresh_token(session.sid, key)
    session = dataclasses.replace(
        session,
        idle_expires_at=EXPIRIES[expiry]["idle"],
        absolute_expires_at=EXPIRIES[expiry]["absolute"],
        current_token_id=current_id,
        current_secret_hash=current_hash,
        previous_token_id=previous_id,
        previous_secret_hash=previous_hash,
        rotated_at=NOW - rotated_ago,
        generation=2,
        sealed_successor=_tokens.seal_successor(previous, current),
        device_hash=bound,
        revoked_at=T0 if revoked else None,
        revoked_reason="logout" if revoked else None,
    )
    current_id_part = current[3:51]
    tokens = {
        "current": current,
        "previous": previous,
        "earlier": first,
        "forged": _tokens.new_refresh_token(session.sid)[0],
        "wrong_secret": f"rk_{current_id_part}.{_tokens.new_refresh_token(session.sid)[0][52:]}",
        # A secret of its own under the current id, but the session's chain key:
        # only a holder of one of the session's tokens could make it, so it is reuse.
        "chain_key_holder": f"rk_{current_id_part}."
        + _tokens.new_refresh_token(session.sid, key)[0][52:],
    }
    return session, tokens


def _attempt(token: str, settings: Settings, device: str | None) -> _policy.RefreshAttempt:
    attempt = _policy.refresh_attempt(token, NOW, settings, device=None)
    checks = tuple(
        _policy.Check("device_hash", c.op, device) if c.field == "device_hash" else c
        for c in attempt.update.checks
    )
    update = dataclasses.replace(attempt.update, checks=checks)
    return dataclasses.replace(attempt, update=update, device_hash=device)


def _expected(role: str, window: bool, ago: str, expiry: str, binding: str, revoked: bool):
    """The specification, in priority order (DESIGN.md §3)."""
    if role in ("forged", "wrong_secret"):
        return _policy.Rejection.UNKNOWN
    if revoked:
        return _policy.Rejection.REVOKED
    if expiry != "live":
        return _policy.Rejection.EXPIRED
    if binding in ("other_device", "device_missing"):
        return _policy.Rejection.DEVICE_MISMATCH
    if role == "current":
        return _policy.Outcome.ROTATED
    if role == "previous" and window and ago == "just_now":
        return _policy.Outcome.REPLAYED
    return _policy.Rejection.REUSE


CASES = list(
    itertools.product(ROLES, (False, True), ROTATED_AGO, EXPIRIES, BINDINGS, (False, True))
)


@pytest.mark.parametrize(("role", "window", "ago", "expiry", "binding", "revoked"), CASES)
def test_every_role_retry_window_expiry_and_binding_combination(
    role: str, window: bool, ago: str, expiry: str, binding: str, revoked: bool
) -> None:
    settings = Settings(retry_window=WINDOW if window else timedelta(0))
    bound, presented = BINDINGS[binding]
    session, tokens = _chain(expiry, bound, revoked=revoked, rotated_ago=ROTATED_AGO[ago])
    attempt = _attempt(tokens[role], settings, presented)
    expected = _expected(role, window, ago, expiry, binding, revoked)
    assert _policy.classify(session, attempt) == expected
    # The common path's compare-and-set applies exactly when the policy rotates.
    result = apply_update(session, attempt.update)
    assert result.applied is (expected is _policy.Outcome.ROTATED)
    if result.applied:
        assert result.session is not None
        assert result.session.current_token_id == attempt.successor_id
        assert result.session.previous_token_id == attempt.presented.token_id
        assert result.session.rotated_at == NOW and result.session.generation == 3
        assert result.session.idle_expires_at == NOW + settings.refresh_idle_ttl
        assert result.session.expires_at <= session.absolute_expires_at
    else:
        assert result.session is session


def test_the_successor_is_sealed_under_the_presented_token_only() -> None:
    session, tokens = _chain()
    presented = tokens["current"]
    attempt = _policy.refresh_attempt(presented, NOW, Settings(), device=None)
    successor = attempt.successor
    sealed = attempt.update.changes["sealed_successor"]
    assert isinstance(successor, str) and isinstance(sealed, str)
    assert successor not in sealed
    assert _tokens.open_successor(sealed, presented) == successor
    assert _tokens.open_successor(sealed, tokens["previous"]) is None
    assert _tokens.open_successor(sealed, tokens["earlier"]) is None
    # Whoever holds the database holds the hashes, which open nothing.
    for stored in (session.current_secret_hash, session.chain_hash):
        from_hash = f"{_tokens.PREFIX}{attempt.presented.token_id}.{stored}"
        assert _tokens.open_successor(sealed, from_hash) is None
    assert _tokens.open_successor(sealed, successor) is None


def test_every_token_of_a_session_carries_its_chain_key_and_nothing_else_does() -> None:
    session, tokens = _chain()
    for role in ("current", "previous", "earlier"):
        assert _policy.token_role(session, _tokens.read_refresh_token(tokens[role])) is not (
            _policy.Role.UNKNOWN
        )
    attempt = _policy.refresh_attempt(tokens["current"], NOW, Settings(), device=None)
    assert attempt.successor is not None
    successor = _tokens.read_refresh_token(attempt.successor)
    assert successor.chain_hash == session.chain_hash
    assert _policy.token_role(session, _tokens.read_refresh_token(tokens["forged"])) is (
        _policy.Role.UNKNOWN
    )
    elsewhere, _ = _chain()
    assert _policy.token_role(elsewhere, _tokens.read_refresh_token(tokens["earlier"])) is (
        _policy.Role.UNKNOWN
    )


def test_the_retry_window_sets_retry_since_and_zero_is_strict() -> None:
    _, tokens = _chain()
    token = tokens["current"]
    attempt = _policy.refresh_attempt(token, NOW, Settings(retry_window=WINDOW), device=None)
    assert attempt.retry_since == NOW - WINDOW
    strict = _policy.refresh_attempt(token, NOW, Settings(retry_window=timedelta(0)), device=None)
    assert strict.retry_since is None


def test_rotation_off_seals_nothing_and_never_replays() -> None:
    session, tokens = _chain()
    settings = Settings(rotation=False)
    attempt = _policy.refresh_attempt(tokens["current"], NOW, settings, device=None)
    assert attempt.successor is None and "sealed_successor" not in attempt.update.changes
    assert attempt.retry_since is None
    assert _policy.classify(session, attempt) is _policy.Outcome.REUSED
    result = apply_update(session, attempt.update)
    assert result.applied and result.session is not None
    assert result.session.sealed_successor == session.sealed_successor
    assert result.session.use_count == 1 and result.session.generation == 2
    previous = _policy.refresh_attempt(tokens["previous"], NOW, settings, device=None)
    assert _policy.classify(session, previous) is _policy.Rejection.REUSE


def test_a_retry_exactly_at_the_end_of_the_window_is_reuse() -> None:
    session, tokens = _chain(rotated_ago=WINDOW)
    attempt = _policy.refresh_attempt(
        tokens["previous"], NOW, Settings(retry_window=WINDOW), device=None
    )
    assert _policy.classify(session, attempt) is _policy.Rejection.REUSE
    just_inside = dataclasses.replace(session, rotated_at=NOW - WINDOW + timedelta(microseconds=1))
    assert _policy.classify(just_inside, attempt) is _policy.Outcome.REPLAYED


@pytest.mark.parametrize(
    ("uses", "limit", "expected"), [(0, None, "ok"), (4, 5, "ok"), (5, 5, "limit")]
)
def test_rotation_off_counts_uses_against_max_uses(
    uses: int, limit: int | None, expected: str
) -> None:
    session, tokens = _chain()
    session = dataclasses.replace(session, use_count=uses)
    settings = Settings(rotation=False, max_uses=limit)
    attempt = _policy.refresh_attempt(tokens["current"], NOW, settings, device=None)
    result = apply_update(session, attempt.update)
    if expected == "ok":
        assert result.applied and result.session is not None
        assert result.session.use_count == uses + 1
    else:
        assert not result.applied
        assert _policy.classify(session, attempt) is _policy.Rejection.USE_LIMIT


def test_missing_state_is_unknown() -> None:
    _, tokens = _chain()
    attempt = _policy.refresh_attempt(tokens["current"], NOW, Settings(), device=None)
    assert _policy.classify(None, attempt) is _policy.Rejection.UNKNOWN


@pytest.mark.parametrize(
    ("rejection", "error", "event", "revokes"),
    [
        (_policy.Rejection.UNKNOWN, InvalidTokenError, None, False),
        (_policy.Rejection.REVOKED, RevokedTokenError, None, False),
        (_policy.Rejection.EXPIRED, ExpiredTokenError, "expired", False),
        (_policy.Rejection.DEVICE_MISMATCH, DeviceMismatchError, "device_mismatch", True),
        (_policy.Rejection.USE_LIMIT, ExpiredTokenError, None, False),
        (_policy.Rejection.REUSE, TokenReuseError, "reuse_detected", True),
    ],
)
def test_each_rejection_has_one_consequence(rejection, error, event, revokes) -> None:
    consequence = _policy.consequence_of(rejection, Settings())
    assert consequence.error is error
    assert consequence.event == event
    assert (consequence.revoke_reason is not None) is revokes


def test_device_mismatch_can_be_configured_not_to_revoke() -> None:
    consequence = _policy.consequence_of(
        _policy.Rejection.DEVICE_MISMATCH, Settings(revoke_on_device_mismatch=False)
    )
    assert consequence.revoke_reason is None and consequence.error is DeviceMismatchError


def test_access_tokens_never_outlive_their_session() -> None:
    session, _ = _chain()
    session = dataclasses.replace(session, idle_expires_at=NOW + timedelta(minutes=2))
    assert _policy.access_expiry(session, NOW, Settings()) == NOW + timedelta(minutes=2)


def test_sessions_beyond_the_maximum_are_the_oldest_live_ones() -> None:
    sessions = []
    for minutes in (5, 1, 3, 2):
        session, _ = _chain()
        sessions.append(dataclasses.replace(session, created_at=T0 + timedelta(minutes=minutes)))
    revoked, _ = _chain(revoked=True)
    evicted = _policy.sessions_to_evict([*sessions, revoked], 2, NOW)
    assert [s.created_at.minute for s in evicted] == [1, 2]
    assert _policy.sessions_to_evict(sessions, None, NOW) == []


def test_own_claims_may_not_override_reserved_claims() -> None:
    for reserved in ("sub", "exp", "sid", "scope", "cnf"):
        with pytest.raises(ValueError, match=reserved):
            _policy.new_session("alice", NOW, Settings(), claims={reserved: "x"})


def test_only_this_very_attempt_counts_as_applied_already() -> None:
    session, tokens = _chain()
    attempt = _policy.refresh_attempt(tokens["current"], NOW, Settings(), device=None)
    applied = apply_update(session, attempt.update).session
    assert applied is not None
    assert _policy.classify(applied, attempt) is _policy.Outcome.ROTATED
    other = _policy.refresh_attempt(tokens["current"], NOW, Settings(), device=None)
    assert _policy.classify(applied, other) is _policy.Outcome.REPLAYED
    strict = Settings(retry_window=timedelta(0))
    resent = dataclasses.replace(attempt, retry_since=None)
    assert _policy.classify(applied, resent) is _policy.Outcome.ROTATED
    other_strict = _policy.refresh_attempt(tokens["current"], NOW, strict, device=None)
    assert _policy.classify(applied, other_strict) is _policy.Rejection.REUSE
    revoked = dataclasses.replace(applied, revoked_at=NOW)
    assert _policy.classify(revoked, attempt) is _policy.Rejection.REVOKED


def test_revocation_is_a_monotonic_update() -> None:
    session, _ = _chain()
    first = apply_update(session, _policy.revocation(session.sid, NOW, "logout"))
    assert first.applied and first.session is not None
    later = NOW + timedelta(hours=1)
    again = apply_update(first.session, _policy.revocation(session.sid, later, "reuse"))
    assert not again.applied and again.session is first.session
    assert (first.session.revoked_at, first.session.revoked_reason) == (NOW, "logout")


def _payload(**times: object) -> dict[str, object]:
    base = {"sub": "alice", "sid": "s", "jti": "j", "iss": "refreshkit", "aud": "refreshkit"}
    return {**base, "iat": 1, "nbf": 1, "exp": 2, **times}


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", [-1, _policy.MAX_TIME_CLAIM + 1, 10**12, 10**400])
def test_time_claims_outside_the_datetime_range_are_malformed(claim: str, value: int) -> None:
    with pytest.raises(InvalidTokenError, match="out of range"):
        _policy.access_claims_from_payload(_payload(**{claim: value}))


def test_time_claims_at_the_ends_of_the_range_convert_to_datetimes() -> None:
    last = _policy.MAX_TIME_CLAIM
    claims = _policy.access_claims_from_payload(_payload(iat=0, nbf=0, exp=last))
    assert claims.expires == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


def test_the_session_to_keep_is_never_evicted_even_when_created_at_ties() -> None:
    sessions = [_chain()[0] for _ in range(4)]
    for keep in sessions:
        evicted = _policy.sessions_to_evict(sessions, 1, NOW, keep=keep.sid)
        assert len(evicted) == 3 and keep not in evicted


def test_a_retry_gets_back_only_the_newest_token_its_own_secret_opens() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    session, presented = _policy.new_session("alice", now, Settings())
    successor, successor_id, _ = _tokens.new_refresh_token(session.sid)
    stranger, _, _ = _tokens.new_refresh_token(session.sid)
    rotated = dataclasses.replace(
        session,
        current_token_id=successor_id,
        sealed_successor=_tokens.seal_successor(presented, successor),
    )
    assert _policy.replayed_successor(rotated, presented) == successor
    assert _policy.replayed_successor(rotated, stranger) is None, "another token cannot open it"
    moved_on = dataclasses.replace(rotated, current_token_id=stranger[3:51])
    assert _policy.replayed_successor(moved_on, presented) is None, "not the newest token"
    unsealed = dataclasses.replace(rotated, sealed_successor=None)
    assert _policy.replayed_successor(unsealed, presented) is None, "stored before the upgrade"
