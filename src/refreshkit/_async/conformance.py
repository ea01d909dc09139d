"""The store contract as tests: every backend, ours or a third party's, runs these.

Subclass :class:`AsyncStoreConformance` in a test module and provide a
``store`` fixture that yields a fresh, empty store; every ``test_*`` method
then runs against it. The sync suite is generated from this file. Both need
pytest alone (and hypothesis, for the agreement test): each async test runs
in an event loop of its own (no plugin, no marker) and then closes its store
in that same loop, so the ``store`` fixture of the async suite is a plain one
that builds the store (connecting lazily) without awaiting anything.

Two layers are tested. The compare-and-set itself, against the reference
semantics of :func:`refreshkit.backends.base.apply_update`; and the refresh
rules run through a real manager on the store: rotation, idempotent retries,
reuse of any earlier token, expiry, devices, use limits, revocation, lost
replies and races.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from .. import _policy, _tokens
from .._agreement import AsyncAgreement
from .._checks import RefreshCheck, RefreshContext, RefreshGrant
from .._suite import AsyncRacer, run_in_own_loop
from ..backends.base import AsyncTokenStore, apply_update
from ..clock import FrozenClock
from ..config import Settings
from ..errors import (
    ClientMismatchError,
    DeviceMismatchError,
    ExpiredTokenError,
    InvalidScopeError,
    InvalidTokenError,
    RefreshCheckError,
    RefreshRefused,
    RevokedTokenError,
    StoreError,
    TokenReuseError,
)
from ..events import Event, EventHooks
from ..keys import KeySet
from ..models import (
    AccessCheck,
    Check,
    CheckOp,
    Session,
    SessionUpdate,
    SubjectCutoff,
    UpdateResult,
)
from .manager import AsyncTokenManager

__all__ = ["AsyncLostReplyStore", "AsyncStoreConformance"]

#: A start instant with microseconds, to prove stores keep full precision.
T0 = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
IDLE = timedelta(days=1)
ABSOLUTE = timedelta(days=7)
US = timedelta(microseconds=1)


def _session(
    subject: str = "alice",
    *,
    at: datetime = T0,
    device_hash: str | None = None,
    claims: dict[str, Any] | None = None,
    scope: str | None = "read write",
) -> Session:
    """A fresh session as a login stores it."""
    sid = _tokens.new_session_id()
    token, token_id, secret_hash = _tokens.new_refresh_token(sid)
    return Session(
        sid=sid,
        subject=subject,
        created_at=at,
        idle_expires_at=at + IDLE,
        absolute_expires_at=at + ABSOLUTE,
        last_used_at=at,
        current_token_id=token_id,
        current_secret_hash=secret_hash,
        chain_hash=_tokens.read_refresh_token(token).chain_hash,
        device_hash=device_hash,
        scope=scope,
        claims=claims if claims is not None else {"role": "admin", "nested": {"n": [1, "é"]}},
    )


def _every_field_set(session: Session) -> Session:
    """``session`` with every optional field given a value, as after rotations."""
    _, previous_id, previous_hash = _tokens.new_refresh_token(session.sid)
    stand_in = _tokens.new_refresh_token(session.sid)[0]
    return dataclasses.replace(
        session,
        generation=7,
        use_count=3,
        previous_token_id=previous_id,
        previous_secret_hash=previous_hash,
        rotated_at=T0 + timedelta(seconds=1, microseconds=7),
        sealed_successor=_tokens.seal_successor(stand_in, stand_in),
        device_hash=_tokens.hash_device("phone"),
        revoked_at=T0 + timedelta(seconds=2, microseconds=9),
        revoked_reason="logout",
        user_agent="Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/140.0 é" * 3,
        client_ip="203.0.113.0/24",
        device_label="Work laptop ✓",
        idle_ttl=timedelta(hours=2, microseconds=3),
    )


class AsyncLostReplyStore:
    """Any store whose next ``lose`` compare-and-set replies are lost after being applied.

    Each lost call runs on the wrapped store, so its writes are committed, and
    then raises :class:`~refreshkit.errors.StoreError` as a dropped connection
    would: the caller cannot tell whether anything happened. Use it to prove
    that a retry of the same refresh token is not taken for theft.
    :meth:`lose` arms it again; ``lost`` holds the results that never reached
    the caller. Every other method passes straight through.
    """

    def __init__(self, store: AsyncTokenStore, *, lose: int = 1) -> None:
        self.store: AsyncTokenStore = store
        self.lost: list[UpdateResult] = []
        self._pending = lose

    def lose(self, replies: int = 1) -> None:
        """Lose the replies of the next ``replies`` compare-and-sets (after applying them)."""
        self._pending = replies

    async def compare_and_set(self, update: SessionUpdate) -> UpdateResult:
        """Apply the update; then, while armed, raise instead of replying."""
        result = await self.store.compare_and_set(update)
        if self._pending > 0:
            self._pending -= 1
            self.lost.append(result)
            raise StoreError("update applied, but its reply was lost (AsyncLostReplyStore)")
        return result

    async def create_session(self, session: Session) -> None:
        """Pass through."""
        await self.store.create_session(session)

    async def get_session(self, sid: str) -> Session | None:
        """Pass through."""
        return await self.store.get_session(sid)

    async def list_sessions(self, subject: str) -> list[Session]:
        """Pass through."""
        return await self.store.list_sessions(subject)

    async def revoke_subject(self, subject: str, now: datetime, reason: str) -> int:
        """Pass through."""
        return await self.store.revoke_subject(subject, now, reason)

    async def deny_access(self, jti: str, until: datetime) -> None:
        """Pass through."""
        await self.store.deny_access(jti, until)

    async def check_access(
        self, jti: str, sid: str, now: datetime, subject: str | None = None
    ) -> AccessCheck:
        """Pass through."""
        return await self.store.check_access(jti, sid, now, subject)

    async def record_cutoff(self, cutoff: SubjectCutoff) -> SubjectCutoff:
        """Pass through."""
        return await self.store.record_cutoff(cutoff)

    async def get_cutoff(self, subject: str) -> SubjectCutoff | None:
        """Pass through."""
        return await self.store.get_cutoff(subject)

    async def purge_expired(self, now: datetime, batch_size: int = 1000) -> int:
        """Pass through."""
        return await self.store.purge_expired(now, batch_size)

    async def aclose(self) -> None:
        """Pass through: closes the wrapped store."""
        await self.store.aclose()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.store!r}, pending={self._pending})"


def _manager(
    store: AsyncTokenStore, *, refresh_check: RefreshCheck | None = None, **settings: Any
) -> tuple[AsyncTokenManager, FrozenClock, list[Event]]:
    """A manager on ``store`` with a frozen clock, and the events it emits."""
    clock = FrozenClock(T0)
    hooks = EventHooks()
    events: list[Event] = []
    hooks.on(None, events.append)
    manager = AsyncTokenManager(
        Settings(**settings),
        keys=KeySet.generate(),
        store=store,
        clock=clock,
        hooks=hooks,
        refresh_check=refresh_check,
    )
    return manager, clock, events


class _Gate:
    """A refresh check the test switches: allow, refuse (keeping or revoking), or grant."""

    def __init__(self) -> None:
        self.refusal: RefreshRefused | None = None
        self.grant: RefreshGrant | None = None
        self.seen: list[RefreshContext] = []

    def __call__(self, context: RefreshContext) -> RefreshGrant | None:
        self.seen.append(context)
        if self.refusal is not None:
            raise self.refusal
        return self.grant


def _names(events: list[Event]) -> list[str]:
    return [e.name for e in events]


@run_in_own_loop
class AsyncStoreConformance(AsyncAgreement):
    """The contract every :class:`~refreshkit.backends.base.AsyncTokenStore` holds.

    Requires a ``store`` fixture yielding a fresh, empty store.
    """

    # ---------------------------------------------------------------- storing

    async def test_a_created_session_round_trips_exactly(self, store: AsyncTokenStore) -> None:
        session = _session(device_hash=_tokens.hash_device("phone"))
        await store.create_session(session)
        stored = await store.get_session(session.sid)
        assert stored == session
        assert stored is not None and stored.created_at.utcoffset() == timedelta(0)

    async def test_every_field_round_trips_through_every_read(self, store: AsyncTokenStore) -> None:
        session = _every_field_set(_session())
        await store.create_session(session)
        assert await store.get_session(session.sid) == session
        assert await store.list_sessions(session.subject) == [session]
        check = await store.check_access("jti", session.sid, T0)
        assert check.session == session

    async def test_a_session_without_scope_claims_or_device_round_trips(
        self, store: AsyncTokenStore
    ) -> None:
        session = _session(scope=None, claims={})
        await store.create_session(session)
        assert await store.get_session(session.sid) == session

    async def test_unknown_ids_are_reported_as_none(self, store: AsyncTokenStore) -> None:
        assert await store.get_session(_tokens.new_session_id()) is None
        assert await store.list_sessions("nobody") == []
        update = SessionUpdate(_tokens.new_session_id(), (), {"last_used_at": T0})
        assert await store.compare_and_set(update) == UpdateResult(False, None)

    async def test_list_sessions_returns_only_the_subjects_sessions(
        self, store: AsyncTokenStore
    ) -> None:
        mine = [_session("alice") for _ in range(3)]
        for session in [*mine, _session("bob")]:
            await store.create_session(session)
        listed = await store.list_sessions("alice")
        assert sorted(s.sid for s in listed) == sorted(s.sid for s in mine)

    # --------------------------------------------------------- compare-and-set

    async def test_an_update_whose_checks_hold_is_applied_and_reported(
        self, store: AsyncTokenStore
    ) -> None:
        session = _session()
        await store.create_session(session)
        _, new_id, new_hash = _tokens.new_refresh_token(session.sid)
        update = SessionUpdate(
            session.sid,
            (
                Check("current_token_id", CheckOp.EQUALS, session.current_token_id),
                Check("revoked_at", CheckOp.EQUALS, None),
                Check("idle_expires_at", CheckOp.AFTER, T0),
                Check("device_hash", CheckOp.UNSET_OR_EQUALS, _tokens.hash_device("x")),
            ),
            {
                "current_token_id": new_id,
                "current_secret_hash": new_hash,
                "previous_token_id": session.current_token_id,
                "rotated_at": T0 + US,
                "idle_expires_at": T0 + IDLE + US,
            },
            ("generation",),
        )
        result = await store.compare_and_set(update)
        assert result == apply_update(session, update)
        assert result.applied and result.session is not None
        assert result.session.generation == 1
        assert await store.get_session(session.sid) == result.session

    async def test_an_update_whose_check_fails_writes_nothing_and_reports_the_session(
        self, store: AsyncTokenStore
    ) -> None:
        session = _session()
        await store.create_session(session)
        failing = [
            Check("current_token_id", CheckOp.EQUALS, "x" * 48),
            Check("revoked_at", CheckOp.EQUALS, T0),
            Check("device_hash", CheckOp.EQUALS, _tokens.hash_device("x")),
            Check("idle_expires_at", CheckOp.AFTER, session.idle_expires_at),
            Check("absolute_expires_at", CheckOp.AFTER, session.absolute_expires_at),
            Check("use_count", CheckOp.BELOW, 0),
            Check("rotated_at", CheckOp.AFTER, T0),
        ]
        for check in failing:
            update = SessionUpdate(
                session.sid, (check,), {"last_used_at": T0 + IDLE}, ("use_count",)
            )
            assert await store.compare_and_set(update) == UpdateResult(False, session), check
        assert await store.get_session(session.sid) == session

    async def test_every_check_op_means_what_the_reference_says(
        self, store: AsyncTokenStore
    ) -> None:
        session = _every_field_set(_session())
        await store.create_session(session)
        device = session.device_hash
        cases = [
            Check("device_hash", CheckOp.EQUALS, device),
            Check("device_hash", CheckOp.UNSET_OR_EQUALS, device),
            Check("device_hash", CheckOp.UNSET_OR_EQUALS, _tokens.hash_device("laptop")),
            Check("device_hash", CheckOp.UNSET_OR_EQUALS, None),
            Check("scope", CheckOp.EQUALS, "read write"),
            Check("scope", CheckOp.EQUALS, "read"),
            Check("revoked_reason", CheckOp.EQUALS, None),
            Check("previous_secret_hash", CheckOp.EQUALS, session.previous_secret_hash),
            Check("generation", CheckOp.EQUALS, 7),
            Check("generation", CheckOp.EQUALS, 6),
            Check("use_count", CheckOp.BELOW, 4),
            Check("use_count", CheckOp.BELOW, 3),
            Check("rotated_at", CheckOp.AFTER, T0 + timedelta(seconds=1, microseconds=6)),
            Check("rotated_at", CheckOp.AFTER, T0 + timedelta(seconds=1, microseconds=7)),
            Check("absolute_expires_at", CheckOp.AFTER, session.absolute_expires_at - US),
            Check("revoked_at", CheckOp.AFTER, T0),
            Check("idle_ttl", CheckOp.EQUALS, session.idle_ttl),
            Check("idle_ttl", CheckOp.EQUALS, timedelta(hours=2)),
            Check("idle_ttl", CheckOp.EQUALS, None),
        ]
        current = session
        for check in cases:
            update = SessionUpdate(session.sid, (check,), {}, ("use_count",))
            expected = apply_update(current, update)
            result = await store.compare_and_set(update)
            assert result == expected, check
            current = expected.session if expected.session is not None else current
        bare = _session(scope=None)
        await store.create_session(bare)
        for check in [
            Check("device_hash", CheckOp.UNSET_OR_EQUALS, device),
            Check("device_hash", CheckOp.EQUALS, None),
            Check("scope", CheckOp.EQUALS, None),
            Check("rotated_at", CheckOp.AFTER, T0),
            Check("previous_token_id", CheckOp.EQUALS, None),
            Check("idle_ttl", CheckOp.EQUALS, None),
            Check("idle_ttl", CheckOp.EQUALS, IDLE),
        ]:
            update = SessionUpdate(bare.sid, (check,), {}, ())
            assert await store.compare_and_set(update) == apply_update(bare, update), check

    async def test_changes_set_and_clear_fields_and_increments_add_one(
        self, store: AsyncTokenStore
    ) -> None:
        session = _every_field_set(_session())
        await store.create_session(session)
        update = SessionUpdate(
            session.sid,
            (),
            {
                "previous_token_id": None,
                "previous_secret_hash": None,
                "rotated_at": None,
                "sealed_successor": None,
                "revoked_at": None,
                "revoked_reason": None,
                "device_hash": None,
                "scope": None,
                "use_count": 0,
            },
            ("generation",),
        )
        result = await store.compare_and_set(update)
        assert result == apply_update(session, update)
        assert result.session is not None and result.session.use_count == 0
        assert result.session.generation == 8
        again = await store.compare_and_set(SessionUpdate(session.sid, (), {}, ("use_count",)))
        assert again.session is not None and again.session.use_count == 1
        assert await store.get_session(session.sid) == again.session

    async def test_an_update_naming_an_unknown_field_is_refused(
        self, store: AsyncTokenStore
    ) -> None:
        session = _session()
        await store.create_session(session)
        for update in [
            SessionUpdate(session.sid, (Check("nope", CheckOp.EQUALS, 1),)),
            SessionUpdate(session.sid, (), {"subject": "mallory"}),
            SessionUpdate(session.sid, (), {}, ("last_used_at",)),
        ]:
            with pytest.raises(ValueError, match="not a field"):
                await store.compare_and_set(update)
        assert await store.get_session(session.sid) == session

    async def test_of_racing_updates_that_check_one_value_exactly_one_applies(
        self, store: AsyncTokenStore
    ) -> None:
        session = _session()
        await store.create_session(session)
        check = (Check("generation", CheckOp.EQUALS, 0),)

        async def bump() -> UpdateResult:
            return await store.compare_and_set(
                SessionUpdate(session.sid, check, {"last_used_at": T0 + US}, ("generation",))
            )

        results = await AsyncRacer.run(16, bump)
        applied = [r for r in results if isinstance(r, UpdateResult) and r.applied]
        assert len(applied) == 1, results
        assert all(isinstance(r, UpdateResult) for r in results), results
        stored = await store.get_session(session.sid)
        assert stored is not None and stored.generation == 1

    # ---------------------------------------------------------------- refresh

    async def test_a_refresh_rotates_within_the_session(self, store: AsyncTokenStore) -> None:
        manager, clock, events = _manager(store)
        pair = await manager.issue("alice", scope="read", claims={"role": "admin"})
        clock.advance(timedelta(hours=1))
        new = await manager.refresh(pair.refresh_token)
        assert new.sid == pair.sid and new.refresh_token != pair.refresh_token
        stored = await store.get_session(pair.sid)
        assert stored is not None
        assert stored.generation == 1
        assert stored.current_token_id == _tokens.parse_refresh_token(new.refresh_token)[0]
        assert stored.previous_token_id == _tokens.parse_refresh_token(pair.refresh_token)[0]
        assert stored.rotated_at == clock.now() == stored.last_used_at
        assert stored.idle_expires_at == clock.now() + manager.settings.refresh_idle_ttl
        claims = await manager.verify_access_online(new.access_token)
        assert claims.scopes == {"read"} and claims.extra == {"role": "admin"}
        assert _names(events) == ["issued", "refreshed"]

    async def test_a_wrong_secret_or_an_unknown_session_is_an_invalid_token(
        self, store: AsyncTokenStore
    ) -> None:
        manager, _, events = _manager(store)
        pair = await manager.issue("alice")
        token_id = _tokens.parse_refresh_token(pair.refresh_token)[0]
        stranger, _, _ = _tokens.new_refresh_token(pair.sid)
        for forged in [
            f"rk_{token_id}.{'A' * 43}",
            stranger,  # the right session id, a chain key of its own
            _tokens.new_refresh_token(_tokens.new_session_id())[0],
        ]:
            with pytest.raises(InvalidTokenError) as caught:
                await manager.refresh(forged)
            assert type(caught.value) is InvalidTokenError
        stored = await store.get_session(pair.sid)
        assert stored is not None and stored.revoked_at is None and stored.generation == 0
        assert "reuse_detected" not in _names(events)

    async def test_a_revoked_session_cannot_be_refreshed(self, store: AsyncTokenStore) -> None:
        manager, _, _ = _manager(store)
        pair = await manager.issue("alice")
        assert await manager.revoke(pair.refresh_token)
        with pytest.raises(RevokedTokenError):
            await manager.refresh(pair.refresh_token)

    async def test_idle_expiry_ends_a_session_to_the_microsecond(
        self, store: AsyncTokenStore
    ) -> None:
        manager, clock, _ = _manager(store, refresh_idle_ttl=IDLE)
        first = await manager.issue("alice")
        second = await manager.issue("alice")
        clock.advance(IDLE - US)
        await manager.refresh(first.refresh_token)
        clock.advance(US)
        with pytest.raises(ExpiredTokenError):
            await manager.refresh(second.refresh_token)

    async def test_the_absolute_expiry_caps_a_sliding_session(self, store: AsyncTokenStore) -> None:
        manager, clock, _ = _manager(store, refresh_idle_ttl=IDLE, refresh_absolute_ttl=ABSOLUTE)
        pair = await manager.issue("alice")
        ends = T0 + ABSOLUTE
        token = pair.refresh_token
        while clock.now() + timedelta(hours=20) < ends:
            clock.advance(timedelta(hours=20))
            token = (await manager.refresh(token)).refresh_token
        stored = await store.get_session(pair.sid)
        assert stored is not None and stored.expires_at <= ends
        clock.set(ends)
        with pytest.raises(ExpiredTokenError):
            await manager.refresh(token)

    async def test_a_bound_device_is_enforced_and_a_mismatch_revokes(
        self, store: AsyncTokenStore
    ) -> None:
        manager, _, events = _manager(store)
        pair = await manager.issue("alice", device="phone")
        with pytest.raises(DeviceMismatchError):
            await manager.refresh(pair.refresh_token, device="laptop")
        stored = await store.get_session(pair.sid)
        assert stored is not None and stored.revoked_reason == "device_mismatch"
        kept, _, _ = _manager(store, revoke_on_device_mismatch=False)
        other = await kept.issue("alice", device="phone")
        with pytest.raises(DeviceMismatchError):
            await kept.refresh(other.refresh_token)
        assert (await kept.refresh(other.refresh_token, device="phone")).sid == other.sid
        assert "device_mismatch" in _names(events)

    async def test_an_unbound_session_accepts_any_device(self, store: AsyncTokenStore) -> None:
        manager, _, _ = _manager(store)
        pair = await manager.issue("alice")
        assert (await manager.refresh(pair.refresh_token, device="anything")).sid == pair.sid

    # ---------------------------------------------------------------- clients

    async def test_a_session_bound_to_a_client_refuses_another_and_stays_intact(
        self, store: AsyncTokenStore
    ) -> None:
        manager, _, events = _manager(store)
        pair = await manager.issue("alice", client_id="spa", cnf={"jkt": "thumbprint"})
        for other in ("other-app", "spa2"):
            with pytest.raises(ClientMismatchError):
                await manager.refresh(pair.refresh_token, client_id=other)
            with pytest.raises(ClientMismatchError):
                await manager.revoke(pair.refresh_token, client_id=other)
        stored = await store.get_session(pair.sid)
        assert stored is not None and stored.revoked_at is None and stored.generation == 0
        assert (stored.client_id, stored.cnf) == ("spa", {"jkt": "thumbprint"})
        again = await manager.refresh(pair.refresh_token, client_id="spa")
        claims = manager.verify_access(again.access_token)
        assert (claims.client_id, claims.cnf) == ("spa", {"jkt": "thumbprint"})
        assert "reuse_detected" not in _names(events)

    async def test_the_first_client_to_refresh_an_unbound_session_owns_it(
        self, store: AsyncTokenStore
    ) -> None:
        manager, _, _ = _manager(store)
        pair = await manager.issue("alice")
        first = await manager.refresh(pair.refresh_token, client_id="spa")
        stored = await store.get_session(pair.sid)
        assert stored is not None and stored.client_id == "spa"
        with pytest.raises(ClientMismatchError):
            await manager.refresh(first.refresh_token, client_id="other-app")
        assert (await manager.refresh(first.refresh_token, client_id="spa")).sid == pair.sid

    async def test_a_narrowed_refresh_leaves_the_grant_whole(self, store: AsyncTokenStore) -> None:
        manager, _, _ = _manager(store)
        pair = await manager.issue("alice", scope="read write")
        narrowed = await manager.refresh(pair.refresh_token, scope="read")
        assert narrowed.scope == "read"
        with pytest.raises(InvalidScopeError):
            await manager.refresh(narrowed.refresh_token, scope="admin")
        stored = await store.get_session(pair.sid)
        assert stored is not None and stored.scope == "read write" and stored.generation == 1
        assert (await manager.refresh(narrowed.refresh_token)).scope == "read write"

    async def test_introspection_follows_the_stored_state(self, store: AsyncTokenStore) -> None:
        manager, _, _ = _manager(store)
        pair = await manager.issue("alice", client_id="spa")
        assert (await manager.introspect(pair.access_token))["client_id"] == "spa"
        assert (await manager.introspect(pair.refresh_token))["active"] is True
        await manager.revoke(pair.refresh_token, client_id="spa")
        assert await manager.introspect(pair.access_token) == {"active": False}
        assert await manager.introspect(pair.refresh_token) == {"active": False}

    # ---------------------------------------------------------- refresh check

    async def test_a_refused_refresh_keeps_the_session_and_its_token_unchanged(
        self, store: AsyncTokenStore
    ) -> None:
        gate = _Gate()
        manager, _, events = _manager(store, refresh_check=gate)
        pair = await manager.issue("alice")
        before = await store.get_session(pair.sid)
        gate.refusal = RefreshRefused("account_locked")
        with pytest.raises(RefreshRefused):
            await manager.refresh(pair.refresh_token)
        assert await store.get_session(pair.sid) == before
        refused = [e for e in events if e.name == "refresh_refused"]
        assert [e.details for e in refused] == [
            {"reason": "account_locked", "revoked": False, "replay": False}
        ]
        assert gate.seen[0].subject == "alice" and gate.seen[0].sid == pair.sid
        gate.refusal = None
        assert (await manager.refresh(pair.refresh_token)).sid == pair.sid
        assert "reuse_detected" not in _names(events)

    async def test_a_refusal_that_revokes_ends_the_session(self, store: AsyncTokenStore) -> None:
        gate = _Gate()
        manager, _, events = _manager(store, refresh_check=gate)
        pair = await manager.issue("alice")
        gate.refusal = RefreshRefused("account_disabled", revoke=True)
        with pytest.raises(RefreshRefused):
            await manager.refresh(pair.refresh_token)
        stored = await store.get_session(pair.sid)
        assert stored is not None and stored.revoked_reason == "account_disabled"
        assert stored.generation == 0
        assert _names(events)[-2:] == ["refresh_refused", "revoked"]
        gate.refusal = None
        with pytest.raises(RevokedTokenError):
            await manager.refresh(pair.refresh_token)

    async def test_a_retry_within_the_window_runs_the_check_again(
        self, store: AsyncTokenStore
    ) -> None:
        gate = _Gate()
        manager, clock, _ = _manager(store, refresh_check=gate)
        pair = await manager.issue("alice")
        first = await manager.refresh(pair.refresh_token)
        clock.advance(US)
        gate.refusal = RefreshRefused("account_disabled", revoke=True)
        with pytest.raises(RefreshRefused):
            await manager.refresh(pair.refresh_token)
        assert [c.replay for c in gate.seen] == [False, True]
        stored = await store.get_session(pair.sid)
        assert stored is not None and stored.revoked_reason == "account_disabled"
        with pytest.raises(RevokedTokenError):
            await manager.refresh(first.refresh_token)

    async def test_a_grant_changes_this_access_tokens_claims_and_scope_only(
        self, store: AsyncTokenStore
    ) -> None:
        gate = _Gate()
        manager, _, _ = _manager(store, refresh_check=gate)
        pair = await manager.issue(
            "alice", claims={"role": "admin", "team": "a"}, scope="read write"
        )
        gate.grant = RefreshGrant(claims={"role": "viewer", "team": None}, scope="read")
        narrowed = await manager.refresh(pair.refresh_token)
        claims = manager.verify_access(narrowed.access_token)
        assert dict(claims.extra) == {"role": "viewer"}
        assert claims.scopes == {"read"} and narrowed.scope == "read"
        stored = await store.get_session(pair.sid)
        assert stored is not None
        assert stored.claims == {"role": "admin", "team": "a", "auth_time": int(T0.timestamp())}
        assert stored.scope == "read write" and stored.generation == 1
        gate.grant = None
        whole = manager.verify_access((await manager.refresh(narrowed.refresh_token)).access_token)
        assert whole.extra["role"] == "admin" and whole.scopes == {"read", "write"}

    async def test_a_grant_beyond_the_sessions_scope_fails_and_writes_nothing(
        self, store: AsyncTokenStore
    ) -> None:
        gate = _Gate()
        manager, _, _ = _manager(store, refresh_check=gate)
        pair = await manager.issue("alice", scope="read")
        before = await store.get_session(pair.sid)
        gate.grant = RefreshGrant(scope="read admin")
        with pytest.raises(RefreshCheckError):
            await manager.refresh(pair.refresh_token)
        assert await store.get_session(pair.sid) == before
        gate.grant = RefreshGrant(scope="read admin", allow_wider_scope=True)
        wider = await manager.refresh(pair.refresh_token)
        assert manager.verify_access(wider.access_token).scopes == {"read", "admin"}

    async def test_a_failing_check_is_a_server_error_and_writes_nothing(
        self, store: AsyncTokenStore
    ) -> None:
        def broken(context: RefreshContext) -> RefreshGrant | None:
            raise LookupError("user table unreachable")

        manager, _, _ = _manager(store, refresh_check=broken)
        pair = await manager.issue("alice")
        before = await store.get_session(pair.sid)
        with pytest.raises(RefreshCheckError) as failure:
            await manager.refresh(pair.refresh_token)
        assert "unreachable" not in failure.value.message
        assert isinstance(failure.value.__cause__, LookupError)
        assert await store.get_session(pair.sid) == before

    async def test_a_check_is_not_asked_about_a_token_that_is_refused_anyway(
        self, store: AsyncTokenStore
    ) -> None:
        gate = _Gate()
        manager, clock, _ = _manager(store, refresh_check=gate)
        pair = await manager.issue("alice")
        await manager.refresh(pair.refresh_token)
        clock.advance(manager.settings.retry_window)
        with pytest.raises(TokenReuseError):
            await manager.refresh(pair.refresh_token)
        assert [c.replay for c in gate.seen] == [False]

    # ---------------------------------------------------- step-up freshness

    async def test_an_update_writes_the_claims_whole_and_every_read_returns_them(
        self, store: AsyncTokenStore
    ) -> None:
        session = _session()
        await store.create_session(session)
        claims = {"role": "viewer", "auth_time": 1_900_000_000, "nested": {"n": [2, "ü"]}}
        update = SessionUpdate(
            session.sid, (Check("revoked_at", CheckOp.EQUALS, None),), {"claims": claims}
        )
        result = await store.compare_and_set(update)
        assert result.applied and result.session is not None
        assert result.session.claims == claims
        assert result.session == dataclasses.replace(session, claims=claims)
        assert await store.get_session(session.sid) == result.session
        emptied = await store.compare_and_set(dataclasses.replace(update, changes={"claims": {}}))
        assert emptied.session is not None and emptied.session.claims == {}
        assert await store.get_session(session.sid) == emptied.session

    async def test_auth_time_is_kept_across_refreshes_and_moved_by_a_reauthentication(
        self, store: AsyncTokenStore
    ) -> None:
        manager, clock, _ = _manager(store)
        pair = await manager.issue("alice", claims={"role": "admin"})
        clock.advance(timedelta(hours=1))
        refreshed = await manager.refresh(pair.refresh_token)
        assert manager.verify_access(refreshed.access_token).auth_time == T0.replace(microsecond=0)
        access = await manager.reauthenticate(pair.sid)
        fresh = manager.verify_access(access, max_age=0)
        assert fresh.auth_time == clock.now().replace(microsecond=0)
        assert fresh.extra == {"role": "admin"} and fresh.sid == pair.sid
        stored = await store.get_session(pair.sid)
        assert stored is not None and stored.generation == 1
        assert stored.claims == {"role": "admin", "auth_time": int(clock.now().timestamp())}
        later = await manager.refresh(refreshed.refresh_token)
        assert manager.verify_access(later.access_token).auth_time == fresh.auth_time

    async def test_a_revoked_or_expired_session_cannot_be_reauthenticated(
        self, store: AsyncTokenStore
    ) -> None:
        manager, clock, _ = _manager(store)
        revoked = await manager.issue("alice")
        await manager.revoke_session(revoked.sid)
        with pytest.raises(RevokedTokenError):
            await manager.reauthenticate(revoked.sid)
        with pytest.raises(InvalidTokenError):
            await manager.reauthenticate("no-such-session")
        idle = await manager.issue("alice")
        clock.advance(manager.settings.refresh_idle_ttl)
        with pytest.raises(ExpiredTokenError):
            await manager.reauthenticate(idle.sid)
        stored = await store.get_session(idle.sid)
        assert stored is not None and stored.claims["auth_time"] == int(T0.timestamp())

    # ------------------------------------------------------------------ retry

    async def test_a_retry_within_the_window_gets_the_same_successor_and_writes_nothing(
        self, store: AsyncTokenStore
    ) -> None:
        manager, clock, events = _manager(store)
        pair = await manager.issue("alice")
        first = await manager.refresh(pair.refresh_token)
        before = await store.get_session(pair.sid)
        clock.advance(manager.settings.retry_window - US)
        again = await manager.refresh(pair.refresh_token)
        assert again.refresh_token == first.refresh_token
        assert again.access_token != first.access_token
        assert await store.get_session(pair.sid) == before
        assert _names(events) == ["issued", "refreshed", "retry_replayed"]

    async def test_a_retry_once_the_window_has_passed_is_reuse(
        self, store: AsyncTokenStore
    ) -> None:
        manager, clock, events = _manager(store)
        pair = await manager.issue("alice")
        await manager.refresh(pair.refresh_token)
        clock.advance(manager.settings.retry_window)
        with pytest.raises(TokenReuseError):
            await manager.refresh(pair.refresh_token)
        stored = await store.get_session(pair.sid)
        assert stored is not None and stored.revoked_reason == "reuse"
        assert "reuse_detected" in _names(events)

    async def test_strict_rotation_takes_every_second_presentation_for_reuse(
        self, store: AsyncTokenStore
    ) -> None:
        manager, _, _ = _manager(store, retry_window=timedelta(0))
        pair = await manager.issue("alice")
        new = await manager.refresh(pair.refresh_token)
        with pytest.raises(TokenReuseError):
            await manager.refresh(pair.refresh_token)
        with pytest.raises(RevokedTokenError):
            await manager.refresh(new.refresh_token)

    async def test_a_retry_once_the_successor_was_used_is_reuse_and_revokes_both(
        self, store: AsyncTokenStore
    ) -> None:
        manager, clock, _ = _manager(store)
        pair = await manager.issue("alice")
        first = await manager.refresh(pair.refresh_token)
        clock.advance(timedelta(seconds=1))
        second = await manager.refresh(first.refresh_token)
        with pytest.raises(TokenReuseError):
            await manager.refresh(pair.refresh_token)
        with pytest.raises(RevokedTokenError):
            await manager.refresh(second.refresh_token)

    async def test_a_replay_of_any_earlier_token_is_reuse_with_bounded_state(
        self, store: AsyncTokenStore
    ) -> None:
        manager, clock, events = _manager(store)
        pair = await manager.issue("alice")
        tokens = [pair.refresh_token]
        for _ in range(1000):
            clock.advance(timedelta(minutes=1))
            tokens.append((await manager.refresh(tokens[-1])).refresh_token)
        stored = await store.get_session(pair.sid)
        assert stored is not None and stored.generation == 1000
        fields = {f.name for f in dataclasses.fields(stored) if getattr(stored, f.name)}
        assert fields == {f.name for f in dataclasses.fields(stored)} - {
            "use_count",
            "device_hash",
            "revoked_at",
            "revoked_reason",
            "scope",
            "client_id",
            "cnf",
            "user_agent",
            "client_ip",
            "device_label",
            "idle_ttl",
        }
        with pytest.raises(TokenReuseError):
            await manager.refresh(tokens[0])
        revoked = await store.get_session(pair.sid)
        assert revoked is not None and revoked.revoked_reason == "reuse"
        with pytest.raises(RevokedTokenError):
            await manager.refresh(tokens[-1])
        assert _names(events).count("reuse_detected") == 1

    async def test_racing_presentations_of_one_token_all_get_the_same_successor(
        self, store: AsyncTokenStore
    ) -> None:
        manager, _, events = _manager(store)
        pair = await manager.issue("alice")
        results = await AsyncRacer.run(16, lambda: manager.refresh(pair.refresh_token))
        tokens = {getattr(r, "refresh_token", repr(r)) for r in results}
        assert len(tokens) == 1 and pair.refresh_token not in tokens, results
        stored = await store.get_session(pair.sid)
        assert stored is not None and stored.generation == 1 and stored.revoked_at is None
        assert _names(events).count("refreshed") == 1
        assert _names(events).count("retry_replayed") == 15

    async def test_with_strict_rotation_exactly_one_racing_presentation_succeeds(
        self, store: AsyncTokenStore
    ) -> None:
        manager, _, _ = _manager(store, retry_window=timedelta(0))
        pair = await manager.issue("alice")
        results = await AsyncRacer.run(16, lambda: manager.refresh(pair.refresh_token))
        won = [r for r in results if not isinstance(r, BaseException)]
        assert len(won) == 1, results
        assert all(
            isinstance(r, TokenReuseError | RevokedTokenError) for r in results if r not in won
        )

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
        assert [r.applied for r in lossy.lost] == [True]
        clock.advance(timedelta(seconds=1))
        retried = await manager.refresh(pair.refresh_token)
        again = await manager.refresh(pair.refresh_token)
        assert retried.refresh_token == again.refresh_token != pair.refresh_token
        stored = await store.get_session(pair.sid)
        assert stored is not None and stored.revoked_at is None and stored.generation == 1
        assert (await manager.refresh(retried.refresh_token)).sid == pair.sid
        assert "reuse_detected" not in _names(events)
        assert _names(events).count("retry_replayed") == 2

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
        assert [r.applied for r in lossy.lost] == [True, False, False]
        retried = await manager.refresh(pair.refresh_token)
        stored = await store.get_session(pair.sid)
        assert stored is not None and stored.generation == 1 and stored.revoked_at is None
        assert stored.current_token_id == _tokens.parse_refresh_token(retried.refresh_token)[0]
        assert "reuse_detected" not in _names(events)

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
        assert "reuse_detected" in _names(events)

    async def test_the_same_update_sent_twice_is_applied_once_and_recognised(
        self, store: AsyncTokenStore
    ) -> None:
        # What a client library does that re-sends a command after losing its
        # reply: the second copy finds its own successor newest, even with
        # strict rotation, and the policy reports the first one's success.
        manager, _, _ = _manager(store, retry_window=timedelta(0))
        pair = await manager.issue("alice")
        attempt = _policy.refresh_attempt(pair.refresh_token, T0, manager.settings, device=None)
        first = await store.compare_and_set(attempt.update)
        second = await store.compare_and_set(attempt.update)
        assert first.applied and not second.applied
        assert second.session == first.session
        assert _policy.classify(second.session, attempt) is _policy.Outcome.ROTATED

    # ------------------------------------------------------------ rotation off

    async def test_rotation_off_counts_uses_up_to_the_limit(self, store: AsyncTokenStore) -> None:
        manager, clock, _ = _manager(store, rotation=False, max_uses=3)
        pair = await manager.issue("alice")
        for _ in range(3):
            clock.advance(timedelta(minutes=1))
            assert (await manager.refresh(pair.refresh_token)).refresh_token == pair.refresh_token
        clock.advance(timedelta(minutes=1))
        with pytest.raises(ExpiredTokenError):
            await manager.refresh(pair.refresh_token)
        stored = await store.get_session(pair.sid)
        assert stored is not None and stored.use_count == 3 and stored.generation == 0
        assert (
            stored.idle_expires_at == T0 + timedelta(minutes=3) + manager.settings.refresh_idle_ttl
        )

    # ------------------------------------------------------------- revocation

    async def test_revocation_is_monotonic_and_idempotent(self, store: AsyncTokenStore) -> None:
        manager, clock, _ = _manager(store)
        pair = await manager.issue("alice")
        assert await manager.revoke_session(pair.sid, reason="logout") is True
        clock.advance(timedelta(hours=1))
        assert await manager.revoke_session(pair.sid, reason="reuse") is False
        stored = await store.get_session(pair.sid)
        assert stored is not None and stored.revoked_at == T0 and stored.revoked_reason == "logout"
        assert await manager.revoke_session(_tokens.new_session_id()) is False

    async def test_revoke_subject_revokes_every_session_of_that_subject_only(
        self, store: AsyncTokenStore
    ) -> None:
        mine = [_session("alice") for _ in range(3)]
        bob = _session("bob")
        for session in [*mine, bob]:
            await store.create_session(session)
        manager, _, _ = _manager(store)
        await manager.revoke_session(mine[0].sid, reason="logout")
        assert await store.revoke_subject("alice", T0 + US, "everywhere") == 2
        for session in mine:
            stored = await store.get_session(session.sid)
            assert stored is not None and stored.revoked_at is not None
        first = await store.get_session(mine[0].sid)
        assert first is not None and first.revoked_reason == "logout"
        bob_now = await store.get_session(bob.sid)
        assert bob_now == bob
        assert await store.revoke_subject("alice", T0 + 2 * US, "again") == 0

    # ---------------------------------------------------- session metadata

    async def test_a_login_records_its_metadata_and_refreshes_keep_it(
        self, store: AsyncTokenStore
    ) -> None:
        manager, clock, _ = _manager(store, session_ip="plain")
        agent = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Safari/604.1"
        pair = await manager.issue(
            "alice", user_agent=agent, ip="198.51.100.7", device_label="Alice's phone"
        )
        clock.advance(timedelta(minutes=5, microseconds=1))
        token = (await manager.refresh(pair.refresh_token)).refresh_token
        clock.advance(timedelta(minutes=5))
        await manager.refresh(token)
        stored = await store.get_session(pair.sid)
        assert stored is not None
        assert (stored.user_agent, stored.client_ip, stored.device_label) == (
            agent,
            "198.51.100.7",
            "Alice's phone",
        )
        assert stored.created_at == T0
        assert stored.last_used_at == T0 + timedelta(minutes=10, microseconds=1)

    async def test_the_device_list_marks_the_current_session_and_shows_no_token_state(
        self, store: AsyncTokenStore
    ) -> None:
        manager, clock, _ = _manager(store)
        phone = await manager.issue("alice", user_agent="phone", ip="2001:db8:1:2::9")
        clock.advance(US)
        laptop = await manager.issue("alice", user_agent="laptop", client_id=None)
        await manager.issue("bob")
        listed = await manager.devices("alice", current=phone.sid)
        assert [(d.sid, d.current) for d in listed] == [(laptop.sid, False), (phone.sid, True)]
        assert listed[1].client_ip == "2001:db8:1::/48"
        assert listed[1].user_agent == "phone" and listed[1].created_at == T0
        assert "secret" not in repr(listed) and "hash" not in repr(listed)

    async def test_a_user_ends_their_own_session_never_another_users(
        self, store: AsyncTokenStore
    ) -> None:
        manager, _, events = _manager(store)
        mine = await manager.issue("alice")
        theirs = await manager.issue("bob")
        assert await manager.end_session("alice", theirs.sid) is False
        assert await manager.end_session("alice", _tokens.new_session_id()) is False
        bob = await store.get_session(theirs.sid)
        assert bob is not None and bob.revoked_at is None
        assert await manager.end_session("alice", mine.sid) is True
        assert await manager.end_session("alice", mine.sid) is False
        with pytest.raises(RevokedTokenError):
            await manager.refresh(mine.refresh_token)
        ended = [e for e in events if e.name == "session_ended"]
        assert [(e.sid, e.subject, e.reason) for e in ended] == [
            (mine.sid, "alice", "ended_by_user")
        ]
        assert (await manager.refresh(theirs.refresh_token)).sid == theirs.sid

    async def test_signing_out_other_devices_keeps_the_current_session_only(
        self, store: AsyncTokenStore
    ) -> None:
        manager, _, events = _manager(store)
        current = await manager.issue("alice")
        others = [await manager.issue("alice") for _ in range(3)]
        bob = await manager.issue("bob")
        await manager.revoke_session(others[0].sid, reason="logout")
        assert await manager.end_other_sessions("alice", keep=current.sid) == 2
        assert [s.sid for s in await manager.sessions("alice")] == [current.sid]
        for other in others:
            with pytest.raises(RevokedTokenError):
                await manager.refresh(other.refresh_token)
        assert (await manager.refresh(bob.refresh_token)).sid == bob.sid
        assert _names(events).count("session_ended") == 2
        assert await manager.end_other_sessions("alice", keep=current.sid) == 0

    # ----------------------------------------------------------- remember me

    async def test_a_remember_me_session_slides_by_its_own_idle_lifetime(
        self, store: AsyncTokenStore
    ) -> None:
        manager, clock, _ = _manager(store, refresh_idle_ttl=IDLE, refresh_absolute_ttl=ABSOLUTE)
        short = timedelta(hours=1, microseconds=5)
        pair = await manager.issue("alice", idle_ttl=short)
        assert pair.refresh_expires_at == T0 + short
        clock.advance(short - US)
        refreshed = await manager.refresh(pair.refresh_token)
        assert refreshed.refresh_expires_at == clock.now() + short
        stored = await store.get_session(pair.sid)
        assert stored is not None and stored.idle_ttl == short
        assert stored.idle_expires_at == clock.now() + short
        clock.advance(short)
        with pytest.raises(ExpiredTokenError):
            await manager.refresh(refreshed.refresh_token)

    async def test_a_remember_me_retry_gets_the_same_successor(
        self, store: AsyncTokenStore
    ) -> None:
        manager, clock, events = _manager(store)
        pair = await manager.issue("alice", idle_ttl=timedelta(hours=1))
        first = await manager.refresh(pair.refresh_token)
        again = await manager.refresh(pair.refresh_token)
        assert again.refresh_token == first.refresh_token
        assert "reuse_detected" not in _names(events)
        clock.advance(timedelta(minutes=59))
        assert (await manager.refresh(first.refresh_token)).sid == pair.sid

    async def test_a_shorter_absolute_lifetime_ends_the_session_to_the_microsecond(
        self, store: AsyncTokenStore
    ) -> None:
        manager, clock, _ = _manager(store, refresh_idle_ttl=IDLE, refresh_absolute_ttl=ABSOLUTE)
        cap = timedelta(hours=3, microseconds=7)
        pair = await manager.issue("alice", absolute_ttl=cap)
        clock.advance(timedelta(hours=2))
        refreshed = await manager.refresh(pair.refresh_token)
        assert refreshed.refresh_expires_at == T0 + cap
        clock.set(T0 + cap - US)
        last = await manager.refresh(refreshed.refresh_token)
        clock.set(T0 + cap)
        with pytest.raises(ExpiredTokenError):
            await manager.refresh(last.refresh_token)

    async def test_remember_me_with_rotation_off_keeps_its_own_idle_lifetime(
        self, store: AsyncTokenStore
    ) -> None:
        manager, clock, _ = _manager(store, rotation=False)
        short = timedelta(minutes=30)
        pair = await manager.issue("alice", idle_ttl=short)
        clock.advance(timedelta(minutes=29))
        assert (await manager.refresh(pair.refresh_token)).refresh_expires_at == clock.now() + short
        clock.advance(short)
        with pytest.raises(ExpiredTokenError):
            await manager.refresh(pair.refresh_token)

    async def test_a_login_may_not_outlive_the_settings(self, store: AsyncTokenStore) -> None:
        manager, _, _ = _manager(store, refresh_idle_ttl=IDLE, refresh_absolute_ttl=ABSOLUTE)
        with pytest.raises(ValueError, match="never lengthen"):
            await manager.issue("alice", idle_ttl=IDLE + US)
        with pytest.raises(ValueError, match="never lengthen"):
            await manager.issue("alice", absolute_ttl=ABSOLUTE + US)
        with pytest.raises(ValueError, match="positive"):
            await manager.issue("alice", idle_ttl=timedelta(0))
        assert await store.list_sessions("alice") == []

    # --------------------------------------------------------------- cutoff

    async def test_a_cutoff_only_ever_moves_later_with_its_reason(
        self, store: AsyncTokenStore
    ) -> None:
        assert await store.get_cutoff("alice") is None
        later = SubjectCutoff("alice", T0 + timedelta(hours=1), "password_changed", T0 + 2 * US)
        assert await store.record_cutoff(later) == later
        earlier = SubjectCutoff("alice", T0, "operator", T0 + 3 * US)
        assert await store.record_cutoff(earlier) == later
        latest = SubjectCutoff("alice", later.before + US, "mfa_reset", T0 + 4 * US)
        assert await store.record_cutoff(latest) == latest
        assert await store.get_cutoff("alice") == latest
        assert await store.get_cutoff("bob") is None
        session = _session("alice")
        await store.create_session(session)
        check = await store.check_access("jti", session.sid, T0, "alice")
        assert check.cutoff == latest.before and check.session == session
        assert (await store.check_access("jti", session.sid, T0, "bob")).cutoff is None
        assert (await store.check_access("jti", session.sid, T0)).cutoff is None

    async def test_a_cutoff_ends_every_session_started_before_it_and_records_why(
        self, store: AsyncTokenStore
    ) -> None:
        manager, clock, events = _manager(store)
        old = [await manager.issue("alice") for _ in range(3)]
        bob = await manager.issue("bob")
        clock.advance(timedelta(minutes=1, microseconds=1))
        changed = clock.now()
        clock.advance(timedelta(seconds=5))
        assert await manager.revoke_subject("alice", before=changed) == 3
        after = await manager.issue("alice")
        for pair in old:
            with pytest.raises(RevokedTokenError):
                await manager.refresh(pair.refresh_token)
            stored = await store.get_session(pair.sid)
            assert stored is not None and stored.revoked_reason == "password_changed"
        assert (await manager.refresh(after.refresh_token)).sid == after.sid
        assert (await manager.refresh(bob.refresh_token)).sid == bob.sid
        recorded = await manager.cutoff("alice")
        assert recorded == SubjectCutoff("alice", changed, "password_changed", clock.now())
        (event,) = [e for e in events if e.name == "cutoff"]
        assert (event.subject, event.reason, event.details) == (
            "alice",
            "password_changed",
            {"before": changed.isoformat(), "sessions": 3},
        )
        assert "rk_" not in repr(events)
        assert await manager.revoke_subject("alice", before=changed, reason="again") == 0
        with pytest.raises(ValueError, match="future"):
            await manager.revoke_subject("alice", before=clock.now() + US)

    async def test_online_checks_refuse_access_tokens_issued_before_a_cutoff(
        self, store: AsyncTokenStore
    ) -> None:
        manager, clock, _ = _manager(store)
        before = await manager.issue("alice")
        clock.advance(timedelta(seconds=2, microseconds=500))
        await manager.revoke_subject("alice", before=clock.now())
        with pytest.raises(RevokedTokenError):
            await manager.verify_access_online(before.access_token)
        assert (await manager.introspect(before.access_token)) == {"active": False}
        # Offline verification cannot know: the token stays valid until it expires.
        assert manager.verify_access(before.access_token).sid == before.sid
        same_instant = await manager.issue("alice")  # a login right after the change
        assert (await manager.verify_access_online(same_instant.access_token)).sid
        assert (await manager.introspect(same_instant.access_token))["active"] is True

    async def test_after_a_cutoff_returns_no_earlier_session_refreshes_anywhere(
        self, store: AsyncTokenStore
    ) -> None:
        manager, clock, _ = _manager(store)
        pairs = [await manager.issue("alice") for _ in range(6)]
        clock.advance(US)
        cutoff_at = clock.now()
        jobs = iter([None, *(pair for pair in pairs for _ in range(2))])

        async def one() -> object:
            job = next(jobs)
            if job is None:
                return await manager.revoke_subject("alice", before=cutoff_at)
            return await manager.refresh(job.refresh_token)

        results = await AsyncRacer.run(13, one)
        errors = [r for r in results if isinstance(r, BaseException)]
        assert all(isinstance(e, RevokedTokenError) for e in errors), results
        issued = [r.refresh_token for r in results if hasattr(r, "refresh_token")]
        for token in [*issued, *(pair.refresh_token for pair in pairs)]:
            with pytest.raises(RevokedTokenError):
                await manager.refresh(token)
        for pair in pairs:
            stored = await store.get_session(pair.sid)
            assert stored is not None and stored.revoked_reason == "password_changed"

    async def test_access_denial_lasts_until_its_expiry(self, store: AsyncTokenStore) -> None:
        session = _session()
        await store.create_session(session)
        until = T0 + timedelta(minutes=15)
        await store.deny_access("jti-1", until)
        denied = await store.check_access("jti-1", session.sid, T0)
        assert denied.denied and denied.session == session
        assert not (await store.check_access("jti-1", session.sid, until)).denied
        assert not (await store.check_access("jti-2", session.sid, T0)).denied
        assert (await store.check_access("jti-2", _tokens.new_session_id(), T0)).session is None

    # ------------------------------------------------------------------ purge

    async def test_purge_deletes_expired_sessions_in_batches_and_keeps_live_ones(
        self, store: AsyncTokenStore
    ) -> None:
        expired = [_session("alice", at=T0 - timedelta(days=2)) for _ in range(5)]
        live = _session("alice")
        for session in [*expired, live]:
            await store.create_session(session)
        assert await store.purge_expired(T0, batch_size=2) == 5
        for session in expired:
            assert await store.get_session(session.sid) is None
        assert await store.get_session(live.sid) == live
        assert [s.sid for s in await store.list_sessions("alice")] == [live.sid]
        assert await store.purge_expired(T0, batch_size=2) == 0

    async def test_a_revoked_session_is_kept_until_it_expires(self, store: AsyncTokenStore) -> None:
        manager, _, _ = _manager(store)
        pair = await manager.issue("alice")
        await manager.revoke_session(pair.sid)
        assert await store.purge_expired(T0 + timedelta(hours=1)) == 0
        stored = await store.get_session(pair.sid)
        assert stored is not None and stored.revoked
