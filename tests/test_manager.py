"""The token lifecycle through the manager, sync and async alike (DESIGN.md §3)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import warnings
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from refreshkit import (
    AsyncTokenManager,
    DeviceMismatchError,
    Event,
    ExpiredTokenError,
    FrozenClock,
    InvalidTokenError,
    KeySet,
    RefreshKitError,
    RevokedTokenError,
    Settings,
    StoreError,
    TokenManager,
    TokenReuseError,
    _policy,
    _tokens,
)
from refreshkit.backends.memory import AsyncMemoryStore, MemoryStore

from ._managers import FLAVOURS, manager_factory


@pytest.fixture(params=FLAVOURS)
def make(request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    with manager_factory(request.param) as factory:
        yield factory


def _events(manager: Any) -> list[Event]:
    seen: list[Event] = []
    manager.hooks.on(None, seen.append)
    return seen


def test_issue_starts_a_session_whose_access_token_verifies(make: Callable[..., Any]) -> None:
    manager = make()
    pair = manager.issue("alice", scope="read", claims={"plan": "pro"})
    assert pair.refresh_token.startswith("rk_") and pair.token_type == "Bearer"
    assert pair.expires_in == 15 * 60
    claims = manager.verify_access(pair.access_token)
    assert (claims.subject, claims.sid, claims.extra["plan"]) == ("alice", pair.sid, "pro")
    assert [s.sid for s in manager.sessions("alice")] == [pair.sid]


def test_refresh_rotates_and_the_new_token_works(make: Callable[..., Any]) -> None:
    manager = make()
    first = manager.issue("alice", scope="read write")
    second = manager.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token and second.sid == first.sid
    assert second.scope == "read write"
    third = manager.refresh(second.refresh_token)
    assert manager.verify_access(third.access_token).subject == "alice"


def test_reuse_after_rotation_revokes_the_whole_session(make: Callable[..., Any]) -> None:
    manager = make()
    events = _events(manager)
    stolen = manager.issue("alice")
    victim = manager.refresh(stolen.refresh_token)
    manager.clock.advance(manager.settings.retry_window)
    with pytest.raises(TokenReuseError) as caught:
        manager.refresh(stolen.refresh_token)
    assert caught.value.sid == stolen.sid
    with pytest.raises(RevokedTokenError):
        manager.refresh(victim.refresh_token)
    assert manager.sessions("alice") == []
    names = [e.name for e in events]
    assert names == ["issued", "refreshed", "reuse_detected", "revoked"]
    assert events[-1].reason == "reuse"


def test_with_strict_rotation_a_second_use_at_once_is_reuse(make: Callable[..., Any]) -> None:
    manager = make(retry_window="0s")
    first = manager.issue("alice")
    manager.refresh(first.refresh_token)
    with pytest.raises(TokenReuseError):
        manager.refresh(first.refresh_token)
    assert manager.sessions("alice") == []


def test_a_retry_within_the_window_gets_the_same_successor_and_revokes_nothing(
    make: Callable[..., Any],
) -> None:
    manager = make(retry_window="10s")
    events = _events(manager)
    first = manager.issue("alice")
    second = manager.refresh(first.refresh_token)
    manager.clock.advance(5)
    retried = manager.refresh(first.refresh_token)
    assert retried.refresh_token == second.refresh_token
    assert retried.access_token != second.access_token
    assert manager.verify_access(retried.access_token).sid == first.sid
    assert retried.refresh_expires_at == second.refresh_expires_at  # nothing slid
    assert manager.refresh(retried.refresh_token).sid == first.sid
    names = [e.name for e in events]
    assert names == ["issued", "refreshed", "retry_replayed", "refreshed"]
    assert events[2].details == {"generation": 1}


def test_a_retry_gets_the_same_successor_whatever_whitespace_either_request_carried(
    make: Callable[..., Any],
) -> None:
    manager = make()
    pair = manager.issue("alice")
    first = manager.refresh(f"  {pair.refresh_token}\n")  # parsing strips it, so sealing must too
    retried = manager.refresh(pair.refresh_token)
    assert retried.refresh_token == first.refresh_token
    assert manager.refresh(f"{pair.refresh_token} ").refresh_token == first.refresh_token


def test_racing_tabs_presenting_one_token_get_the_same_successor(
    make: Callable[..., Any],
) -> None:
    manager = make()
    pair = manager.issue("alice")
    tabs = [manager.refresh(pair.refresh_token) for _ in range(4)]
    assert len({tab.refresh_token for tab in tabs}) == 1
    assert len({tab.access_token for tab in tabs}) == 4
    (session,) = manager.sessions("alice")
    assert session.generation == 1


def test_a_retry_after_the_successor_was_used_is_reuse_and_revokes(
    make: Callable[..., Any],
) -> None:
    manager = make()
    events = _events(manager)
    first = manager.issue("alice")
    second = manager.refresh(first.refresh_token)
    third = manager.refresh(second.refresh_token)
    with pytest.raises(TokenReuseError):
        manager.refresh(first.refresh_token)
    with pytest.raises(RevokedTokenError):
        manager.refresh(third.refresh_token)
    assert "reuse_detected" in [e.name for e in events]


def test_the_first_token_replayed_after_three_rotations_is_reuse(
    make: Callable[..., Any],
) -> None:
    manager = make()
    first = manager.issue("alice")
    pair = first
    for _ in range(3):
        pair = manager.refresh(pair.refresh_token)
    with pytest.raises(TokenReuseError):
        manager.refresh(first.refresh_token)
    assert manager.sessions("alice") == []
    with pytest.raises(RevokedTokenError):
        manager.refresh(pair.refresh_token)


def test_a_retry_once_the_window_passed_is_reuse(make: Callable[..., Any]) -> None:
    manager = make(retry_window="10s")
    first = manager.issue("alice")
    second = manager.refresh(first.refresh_token)
    manager.clock.advance(10)
    with pytest.raises(TokenReuseError):
        manager.refresh(first.refresh_token)
    with pytest.raises(RevokedTokenError):
        manager.refresh(second.refresh_token)


def test_thief_and_victim_share_one_chain_and_the_second_user_is_caught(
    make: Callable[..., Any],
) -> None:
    """A stolen token retried within the window buys the thief the victim's own
    successor, never a token of its own: the two now hold one chain, and
    whichever of them presents a rotated token after the window is caught."""
    manager = make()
    events = _events(manager)
    stolen = manager.issue("alice")
    victim = manager.refresh(stolen.refresh_token)  # the victim refreshes first
    manager.clock.advance(2)
    thief = manager.refresh(stolen.refresh_token)  # within the window: a "retry"
    assert thief.refresh_token == victim.refresh_token  # the same chain, no fork
    victim = manager.refresh(victim.refresh_token)  # the victim carries on
    manager.clock.advance(manager.settings.retry_window)
    with pytest.raises(TokenReuseError):
        manager.refresh(thief.refresh_token)  # the thief comes back: reuse
    with pytest.raises(RevokedTokenError):
        manager.refresh(victim.refresh_token)  # the whole family is gone
    assert [e.name for e in events].count("reuse_detected") == 1


def test_a_session_rotated_without_a_seal_cannot_replay_and_a_retry_is_reuse(
    make: Callable[..., Any],
) -> None:
    """A rotation stored before the upgrade left no sealed successor: the retry
    cannot recover the successor, and no second token may be minted, so it is reuse."""
    manager = make()
    first = manager.issue("alice")
    attempt = _policy.refresh_attempt(
        first.refresh_token, manager.clock.now(), manager.settings, device=None
    )
    changes = {**attempt.update.changes, "sealed_successor": None}
    old_style = dataclasses.replace(attempt.update, changes=changes)
    assert manager.store.state.compare_and_set(old_style).applied
    with pytest.raises(TokenReuseError):
        manager.refresh(first.refresh_token)
    assert manager.sessions("alice") == []


def test_the_stored_seal_opens_with_the_predecessor_alone(make: Callable[..., Any]) -> None:
    """Whoever reads the database gets the seal and every secret's hash; none opens it."""
    manager = make()
    first = manager.issue("alice")
    second = manager.refresh(first.refresh_token)
    stored = manager.store.state
    first_id, _ = _tokens.parse_refresh_token(first.refresh_token)
    session = stored.get_session(first.sid)
    sealed = session.sealed_successor
    assert sealed is not None and second.refresh_token.split(".")[1] not in sealed
    assert _tokens.open_successor(sealed, first.refresh_token) == second.refresh_token
    for stored_hash in (
        session.current_secret_hash,
        session.previous_secret_hash,
        session.chain_hash,
    ):
        assert _tokens.open_successor(sealed, f"{_tokens.PREFIX}{first_id}.{stored_hash}") is None
    assert _tokens.open_successor(sealed, second.refresh_token) is None
    assert _tokens.open_successor(sealed, manager.issue("alice").refresh_token) is None


