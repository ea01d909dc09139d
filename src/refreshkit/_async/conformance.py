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

import pytest

from .. import _tokens
from .._suite import run_in_own_loop
from ..backends.base import AsyncTokenStore
from ..clock import FrozenClock
from ..config import Settings
from ..errors import StoreError, TokenReuseError
from ..events import Event, EventHooks
from ..keys import KeySet
from ..models import (
    AccessCheck,
    ConsumeOutcome,
    ConsumeRequest,
    ConsumeResult,
    NewToken,
    RefreshRecord,
    Session,
    TokenState,
)
from .manager import AsyncTokenManager

__all__ = ["AsyncLostReplyStore", "AsyncStoreConformance"]

#: A start instant with microseconds, to prove stores keep full precision.
T0 = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
IDLE = timedelta(days=1)
ABSOLUTE = timedelta(days=7)
#: The retry window the suite's requests use.
RETRY = timedelta(seconds=30)


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
    retry: timedelta | None = None,
    max_uses: int | None = None,
) -> ConsumeRequest:
    """A consume request as the manager builds one; ``retry`` is the retry window.

    Stores keep the sealed successor as given and never open it, so here it
    is sealed under a stand-in for the presented token (whose raw form the
    suite does not keep).
    """
    successor = sealed = None
    if rotate:
        token, new_id, new_hash = _tokens.new_refresh_token(record.sid)
        successor = NewToken(new_id, new_hash)
        stand_in, _, _ = _tokens.new_refresh_token(record.sid)
        sealed = _tokens.seal_successor(stand_in, token)
    return ConsumeRequest(
        token_id=record.token_id,
        secret_hash=record.secret_hash if secret_hash is None else secret_hash,
        now=now,
        idle_expires_at=now + IDLE,
        successor=successor,
        device_hash=device_hash,
        max_uses=max_uses,
        retry_since=now - retry if retry else None,
        sealed_successor=sealed,
    )


class AsyncLostReplyStore:
    """Any store whose next ``lose`` consume replies are lost after being applied.

    Each lost consume runs on the wrapped store, so its writes are committed,
    and then raises :class:`~refreshkit.errors.StoreError` as a dropped
    connection would: the caller cannot tell whether anything happened. Use
    it to prove that a retry of the same refresh token is not taken for
    theft. :meth:`lose` arms it again; ``lost`` holds the results that
    never reached the caller. Every other method passes straight through.
    """

    def __init__(self, store: AsyncTokenStore, *, lose: int = 1) -> None:
        self.store: AsyncTokenStore = store
        self.lost: list[ConsumeResult] = []
        self._pending = lose

    def lose(self, replies: int = 1) -> None:
        """Lose the replies of the next ``replies`` consumes (after applying them)."""
        self._pending = replies

    async def consume(self, request: ConsumeRequest) -> ConsumeResult:
        """Apply the consume; then, while armed, raise instead of replying."""
        result = await self.store.consume(request)
        if self._pending > 0:
            self._pending -= 1
            self.lost.append(result)
            raise StoreError("consume applied, but its reply was lost (AsyncLostReplyStore)")
        return result

    async def create_session(self, session: Session, record: RefreshRecord) -> None:
        """Pass through."""
        await self.store.create_session(session, record)

    async def find(self, token_id: str) -> TokenState | None:
        """Pass through."""
        return await self.store.find(token_id)

    async def get_session(self, sid: str) -> Session | None:
        """Pass through."""
        return await self.store.get_session(sid)

    async def list_sessions(self, subject: str) -> list[Session]:
        """Pass through."""
        return await self.store.list_sessions(subject)

    async def revoke_session(self, sid: str, now: datetime, reason: str) -> bool:
        """Pass through."""
        return await self.store.revoke_session(sid, now, reason)

    async def revoke_subject(self, subject: str, now: datetime, reason: str) -> int:
        """Pass through."""
        return await self.store.revoke_subject(subject, now, reason)

    async def deny_access(self, jti: str, until: datetime) -> None:
        """Pass through."""
        await self.store.deny_access(jti, until)

    async def check_access(self, jti: str, sid: str, now: datetime) -> AccessCheck:
        """Pass through."""
        return await self.store.check_access(jti, sid, now)

    async def purge_expired(self, now: datetime, batch_size: int = 1000) -> int:
        """Pass through."""
        return await self.store.purge_expired(now, batch_size)

    async def aclose(self) -> None:
        """Pass through: closes the wrapped store."""
        await self.store.aclose()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.store!r}, pending={self._pending})"


