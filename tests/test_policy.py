"""Table tests over the pure lifecycle rules: every state x retry window x expiry x binding."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta

import pytest

from refreshkit import Settings, _policy, _tokens
from refreshkit.errors import (
    DeviceMismatchError,
    ExpiredTokenError,
    InvalidTokenError,
    RevokedTokenError,
    TokenReuseError,
)
from refreshkit.models import ConsumeOutcome, RefreshRecord, Session

T0 = datetime(2030, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)
WINDOW = timedelta(seconds=10)
PHONE, LAPTOP = _tokens.hash_device("phone"), _tokens.hash_device("laptop")

# How the presented token relates to its session (which is at generation 2).
TOKEN_STATES = {
    "current": dict(generation=2, consumed=None),
    "parent_consumed_just_now": dict(generation=1, consumed=NOW - timedelta(seconds=3)),
    "parent_consumed_long_ago": dict(generation=1, consumed=NOW - timedelta(minutes=5)),
    "grandparent": dict(generation=0, consumed=NOW - timedelta(seconds=3)),
    "older_generation_unconsumed": dict(generation=1, consumed=None),
}
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


#: The raw refresh token of every record ``_state`` builds, by token id.
RAW: dict[str, str] = {}


def _state(token: str, expiry: str, bound: str | None, *, revoked: bool):
    sid = _tokens.new_session_id()
    raw, token_id, secret_hash = _tokens.new_refresh_token(sid)
    RAW[token_id] = raw
    shape = TOKEN_STATES[token]
    record = RefreshRecord(
        token_id=token_id,
        sid=sid,
        secret_hash=secret_hash,
        generation=shape["generation"],
        created_at=T0,
        consumed_at=shape["consumed"],
    )
    session = Session(
        sid=sid,
        subject="alice",
        created_at=T0,
        idle_expires_at=EXPIRIES[expiry]["idle"],
        absolute_expires_at=EXPIRIES[expiry]["absolute"],
        last_used_at=T0,
        current_token_id=token_id if token == "current" else sid + "f" * 16,
        generation=2,
        sealed_successor="sealed-newest-token",
        device_hash=bound,
        revoked_at=T0 if revoked else None,
        revoked_reason="logout" if revoked else None,
    )
    return record, session


def _request(record: RefreshRecord, settings: Settings, device_hash: str | None):
    request, _ = _policy.consume_request(RAW[record.token_id], NOW, settings, device=None)
    return dataclasses.replace(request, device_hash=device_hash)


def _expected(token: str, window: bool, expiry: str, binding: str, revoked: bool):
    """The specification, in priority order (DESIGN.md §3)."""
    if revoked:
        return _policy.Rejection.REVOKED
    if expiry != "live":
        return _policy.Rejection.EXPIRED
    if binding in ("other_device", "device_missing"):
        return _policy.Rejection.DEVICE_MISMATCH
    if token == "current":
        return ConsumeOutcome.ROTATED
    if token == "parent_consumed_just_now" and window:
        return ConsumeOutcome.REPLAYED
    return _policy.Rejection.REUSE


CASES = list(itertools.product(TOKEN_STATES, (False, True), EXPIRIES, BINDINGS, (False, True)))


@pytest.mark.parametrize(("token", "window", "expiry", "binding", "revoked"), CASES)
def test_every_state_retry_window_expiry_and_binding_combination(
    token: str, window: bool, expiry: str, binding: str, revoked: bool
) -> None:
    settings = Settings(retry_window=WINDOW if window else timedelta(0))
    bound, presented = BINDINGS[binding]
    record, session = _state(token, expiry, bound, revoked=revoked)
    request = _request(record, settings, presented)
    expected = _expected(token, window, expiry, binding, revoked)
    assert _policy.classify(record, session, request) == expected
    result = _policy.transition(record, session, request)
    if isinstance(expected, _policy.Rejection):
        assert result.outcome is ConsumeOutcome.REJECTED
        assert (result.record, result.session, result.issued) == (record, session, None)
    elif expected is ConsumeOutcome.REPLAYED:
        assert result.outcome is expected and not result.applied
        assert (result.record, result.session, result.issued) == (record, session, None)
    else:
        assert result.outcome is expected
        assert result.session is not None and result.issued is not None
        assert result.session.current_token_id == result.issued.token_id
        assert result.session.idle_expires_at == NOW + settings.refresh_idle_ttl
        assert result.session.expires_at <= session.absolute_expires_at


def test_rotation_consumes_and_moves_the_session_one_generation_on() -> None:
    record, session = _state("current", "live", None, revoked=False)
    request = _request(record, Settings(), None)
    result = _policy.transition(record, session, request)
    assert result.outcome is ConsumeOutcome.ROTATED and result.applied
    assert result.record is not None and result.record.consumed_at == NOW
    assert result.issued is not None and result.issued.generation == 3
    assert result.issued.parent_id == record.token_id
    assert result.session is not None and result.session.generation == 3
    assert request.sealed_successor is not None
    assert result.session.sealed_successor == request.sealed_successor


def test_the_successor_is_sealed_under_the_presented_token_only() -> None:
    record, _ = _state("current", "live", None, revoked=False)
    presented = RAW[record.token_id]
    request, successor = _policy.consume_request(presented, NOW, Settings(), device=None)
    assert successor is not None and request.successor is not None
    assert request.sealed_successor is not None
    assert successor not in request.sealed_successor
    assert _tokens.open_successor(request.sealed_successor, presented) == successor
    other, _, _ = _tokens.new_refresh_token(record.sid)
    assert _tokens.open_successor(request.sealed_successor, other) is None
    # Whoever holds the database holds the hash, which opens nothing.
    from_hash = f"{_tokens.PREFIX}{record.token_id}.{record.secret_hash}"
    assert _tokens.open_successor(request.sealed_successor, from_hash) is None
    assert _tokens.open_successor(request.sealed_successor, successor) is None


def test_the_retry_window_sets_retry_since_and_zero_is_strict() -> None:
    record, _ = _state("current", "live", None, revoked=False)
    assert _request(record, Settings(retry_window=WINDOW), None).retry_since == NOW - WINDOW
    assert _request(record, Settings(retry_window=timedelta(0)), None).retry_since is None


def test_rotation_off_seals_nothing_and_never_replays() -> None:
    record, session = _state("current", "live", None, revoked=False)
    request = _request(record, Settings(rotation=False), None)
    assert request.successor is None and request.sealed_successor is None
    assert request.retry_since is None
    result = _policy.transition(record, session, request)
    assert result.outcome is ConsumeOutcome.REUSED
    assert result.session is not None
    assert result.session.sealed_successor == session.sealed_successor


def test_a_retry_replays_the_found_state_and_writes_nothing() -> None:
    record, session = _state("parent_consumed_just_now", "live", None, revoked=False)
    request = _request(record, Settings(retry_window=WINDOW), None)
    result = _policy.transition(record, session, request)
    assert result.outcome is ConsumeOutcome.REPLAYED
    assert not result.applied
    assert result.record is record and result.session is session and result.issued is None


def test_a_retry_exactly_at_the_end_of_the_window_is_reuse() -> None:
    record, session = _state("parent_consumed_just_now", "live", None, revoked=False)
    record = dataclasses.replace(record, consumed_at=NOW - WINDOW)
    settings = Settings(retry_window=WINDOW)
    assert _policy.classify(record, session, _request(record, settings, None)) is (
        _policy.Rejection.REUSE
    )


@pytest.mark.parametrize(
    ("uses", "limit", "expected"), [(0, None, "ok"), (4, 5, "ok"), (5, 5, "limit")]
)
def test_rotation_off_counts_uses_against_max_uses(
    uses: int, limit: int | None, expected: str
) -> None:
    record, session = _state("current", "live", None, revoked=False)
    record = dataclasses.replace(record, use_count=uses)
    settings = Settings(rotation=False, max_uses=limit)
    request = _request(record, settings, None)
    assert request.successor is None
    result = _policy.transition(record, session, request)
    if expected == "ok":
        assert result.outcome is ConsumeOutcome.REUSED
        assert result.record is not None and result.record.use_count == uses + 1
        assert result.record.consumed_at is None
    else:
        assert result.outcome is ConsumeOutcome.REJECTED
        assert _policy.classify(record, session, request) is _policy.Rejection.USE_LIMIT


def test_wrong_secret_or_missing_state_is_unknown() -> None:
    record, session = _state("current", "live", None, revoked=False)
    forged = dataclasses.replace(
        _request(record, Settings(), None), secret_hash=_tokens.hash_secret("x")
    )
    assert _policy.classify(record, session, forged) is _policy.Rejection.UNKNOWN
    request = _request(record, Settings(), None)
    assert _policy.classify(None, None, request) is _policy.Rejection.UNKNOWN
    assert _policy.classify(record, None, request) is _policy.Rejection.UNKNOWN


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
    _, session = _state("current", "live", None, revoked=False)
    session = dataclasses.replace(session, idle_expires_at=NOW + timedelta(minutes=2))
    assert _policy.access_expiry(session, NOW, Settings()) == NOW + timedelta(minutes=2)


def test_sessions_beyond_the_maximum_are_the_oldest_live_ones() -> None:
    sessions = []
    for minutes in (5, 1, 3, 2):
        _, session = _state("current", "live", None, revoked=False)
        sessions.append(dataclasses.replace(session, created_at=T0 + timedelta(minutes=minutes)))
    _, revoked = _state("current", "live", None, revoked=True)
    evicted = _policy.sessions_to_evict([*sessions, revoked], 2, NOW)
    assert [s.created_at.minute for s in evicted] == [1, 2]
    assert _policy.sessions_to_evict(sessions, None, NOW) == []


def test_own_claims_may_not_override_reserved_claims() -> None:
    for reserved in ("sub", "exp", "sid", "scope", "cnf"):
        with pytest.raises(ValueError, match=reserved):
            _policy.new_session("alice", NOW, Settings(), claims={reserved: "x"})


def test_only_this_very_request_counts_as_already_applied() -> None:
    record, session = _state("current", "live", None, revoked=False)
    request = _request(record, Settings(), None)
    applied = _policy.transition(record, session, request)
    assert applied.session is not None
    assert _policy.already_applied(applied.session, request)
    other = _request(record, Settings(), None)
    assert not _policy.already_applied(applied.session, other)
    revoked = dataclasses.replace(applied.session, revoked_at=NOW)
    assert not _policy.already_applied(revoked, request)
    assert not _policy.already_applied(None, request)


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
    sessions = [_state("current", "live", None, revoked=False)[1] for _ in range(4)]
    for keep in sessions:
        evicted = _policy.sessions_to_evict(sessions, 1, NOW, keep=keep.sid)
        assert len(evicted) == 3 and keep not in evicted


def test_a_retry_gets_back_only_the_newest_token_its_own_secret_opens() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    session, _, presented = _policy.new_session("alice", now, Settings())
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