def test_sliding_expiry_never_passes_the_absolute_cap(make: Callable[..., Any]) -> None:
    manager = make(access_ttl="5m", refresh_idle_ttl="1d", refresh_absolute_ttl="3d")
    pair = manager.issue("alice")
    start = manager.clock.now()
    while manager.clock.now() + timedelta(hours=20) < start + timedelta(days=3):
        manager.clock.advance(timedelta(hours=20))
        pair = manager.refresh(pair.refresh_token)
        assert pair.refresh_expires_at <= start + timedelta(days=3)
        assert pair.access_expires_at <= pair.refresh_expires_at
    manager.clock.set(start + timedelta(days=3))
    with pytest.raises(ExpiredTokenError):
        manager.refresh(pair.refresh_token)


def test_an_idle_session_expires_and_says_so(make: Callable[..., Any]) -> None:
    manager = make(refresh_idle_ttl="1h", refresh_absolute_ttl="1d")
    events = _events(manager)
    pair = manager.issue("alice")
    manager.clock.advance(timedelta(hours=1))
    with pytest.raises(ExpiredTokenError):
        manager.refresh(pair.refresh_token)
    assert events[-1].name == "expired"


def test_device_mismatch_revokes_the_session_by_default(make: Callable[..., Any]) -> None:
    manager = make()
    events = _events(manager)
    pair = manager.issue("alice", device="phone-1")
    with pytest.raises(DeviceMismatchError):
        manager.refresh(pair.refresh_token, device="laptop-9")
    with pytest.raises(RevokedTokenError):
        manager.refresh(pair.refresh_token, device="phone-1")
    assert [e.name for e in events][-2:] == ["device_mismatch", "revoked"]


