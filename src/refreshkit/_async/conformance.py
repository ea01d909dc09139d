"""The store contract as tests: every backend, ours or a third party's, runs these.

Subclass :class:`AsyncStoreConformance` in a test module and provide a
``store`` fixture that yields a fresh, empty store; every ``test_*`` method
then runs against it. The sync suite is generated from this file. Both need
pytest alone: each async test runs in an event loop of its own (no plugin, no
marker) and then closes its store in that loop, so the ``store`` fixture of
the async suite is a plain one that builds the store (connecting lazily)
without awaiting anything.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from .. import _tokens
from .._suite import run_in_own_loop
from ..backends.base import AsyncTokenStore
from ..models import ConsumeOutcome, ConsumeRequest, NewToken, RefreshRecord, Session

__all__ = ["AsyncStoreConformance"]

#: A start instant with microseconds, to prove stores keep full precision.
T0 = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
IDLE = timedelta(days=1)
ABSOLUTE = timedelta(days=7)


def _session(
    subject: str = "alice",
    *,
    at: datetime = T0,
    device_hash: str | None = None,
    claims: dict[str, Any] | None = None,
    scope: str | None = "read write",
) -> tuple[Session, RefreshRecord, str]:
    """A session, its first record, and that record's raw secret hash."""
    sid = _tokens.new_session_id()
    _, token_id, secret_hash = _tokens.new_refresh_token(sid)
    session = Session(
        sid=sid,
        subject=subject,
        created_at=at,
        idle_expires_at=at + IDLE,
        absolute_expires_at=at + ABSOLUTE,
        last_used_at=at,
        current_token_id=token_id,
        device_hash=device_hash,
        scope=scope,
        claims=claims if claims is not None else {"role": "admin", "nested": {"n": [1, "é"]}},
    )
    record = RefreshRecord(
        token_id=token_id, sid=sid, secret_hash=secret_hash, generation=0, created_at=at
    )
    return session, record, secret_hash


def _request(
    record: RefreshRecord,
    *,
    now: datetime,
    secret_hash: str | None = None,
    rotate: bool = True,
    device_hash: str | None = None,
    grace: timedelta | None = None,
    max_grace_reuses: int = 0,
    max_uses: int | None = None,
) -> ConsumeRequest:
    successor = None
    if rotate:
        _, new_id, new_hash = _tokens.new_refresh_token(record.sid)
        successor = NewToken(new_id, new_hash)
    return ConsumeRequest(
        token_id=record.token_id,
        secret_hash=record.secret_hash if secret_hash is None else secret_hash,
        now=now,
        idle_expires_at=now + IDLE,
        successor=successor,
        device_hash=device_hash,
        max_uses=max_uses,
        grace_since=now - grace if grace else None,
        max_grace_reuses=max_grace_reuses,
    )


