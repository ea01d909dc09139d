"""The application's refresh check: sync and async forms, what it may answer, its cost."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from refreshkit import (
    AsyncTokenManager,
    Event,
    FrozenClock,
    KeySet,
    RefreshCheckError,
    RefreshContext,
    RefreshGrant,
    RefreshRefused,
    Settings,
    TokenManager,
)
from refreshkit.backends.memory import AsyncMemoryStore, MemoryStore
from refreshkit.models import SessionUpdate, UpdateResult

T0 = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)


class CountingStore(MemoryStore):
    """A real memory store that counts the calls a refresh makes."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def get_session(self, sid: str) -> Any:
        self.calls.append("get_session")
        return super().get_session(sid)

    def compare_and_set(self, update: SessionUpdate) -> UpdateResult:
        self.calls.append("compare_and_set")
        return super().compare_and_set(update)


def sync_manager(**kwargs: Any) -> TokenManager:
    kwargs.setdefault("store", MemoryStore())
    return TokenManager(Settings(), keys=KeySet.generate(), clock=FrozenClock(T0), **kwargs)


def async_manager(**kwargs: Any) -> AsyncTokenManager:
    kwargs.setdefault("store", AsyncMemoryStore())
    return AsyncTokenManager(Settings(), keys=KeySet.generate(), clock=FrozenClock(T0), **kwargs)


def test_without_a_check_a_refresh_is_one_store_round_trip() -> None:
    store = CountingStore()
    manager = sync_manager(store=store)
    pair = manager.issue("alice")
    store.calls.clear()
    manager.refresh(pair.refresh_token)
    assert store.calls == ["compare_and_set"]


def test_with_a_check_a_refresh_reads_the_session_once_before_writing() -> None:
    store = CountingStore()
    manager = sync_manager(store=store, refresh_check=lambda context: None)
    pair = manager.issue("alice")
    store.calls.clear()
    manager.refresh(pair.refresh_token)
    assert store.calls == ["get_session", "compare_and_set"]


def test_on_refresh_registers_a_check_as_a_decorator_and_only_once() -> None:
    manager = sync_manager()

    @manager.on_refresh
    def check(context: RefreshContext) -> RefreshGrant:
        return RefreshGrant(claims={"plan": "pro"})

    assert manager.refresh_check is check
    pair = manager.refresh(manager.issue("alice").refresh_token)
    assert manager.verify_access(pair.access_token).extra["plan"] == "pro"
    with pytest.raises(ValueError, match="compose"):
        manager.on_refresh(check)


def test_the_check_sees_the_session_the_client_and_the_scope_asked_for() -> None:
    seen: list[RefreshContext] = []

    def check(context: RefreshContext) -> None:
        seen.append(context)

    manager = sync_manager(refresh_check=check)
    pair = manager.issue("alice", scope="read write", claims={"tenant": "t1"})
    manager.refresh(pair.refresh_token, client_id="spa", scope="read")
    (context,) = seen
    assert (context.subject, context.sid, context.client_id) == ("alice", pair.sid, "spa")
    assert context.scope == "read" and context.session.claims["tenant"] == "t1"
    assert context.at == T0 and context.replay is False
    assert context.session.current_secret_hash not in repr(context)


async def test_the_async_manager_awaits_an_async_check() -> None:
    async def check(context: RefreshContext) -> RefreshGrant:
        return RefreshGrant(claims={"role": "viewer"})

    manager = async_manager(refresh_check=check)
    pair = await manager.refresh((await manager.issue("alice")).refresh_token)
    assert manager.verify_access(pair.access_token).extra["role"] == "viewer"


async def test_the_async_manager_takes_a_sync_check_and_an_async_refusal() -> None:
    async def check(context: RefreshContext) -> None:
        raise RefreshRefused("account_disabled", revoke=True)

    manager = async_manager()
    manager.on_refresh(lambda context: None)
    first = await manager.refresh((await manager.issue("alice")).refresh_token)
    manager.refresh_check = check
    with pytest.raises(RefreshRefused) as refused:
        await manager.refresh(first.refresh_token)
    assert (
        refused.value.reason == "account_disabled" and refused.value.error_code == "invalid_grant"
    )
    (session,) = await manager.store.list_sessions("alice")
    assert session.revoked_reason == "account_disabled"


def test_an_async_check_on_the_sync_manager_is_a_clear_error() -> None:
    async def check(context: RefreshContext) -> None:
        return None

    manager = sync_manager(refresh_check=check)  # type: ignore[arg-type]
    pair = manager.issue("alice")
    with pytest.raises(RefreshCheckError, match="AsyncTokenManager"):
        manager.refresh(pair.refresh_token)
    (session,) = manager.store.list_sessions("alice")
    assert session.generation == 0


@pytest.mark.parametrize(
    "answer",
    [
        "yes",
        {"role": "viewer"},
        RefreshGrant(claims={"sub": "mallory"}),
        RefreshGrant(claims={"scope": "admin"}),
        RefreshGrant(scope='read"'),
    ],
    ids=["a-string", "a-bare-mapping", "reserved-sub", "reserved-scope", "malformed-scope"],
)
def test_an_answer_outside_the_rules_is_a_server_error_never_a_token(answer: Any) -> None:
    manager = sync_manager(refresh_check=lambda context: answer)
    pair = manager.issue("alice", scope="read")
    with pytest.raises(RefreshCheckError) as failure:
        manager.refresh(pair.refresh_token)
    assert failure.value.status_code == 500 and failure.value.error_code == "server_error"
    (session,) = manager.store.list_sessions("alice")
    assert session.generation == 0 and session.revoked_at is None


def test_a_refusal_event_names_the_reason_and_no_secret() -> None:
    events: list[Event] = []
    manager = sync_manager(refresh_check=lambda context: None)
    manager.hooks.on("refresh_refused", events.append)
    pair = manager.issue("alice")

    def refuse(context: RefreshContext) -> None:
        raise RefreshRefused("role_changed")

    manager.refresh_check = refuse
    with pytest.raises(RefreshRefused):
        manager.refresh(pair.refresh_token)
    (event,) = events
    assert (event.subject, event.sid, event.reason) == ("alice", pair.sid, None)
    assert event.details == {"reason": "role_changed", "revoked": False, "replay": False}
    assert pair.refresh_token not in repr(event)
    assert pair.refresh_token.split(".")[-1] not in repr(event)