def test_device_mismatch_can_leave_the_session_alive(make: Callable[..., Any]) -> None:
    manager = make(revoke_on_device_mismatch=False)
    pair = manager.issue("alice", device="phone-1")
    with pytest.raises(DeviceMismatchError):
        manager.refresh(pair.refresh_token, device="laptop-9")
    assert manager.refresh(pair.refresh_token, device="phone-1").sid == pair.sid


def test_rotation_off_keeps_the_token_and_bounds_its_uses(make: Callable[..., Any]) -> None:
    manager = make(rotation=False, max_uses=2)
    pair = manager.issue("alice")
    assert manager.refresh(pair.refresh_token).refresh_token == pair.refresh_token
    assert manager.refresh(pair.refresh_token).refresh_token == pair.refresh_token
    with pytest.raises(ExpiredTokenError, match="use limit"):
        manager.refresh(pair.refresh_token)


def test_max_sessions_revokes_the_oldest(make: Callable[..., Any]) -> None:
    manager = make(max_sessions=2)
    oldest = manager.issue("alice")
    manager.clock.advance(1)
    middle = manager.issue("alice")
    manager.clock.advance(1)
    newest = manager.issue("alice")
    assert {s.sid for s in manager.sessions("alice")} == {middle.sid, newest.sid}
    with pytest.raises(RevokedTokenError):
        manager.refresh(oldest.refresh_token)


def test_max_sessions_never_evicts_the_login_it_just_made(make: Callable[..., Any]) -> None:
    """With a frozen clock every session shares created_at; order must not fall to the sid."""
    manager = make(max_sessions=1)
    previous = manager.issue("alice")
    for _ in range(40):  # the random sids fall either way; the new login must win each time
        newest = manager.issue("alice")
        assert [s.sid for s in manager.sessions("alice")] == [newest.sid]
        assert manager.refresh(newest.refresh_token).sid == newest.sid
        with pytest.raises(RevokedTokenError):
            manager.refresh(previous.refresh_token)
        previous = newest


def test_max_sessions_evicts_only_as_many_as_it_must(make: Callable[..., Any]) -> None:
    manager = make(max_sessions=3)
    logins = [manager.issue("alice") for _ in range(5)]
    kept = {s.sid for s in manager.sessions("alice")}
    assert len(kept) == 3 and logins[-1].sid in kept