def _manager(
    store: AsyncTokenStore, **settings: Any
) -> tuple[AsyncTokenManager, FrozenClock, list[Event]]:
    """A manager on ``store`` with a frozen clock, and the events it emits."""
    clock = FrozenClock(T0)
    hooks = EventHooks()
    events: list[Event] = []
    hooks.on(None, events.append)
    manager = AsyncTokenManager(
        Settings(**settings), keys=KeySet.generate(), store=store, clock=clock, hooks=hooks
    )
    return manager, clock, events


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

    # ------------------------------------------------------------------ retry

    async def test_rotation_stores_the_sealed_successor_with_the_session(
        self, store: AsyncTokenStore
    ) -> None:
        session, record, _ = _session()
        await store.create_session(session, record)
        request = _request(record, now=T0, retry=RETRY)
        first = await store.consume(request)
        assert first.session is not None and first.issued is not None
        assert request.sealed_successor is not None
        assert first.session.sealed_successor == request.sealed_successor
        onward = _request(first.issued, now=T0 + timedelta(minutes=1), retry=RETRY)
        second = await store.consume(onward)
        assert second.session is not None
        assert second.session.sealed_successor == onward.sealed_successor

    async def test_the_sealed_successor_round_trips_through_every_read(
        self, store: AsyncTokenStore
    ) -> None:
        session, record, _ = _session()
        await store.create_session(session, record)
        request = _request(record, now=T0, retry=RETRY)
        result = await store.consume(request)
        assert result.issued is not None and result.session is not None
        sealed = request.sealed_successor
        for token_id in (record.token_id, result.issued.token_id):
            state = await store.find(token_id)
            assert state is not None and state.session.sealed_successor == sealed
        stored = await store.get_session(session.sid)
        assert stored is not None and stored.sealed_successor == sealed
        assert [s.sealed_successor for s in await store.list_sessions(session.subject)] == [sealed]
        check = await store.check_access("jti", session.sid, T0)
        assert check.session is not None and check.session.sealed_successor == sealed
        assert stored == result.session

    async def test_a_retry_within_the_window_is_replayed_and_writes_nothing(
        self, store: AsyncTokenStore
    ) -> None:
        session, record, _ = _session()
        await store.create_session(session, record)
        now = T0 + timedelta(minutes=1)
        request = _request(record, now=now, retry=RETRY)
        first = await store.consume(request)
        assert first.issued is not None
        before = (await store.find(record.token_id), await store.find(first.issued.token_id))
        later = now + RETRY - timedelta(microseconds=1)
        again = await store.consume(_request(record, now=later, retry=RETRY))
        assert again.outcome is ConsumeOutcome.REPLAYED
        assert not again.applied
        assert again.issued is None
        assert again.record == first.record
        assert again.session == first.session
        assert again.session is not None
        assert again.session.sealed_successor == request.sealed_successor
        assert again.session.last_used_at == now  # no slide: nothing was written
        after = (await store.find(record.token_id), await store.find(first.issued.token_id))
        assert after == before
        assert await store.get_session(session.sid) == first.session

    async def test_every_retry_within_the_window_is_replayed_alike(
        self, store: AsyncTokenStore
    ) -> None:
        session, record, _ = _session()
        await store.create_session(session, record)
        first = await store.consume(_request(record, now=T0, retry=RETRY))
        retries = [
            await store.consume(_request(record, now=T0 + timedelta(seconds=n), retry=RETRY))
            for n in range(5)
        ]
        assert {r.outcome for r in retries} == {ConsumeOutcome.REPLAYED}
        assert all(r.session == first.session and r.record == first.record for r in retries)
        assert first.issued is not None
        onward = await store.consume(_request(first.issued, now=T0, retry=RETRY))
        assert onward.outcome is ConsumeOutcome.ROTATED

    async def test_a_retry_once_the_window_has_passed_is_rejected(
        self, store: AsyncTokenStore
    ) -> None:
        session, record, _ = _session()
        await store.create_session(session, record)
        first = await store.consume(_request(record, now=T0, retry=RETRY))
        late = await store.consume(_request(record, now=T0 + RETRY, retry=RETRY))
        assert late.outcome is ConsumeOutcome.REJECTED
        assert late.session == first.session and late.record == first.record

    async def test_strict_rotation_rejects_every_second_presentation(
        self, store: AsyncTokenStore
    ) -> None:
        session, record, _ = _session()
        await store.create_session(session, record)
        first = await store.consume(_request(record, now=T0, retry=None))
        again = await store.consume(_request(record, now=T0, retry=None))
        assert again.outcome is ConsumeOutcome.REJECTED
        assert again.session == first.session

    async def test_only_the_immediate_predecessor_is_replayed(self, store: AsyncTokenStore) -> None:
        session, record, _ = _session()
        await store.create_session(session, record)
        first = await store.consume(_request(record, now=T0, retry=RETRY))
        assert first.issued is not None
        second = await store.consume(_request(first.issued, now=T0, retry=RETRY))
        assert second.outcome is ConsumeOutcome.ROTATED
        parent = await store.consume(_request(first.issued, now=T0, retry=RETRY))
        assert parent.outcome is ConsumeOutcome.REPLAYED
        assert parent.session == second.session
        grandparent = await store.consume(_request(record, now=T0, retry=RETRY))
        assert grandparent.outcome is ConsumeOutcome.REJECTED
        assert grandparent.session == second.session

    async def test_a_retry_once_the_successor_was_used_is_rejected(
        self, store: AsyncTokenStore
    ) -> None:
        session, record, _ = _session()
        await store.create_session(session, record)
        first = await store.consume(_request(record, now=T0, retry=RETRY))
        assert first.issued is not None
        used = await store.consume(
            _request(first.issued, now=T0 + timedelta(seconds=1), retry=RETRY)
        )
        assert used.outcome is ConsumeOutcome.ROTATED
        replay = await store.consume(_request(record, now=T0 + timedelta(seconds=2), retry=RETRY))
        assert replay.outcome is ConsumeOutcome.REJECTED
        assert replay.session == used.session and replay.record == first.record

    async def test_a_retry_of_a_revoked_session_is_rejected(self, store: AsyncTokenStore) -> None:
        session, record, _ = _session()
        await store.create_session(session, record)
        await store.consume(_request(record, now=T0, retry=RETRY))
        assert await store.revoke_session(session.sid, T0, "logout")
        retry = await store.consume(_request(record, now=T0 + timedelta(seconds=1), retry=RETRY))
        assert retry.outcome is ConsumeOutcome.REJECTED

    async def test_a_retry_with_the_wrong_secret_is_rejected(self, store: AsyncTokenStore) -> None:
        session, record, _ = _session()
        await store.create_session(session, record)
        await store.consume(_request(record, now=T0, retry=RETRY))
        forged = _request(record, now=T0, retry=RETRY, secret_hash=_tokens.hash_secret("x"))
        assert (await store.consume(forged)).outcome is ConsumeOutcome.REJECTED

    # ------------------------------------------------------------ lost replies

    async def test_a_retry_after_a_lost_reply_gets_the_same_successor_and_no_reuse(
        self, store: AsyncTokenStore
    ) -> None:
        lossy = AsyncLostReplyStore(store, lose=0)
        manager, clock, events = _manager(lossy)
        pair = await manager.issue("alice")
        lossy.lose()
        with pytest.raises(StoreError):
            await manager.refresh(pair.refresh_token)
        assert [r.outcome for r in lossy.lost] == [ConsumeOutcome.ROTATED]
        clock.advance(timedelta(seconds=1))
        retried = await manager.refresh(pair.refresh_token)
        again = await manager.refresh(pair.refresh_token)
        assert retried.refresh_token == again.refresh_token != pair.refresh_token
        assert retried.access_token != again.access_token
        stored = await store.get_session(pair.sid)
        assert stored is not None and stored.revoked_at is None and stored.generation == 1
        assert stored.current_token_id == _tokens.parse_refresh_token(retried.refresh_token)[0]
        onward = await manager.refresh(retried.refresh_token)
        assert onward.sid == pair.sid
        names = [e.name for e in events]
        assert "reuse_detected" not in names
        assert names.count("retry_replayed") == 2

    async def test_a_retry_after_several_lost_replies_gets_the_same_successor(
        self, store: AsyncTokenStore
    ) -> None:
        lossy = AsyncLostReplyStore(store, lose=0)
        manager, clock, events = _manager(lossy)
        pair = await manager.issue("alice")
        lossy.lose(3)
        for _ in range(3):
            with pytest.raises(StoreError):
                await manager.refresh(pair.refresh_token)
            clock.advance(timedelta(seconds=2))
        assert [r.outcome for r in lossy.lost] == [ConsumeOutcome.ROTATED] + [
            ConsumeOutcome.REPLAYED
        ] * 2
        retried = await manager.refresh(pair.refresh_token)
        stored = await store.get_session(pair.sid)
        assert stored is not None and stored.generation == 1 and stored.revoked_at is None
        assert stored.current_token_id == _tokens.parse_refresh_token(retried.refresh_token)[0]
        assert "reuse_detected" not in [e.name for e in events]

    async def test_with_no_retry_window_a_retry_after_a_lost_reply_is_reuse(
        self, store: AsyncTokenStore
    ) -> None:
        lossy = AsyncLostReplyStore(store, lose=0)
        manager, _, events = _manager(lossy, retry_window=timedelta(0))
        pair = await manager.issue("alice")
        lossy.lose()
        with pytest.raises(StoreError):
            await manager.refresh(pair.refresh_token)
        with pytest.raises(TokenReuseError):
            await manager.refresh(pair.refresh_token)
        stored = await store.get_session(pair.sid)
        assert stored is not None and stored.revoked_reason == "reuse"
        assert "reuse_detected" in [e.name for e in events]

    async def test_a_retry_after_a_lost_reply_once_the_window_passed_is_reuse(
        self, store: AsyncTokenStore
    ) -> None:
        lossy = AsyncLostReplyStore(store, lose=0)
        manager, clock, events = _manager(lossy)
        pair = await manager.issue("alice")
        lossy.lose()
        with pytest.raises(StoreError):
            await manager.refresh(pair.refresh_token)
        clock.advance(manager.settings.retry_window)
        with pytest.raises(TokenReuseError):
            await manager.refresh(pair.refresh_token)
        stored = await store.get_session(pair.sid)
        assert stored is not None and stored.revoked_reason == "reuse"
        assert "reuse_detected" in [e.name for e in events]

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