@run_in_own_loop
class AsyncStoreConformance:
    """The contract every :class:`~refreshkit.backends.base.AsyncTokenStore` holds.

    Requires a ``store`` fixture yielding a fresh, empty store.
    """

    # ---------------------------------------------------------------- storing

    async def test_created_session_and_record_round_trip_exactly(
        self, store: AsyncTokenStore
    ) -> None:
        session, record, _ = _session(device_hash=_tokens.hash_device("phone"))
        await store.create_session(session, record)
        state = await store.find(record.token_id)
        assert state is not None
        assert state.record == record
        assert state.session == session
        assert state.session.created_at.tzinfo is not None
        assert state.session.created_at.utcoffset() == timedelta(0)
        assert await store.get_session(session.sid) == session

    async def test_unknown_ids_are_reported_as_none(self, store: AsyncTokenStore) -> None:
        _, record, _ = _session()
        assert await store.find(record.token_id) is None
        assert await store.get_session(record.sid) is None
        assert await store.list_sessions("nobody") == []

    async def test_session_without_scope_claims_or_device_round_trips(
        self, store: AsyncTokenStore
    ) -> None:
        session, record, _ = _session(scope=None, claims={})
        await store.create_session(session, record)
        assert await store.get_session(session.sid) == session

    async def test_list_sessions_returns_only_the_subjects_sessions(
        self, store: AsyncTokenStore
    ) -> None:
        mine = [_session("alice") for _ in range(3)]
        other = _session("bob")
        for session, record, _ in [*mine, other]:
            await store.create_session(session, record)
        listed = await store.list_sessions("alice")
        assert sorted(s.sid for s in listed) == sorted(s.sid for s, _, _ in mine)

    # ---------------------------------------------------------------- consume

    async def test_consume_rotates_and_stores_the_successor(self, store: AsyncTokenStore) -> None:
        session, record, _ = _session()
        await store.create_session(session, record)
        now = T0 + timedelta(hours=1)
        request = _request(record, now=now)
        result = await store.consume(request)
        assert result.outcome is ConsumeOutcome.ROTATED
        assert result.issued is not None and result.record is not None
        assert result.session is not None
        assert request.successor is not None
        assert result.record.consumed_at == now
        assert result.issued.token_id == request.successor.token_id
        assert result.issued.generation == 1
        assert result.issued.parent_id == record.token_id
        assert result.session.generation == 1
        assert result.session.current_token_id == result.issued.token_id
        assert result.session.idle_expires_at == now + IDLE
        assert result.session.last_used_at == now
        stored = await store.find(result.issued.token_id)
        assert stored is not None
        assert stored.record == result.issued
        assert stored.session == result.session
        old = await store.find(record.token_id)
        assert old is not None and old.record == result.record

    async def test_a_token_is_consumed_at_most_once(self, store: AsyncTokenStore) -> None:
        session, record, _ = _session()
        await store.create_session(session, record)
        now = T0 + timedelta(minutes=5)
        first = await store.consume(_request(record, now=now))
        second = await store.consume(_request(record, now=now))
        assert first.outcome is ConsumeOutcome.ROTATED
        assert second.outcome is ConsumeOutcome.REJECTED
        assert second.session == first.session
        assert second.record == first.record
        assert second.issued is None

    async def test_wrong_secret_is_rejected_and_changes_nothing(
        self, store: AsyncTokenStore
    ) -> None:
        session, record, _ = _session()
        await store.create_session(session, record)
        forged = _tokens.hash_secret("not-the-secret")
        result = await store.consume(_request(record, now=T0, secret_hash=forged))
        assert result.outcome is ConsumeOutcome.REJECTED
        state = await store.find(record.token_id)
        assert state is not None
        assert state.record == record and state.session == session

    async def test_unknown_token_is_rejected_with_no_state(self, store: AsyncTokenStore) -> None:
        _, record, _ = _session()
        result = await store.consume(_request(record, now=T0))
        assert result.outcome is ConsumeOutcome.REJECTED
        assert result.record is None and result.session is None

    async def test_revoked_session_cannot_be_refreshed(self, store: AsyncTokenStore) -> None:
        session, record, _ = _session()
        await store.create_session(session, record)
        assert await store.revoke_session(session.sid, T0, "logout")
        result = await store.consume(_request(record, now=T0 + timedelta(seconds=1)))
        assert result.outcome is ConsumeOutcome.REJECTED
        assert result.session is not None and result.session.revoked_at == T0

    async def test_idle_expired_session_cannot_be_refreshed(self, store: AsyncTokenStore) -> None:
        session, record, _ = _session()
        await store.create_session(session, record)
        result = await store.consume(_request(record, now=session.idle_expires_at))
        assert result.outcome is ConsumeOutcome.REJECTED
        live = await store.consume(
            _request(record, now=session.idle_expires_at - timedelta(microseconds=1))
        )
        assert live.outcome is ConsumeOutcome.ROTATED

    async def test_absolute_expiry_caps_a_sliding_session(self, store: AsyncTokenStore) -> None:
        session, record, _ = _session()
        await store.create_session(session, record)
        current, now = record, T0
        while now + timedelta(hours=20) < session.absolute_expires_at:
            now += timedelta(hours=20)
            result = await store.consume(_request(current, now=now))
            assert result.outcome is ConsumeOutcome.ROTATED
            assert result.issued is not None
            current = result.issued
        late = await store.consume(_request(current, now=session.absolute_expires_at))
        assert late.outcome is ConsumeOutcome.REJECTED

    async def test_device_binding_is_enforced(self, store: AsyncTokenStore) -> None:
        phone = _tokens.hash_device("phone")
        session, record, _ = _session(device_hash=phone)
        await store.create_session(session, record)
        other = _tokens.hash_device("laptop")
        assert (
            await store.consume(_request(record, now=T0, device_hash=other))
        ).outcome is ConsumeOutcome.REJECTED
        assert (await store.consume(_request(record, now=T0))).outcome is ConsumeOutcome.REJECTED
        assert (
            await store.consume(_request(record, now=T0, device_hash=phone))
        ).outcome is ConsumeOutcome.ROTATED

    async def test_unbound_session_accepts_any_device(self, store: AsyncTokenStore) -> None:
        session, record, _ = _session()
        await store.create_session(session, record)
        result = await store.consume(_request(record, now=T0, device_hash=_tokens.hash_device("x")))
        assert result.outcome is ConsumeOutcome.ROTATED

    # ------------------------------------------------------------------ grace

    async def test_replay_within_grace_issues_a_sibling(self, store: AsyncTokenStore) -> None:
        session, record, _ = _session()
        await store.create_session(session, record)
        now = T0 + timedelta(minutes=1)
        first = await store.consume(_request(record, now=now, grace=timedelta(seconds=10)))
        later = now + timedelta(seconds=5)
        again = await store.consume(
            _request(record, now=later, grace=timedelta(seconds=10), max_grace_reuses=2)
        )
        assert again.outcome is ConsumeOutcome.GRACE_REISSUED
        assert first.issued is not None and again.issued is not None and again.session is not None
        assert again.issued.generation == first.issued.generation == 1
        assert again.issued.parent_id == record.token_id
        assert again.session.current_token_id == again.issued.token_id
        assert again.session.grace_reuses == 1
        assert again.record is not None and again.record.consumed_at == now
        sibling = await store.find(again.issued.token_id)
        assert sibling is not None and sibling.record == again.issued

    async def test_grace_reuses_are_bounded(self, store: AsyncTokenStore) -> None:
        session, record, _ = _session()
        await store.create_session(session, record)
        grace = timedelta(seconds=30)
        await store.consume(_request(record, now=T0, grace=grace))
        outcomes = [
            (await store.consume(_request(record, now=T0, grace=grace, max_grace_reuses=2))).outcome
            for _ in range(3)
        ]
        assert outcomes == [
            ConsumeOutcome.GRACE_REISSUED,
            ConsumeOutcome.GRACE_REISSUED,
            ConsumeOutcome.REJECTED,
        ]

    async def test_replay_after_grace_is_rejected(self, store: AsyncTokenStore) -> None:
        session, record, _ = _session()
        await store.create_session(session, record)
        grace = timedelta(seconds=10)
        await store.consume(_request(record, now=T0, grace=grace))
        late = await store.consume(
            _request(record, now=T0 + grace, grace=grace, max_grace_reuses=5)
        )
        assert late.outcome is ConsumeOutcome.REJECTED

    async def test_grace_covers_only_the_immediate_predecessor(
        self, store: AsyncTokenStore
    ) -> None:
        session, record, _ = _session()
        await store.create_session(session, record)
        grace = timedelta(seconds=30)
        first = await store.consume(_request(record, now=T0, grace=grace))
        assert first.issued is not None
        second = await store.consume(_request(first.issued, now=T0, grace=grace))
        assert second.outcome is ConsumeOutcome.ROTATED
        stale = await store.consume(_request(record, now=T0, grace=grace, max_grace_reuses=5))
        assert stale.outcome is ConsumeOutcome.REJECTED

    async def test_a_sibling_goes_stale_once_another_sibling_rotates(
        self, store: AsyncTokenStore
    ) -> None:
        session, record, _ = _session()
        await store.create_session(session, record)
        grace = timedelta(seconds=30)
        first = await store.consume(_request(record, now=T0, grace=grace))
        sibling = await store.consume(_request(record, now=T0, grace=grace, max_grace_reuses=5))
        assert first.issued is not None and sibling.issued is not None
        moved_on = await store.consume(_request(first.issued, now=T0, grace=grace))
        assert moved_on.outcome is ConsumeOutcome.ROTATED
        stale = await store.consume(_request(sibling.issued, now=T0, grace=grace))
        assert stale.outcome is ConsumeOutcome.REJECTED

    async def test_rotation_resets_the_grace_counter(self, store: AsyncTokenStore) -> None:
        session, record, _ = _session()
        await store.create_session(session, record)
        grace = timedelta(seconds=30)
        first = await store.consume(_request(record, now=T0, grace=grace))
        await store.consume(_request(record, now=T0, grace=grace, max_grace_reuses=1))
        assert first.issued is not None
        state = await store.find(first.issued.token_id)
        assert state is not None and state.session.grace_reuses == 1
        rotated = await store.consume(_request(first.issued, now=T0, grace=grace))
        assert rotated.session is not None and rotated.session.grace_reuses == 0

    # ------------------------------------------------------------ rotation off

    async def test_rotation_off_counts_uses_up_to_the_limit(self, store: AsyncTokenStore) -> None:
        session, record, _ = _session()
        await store.create_session(session, record)
        outcomes = []
        for minute in range(4):
            now = T0 + timedelta(minutes=minute)
            result = await store.consume(_request(record, now=now, rotate=False, max_uses=3))
            outcomes.append(result.outcome)
        assert outcomes == [ConsumeOutcome.REUSED] * 3 + [ConsumeOutcome.REJECTED]
        state = await store.find(record.token_id)
        assert state is not None
        assert state.record.use_count == 3
        assert state.record.consumed_at is None
        assert state.session.idle_expires_at == T0 + timedelta(minutes=2) + IDLE

    # ------------------------------------------------------------- revocation

    async def test_revocation_is_monotonic_and_idempotent(self, store: AsyncTokenStore) -> None:
        session, record, _ = _session()
        await store.create_session(session, record)
        assert await store.revoke_session(session.sid, T0, "logout") is True
        assert await store.revoke_session(session.sid, T0 + timedelta(hours=1), "reuse") is False
        stored = await store.get_session(session.sid)
        assert stored is not None
        assert stored.revoked_at == T0 and stored.revoked_reason == "logout"
        assert await store.revoke_session(_tokens.new_session_id(), T0, "logout") is False

    async def test_revoke_subject_revokes_every_session_of_that_subject_only(
        self, store: AsyncTokenStore
    ) -> None:
        mine = [_session("alice") for _ in range(3)]
        bob, bob_record, _ = _session("bob")
        for session, record, _ in mine:
            await store.create_session(session, record)
        await store.create_session(bob, bob_record)
        await store.revoke_session(mine[0][0].sid, T0, "logout")
        assert await store.revoke_subject("alice", T0 + timedelta(seconds=1), "everywhere") == 2
        for session, _, _ in mine:
            stored = await store.get_session(session.sid)
            assert stored is not None and stored.revoked_at is not None
        bob_now = await store.get_session(bob.sid)
        assert bob_now is not None and bob_now.revoked_at is None
        assert await store.revoke_subject("alice", T0 + timedelta(seconds=2), "again") == 0

    async def test_access_denial_lasts_until_its_expiry(self, store: AsyncTokenStore) -> None:
        session, record, _ = _session()
        await store.create_session(session, record)
        until = T0 + timedelta(minutes=15)
        await store.deny_access("jti-1", until)
        denied = await store.check_access("jti-1", session.sid, T0)
        assert denied.denied and denied.session == session
        assert not (await store.check_access("jti-1", session.sid, until)).denied
        other = await store.check_access("jti-2", session.sid, T0)
        assert not other.denied
        gone = await store.check_access("jti-2", _tokens.new_session_id(), T0)
        assert gone.session is None

    # ------------------------------------------------------------------ purge

    async def test_purge_deletes_expired_sessions_in_batches_and_keeps_live_ones(
        self, store: AsyncTokenStore
    ) -> None:
        expired = [_session("alice", at=T0 - timedelta(days=2)) for _ in range(5)]
        live = _session("alice")
        for session, record, _ in [*expired, live]:
            await store.create_session(session, record)
        assert await store.purge_expired(T0, batch_size=2) == 5
        for session, record, _ in expired:
            assert await store.find(record.token_id) is None
            assert await store.get_session(session.sid) is None
        assert await store.get_session(live[0].sid) == live[0]
        assert [s.sid for s in await store.list_sessions("alice")] == [live[0].sid]
        assert await store.purge_expired(T0, batch_size=2) == 0

    async def test_purge_removes_consumed_records_of_expired_sessions(
        self, store: AsyncTokenStore
    ) -> None:
        session, record, _ = _session(at=T0 - timedelta(days=3))
        await store.create_session(session, record)
        result = await store.consume(_request(record, now=T0 - timedelta(days=3)))
        assert result.issued is not None and result.session is not None
        assert await store.purge_expired(result.session.expires_at) == 1
        assert await store.find(record.token_id) is None
        assert await store.find(result.issued.token_id) is None

    async def test_consumed_records_stay_until_their_session_ends(
        self, store: AsyncTokenStore
    ) -> None:
        session, record, _ = _session()
        await store.create_session(session, record)
        result = await store.consume(_request(record, now=T0 + timedelta(hours=23)))
        assert result.session is not None
        await store.purge_expired(T0 + timedelta(hours=25))
        state = await store.find(record.token_id)
        assert state is not None and state.record.consumed_at is not None

    async def test_revoked_session_is_kept_until_it_expires(self, store: AsyncTokenStore) -> None:
        session, record, _ = _session()
        await store.create_session(session, record)
        await store.revoke_session(session.sid, T0, "logout")
        assert await store.purge_expired(T0 + timedelta(hours=1)) == 0
        stored = await store.get_session(session.sid)
        assert stored is not None and stored.revoked
        assert dataclasses.replace(stored, revoked_at=None, revoked_reason=None) == session