def test_logout_revokes_the_session_and_unknown_tokens_are_not_an_error(
    make: Callable[..., Any],
) -> None:
    manager = make()
    pair = manager.issue("alice")
    assert manager.revoke(pair.refresh_token) is True
    assert manager.revoke(pair.refresh_token) is False
    assert manager.revoke("rk_garbage") is False
    assert manager.revoke("rk_" + pair.refresh_token[3:-4] + "AAAA") is False
    with pytest.raises(RevokedTokenError):
        manager.refresh(pair.refresh_token)


def test_revoke_session_and_revoke_subject(make: Callable[..., Any]) -> None:
    manager = make()
    phone, laptop, tablet = (manager.issue("alice") for _ in range(3))
    bob = manager.issue("bob")
    assert manager.revoke_session(phone.sid) is True
    assert manager.revoke_session("0" * 32) is False
    assert manager.revoke_subject("alice") == 2
    for pair in (phone, laptop, tablet):
        with pytest.raises(RevokedTokenError):
            manager.refresh(pair.refresh_token)
    assert manager.refresh(bob.refresh_token).subject == "bob"


def test_online_verification_sees_revocation_that_offline_does_not(
    make: Callable[..., Any],
) -> None:
    manager = make()
    pair = manager.issue("alice")
    claims = manager.verify_access_online(pair.access_token)
    manager.revoke_access(claims.jti, claims.expires)
    assert manager.verify_access(pair.access_token).jti == claims.jti
    with pytest.raises(RevokedTokenError, match="access token revoked"):
        manager.verify_access_online(pair.access_token)
    other = manager.issue("alice")
    manager.revoke_session(other.sid)
    with pytest.raises(RevokedTokenError, match="session"):
        manager.verify_access_online(other.access_token)


def test_purge_removes_expired_sessions(make: Callable[..., Any]) -> None:
    manager = make(refresh_idle_ttl="1h", refresh_absolute_ttl="1h")
    old = manager.issue("alice")
    manager.clock.advance(timedelta(minutes=30))
    manager.issue("alice")
    manager.clock.advance(timedelta(minutes=31))
    assert manager.purge_expired() == 1
    with pytest.raises(InvalidTokenError):
        manager.refresh(old.refresh_token)


def test_a_failing_hook_never_breaks_a_login(
    make: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    manager = make()

    def broken(event: Event) -> None:
        raise RuntimeError("hook bug")

    manager.hooks.on("issued", broken)
    with caplog.at_level(logging.ERROR, logger="refreshkit"):
        assert manager.issue("alice").subject == "alice"
    assert "hook" in caplog.text


def test_no_token_secret_or_hash_appears_in_logs_events_reprs_or_errors(
    make: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    manager = make(retry_window="5s")
    events = _events(manager)
    caught: list[str] = []
    with caplog.at_level(logging.DEBUG, logger="refreshkit"):
        pair = manager.issue("alice", device="phone-secret-id")
        later = manager.refresh(pair.refresh_token, device="phone-secret-id")
        manager.refresh(pair.refresh_token, device="phone-secret-id")
        manager.clock.advance(10)
        for attempt in (pair.refresh_token, later.refresh_token, pair.access_token + "x"):
            for call in (manager.refresh, manager.verify_access):
                try:
                    call(attempt, device="phone-secret-id")
                except Exception as exc:
                    caught.append(f"{exc!r} {exc}")
    from refreshkit import _tokens

    secrets = {pair.refresh_token, later.refresh_token, pair.access_token, later.access_token}
    for token in (pair.refresh_token, later.refresh_token):
        _, secret_hash = _tokens.parse_refresh_token(token)
        secrets |= {token.split(".")[1], secret_hash}
    secrets |= {"phone-secret-id", _tokens.hash_device("phone-secret-id")}
    texts = [caplog.text, *caught, repr(pair), repr(later), *map(repr, events), repr(manager)]
    texts += [repr(s) for s in manager.sessions("alice")]
    for text in texts:
        for secret in secrets:
            assert secret not in text


_URL_PASSWORD = "Pw-0f-the-St0re"


@pytest.mark.parametrize(
    ("driver", "url"),
    [
        ("psycopg", f"postgresql+psycopg://app:{_URL_PASSWORD}@127.0.0.1:1/tokens"),
        ("redis", f"redis://:{_URL_PASSWORD}@127.0.0.1:1/0"),
        ("redis", f"redis://127.0.0.1:1/0?password={_URL_PASSWORD}"),
    ],
)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_the_store_urls_password_never_appears_in_reprs_logs_or_errors(
    flavour: str, driver: str, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing listens on port 1: every store call fails, and says so without the URL."""
    pytest.importorskip(driver)
    settings = Settings(store_url=url)
    texts = [repr(settings), str(settings)]
    with caplog.at_level(logging.DEBUG):
        for attempt in (
            lambda: settings.replace(access_ttl="soon"),
            lambda: Settings(store_url=url, max_sessions=0),
            lambda: TokenManager(
                settings.replace(store_url="nosuch" + url[url.index("://") :]),
                keys=KeySet.generate(),
            ),
        ):
            with pytest.raises(RefreshKitError) as refused:
                attempt()
            texts += _error_texts(refused.value)
        if flavour == "sync":
            with TokenManager(settings, keys=KeySet.generate()) as manager:
                texts += [repr(manager), repr(manager.settings), repr(manager.store)]
                with pytest.raises(StoreError) as outage:
                    manager.issue("alice")
        else:

            async def fail_once() -> None:
                async with AsyncTokenManager(settings, keys=KeySet.generate()) as manager:
                    texts.extend([repr(manager), repr(manager.settings), repr(manager.store)])
                    await manager.issue("alice")

            with pytest.raises(StoreError) as outage:
                asyncio.run(fail_once())
        texts += _error_texts(outage.value)
    texts.append(caplog.text)
    for text in texts:
        assert _URL_PASSWORD not in text


def _error_texts(error: BaseException | None) -> list[str]:
    """``str`` and ``repr`` of an error and of every error it was raised from."""
    texts: list[str] = []
    while error is not None:
        texts += [str(error), repr(error)]
        error = error.__cause__ or error.__context__
    return texts


def test_sync_and_async_managers_close_stores_they_opened() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with TokenManager(keys=KeySet.generate()) as manager:
            assert isinstance(manager.store, MemoryStore)
    assert any("in-memory store" in str(w.message) for w in caught)
    store = MemoryStore()
    with TokenManager(keys=KeySet.generate(), store=store) as manager:
        assert manager.store is store


async def test_async_manager_is_an_async_context_manager() -> None:
    async with AsyncTokenManager(
        Settings(store_url="memory://"), keys=KeySet.generate(), store="memory://"
    ) as manager:
        pair = await manager.issue("alice")
        assert (await manager.refresh(pair.refresh_token)).subject == "alice"


def test_frozen_clock_only_moves_forward() -> None:
    clock = FrozenClock()
    start = clock.now()
    assert clock.advance(timedelta(seconds=5)) == start + timedelta(seconds=5)
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="past"):
        clock.set(start)


class _ResendingStore(MemoryStore):
    """Applies each update, 'loses' the reply, and answers what the resent command gets.

    This is what a client library that retries after a connection error does.
    """

    def compare_and_set(self, update: Any) -> Any:
        super().compare_and_set(update)
        return super().compare_and_set(update)


class _AsyncResendingStore(AsyncMemoryStore):
    async def compare_and_set(self, update: Any) -> Any:
        await super().compare_and_set(update)
        return await super().compare_and_set(update)


def test_a_refresh_resent_after_a_lost_reply_succeeds_instead_of_looking_like_reuse() -> None:
    manager = TokenManager(keys=KeySet.generate(), store=_ResendingStore(), clock=FrozenClock())
    first = manager.issue("alice")
    second = manager.refresh(first.refresh_token)
    assert manager.refresh(second.refresh_token).sid == first.sid
    with pytest.raises(TokenReuseError):
        manager.refresh(first.refresh_token)


async def test_an_async_refresh_resent_after_a_lost_reply_succeeds() -> None:
    manager = AsyncTokenManager(
        keys=KeySet.generate(), store=_AsyncResendingStore(), clock=FrozenClock()
    )
    first = await manager.issue("alice")
    second = await manager.refresh(first.refresh_token)
    assert (await manager.refresh(second.refresh_token)).sid == first.sid


def test_strict_rotation_still_recognises_a_resent_request_as_itself() -> None:
    """With no retry window, the redis-py resend of one request is not reuse (its own successor)."""
    manager = TokenManager(
        Settings(retry_window="0s"),  # type: ignore[arg-type]
        keys=KeySet.generate(),
        store=_ResendingStore(),
        clock=FrozenClock(),
    )
    first = manager.issue("alice")
    second = manager.refresh(first.refresh_token)
    assert manager.refresh(second.refresh_token).sid == first.sid
