"""Django signals: one per refreshkit event, sent by both managers, never carrying a secret."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.dispatch import Signal

from refreshkit import Event, FrozenClock
from refreshkit.adapters.django import conf, signals
from refreshkit.errors import TokenReuseError
from refreshkit.events import EVENT_NAMES

pytestmark = pytest.mark.django

Heard = list[tuple[str, Event]]


@pytest.fixture
def heard() -> Iterator[Heard]:
    """Every refreshkit signal sent during the test, in order, as (signal name, event)."""
    events: Heard = []
    receivers: list[tuple[Signal, Callable[..., None]]] = []
    for name, signal in signals.SIGNALS.items():

        def receive(sender: Any, event: Event, _name: str = name, **_: Any) -> None:
            assert sender is Event
            events.append((_name, event))

        signal.connect(receive, weak=False)
        receivers.append((signal, receive))
    yield events
    for signal, receive in receivers:
        signal.disconnect(receive)


def test_every_event_has_a_signal_of_its_name() -> None:
    assert set(signals.SIGNALS) == set(EVENT_NAMES)
    assert all(getattr(signals, name) is signals.SIGNALS[name] for name in EVENT_NAMES)


def test_a_login_and_a_refresh_send_issued_then_refreshed_for_the_session(heard: Heard) -> None:
    pair = conf.get_manager().issue("alice")
    conf.get_manager().refresh(pair.refresh_token)
    assert [name for name, _ in heard] == ["issued", "refreshed"]
    assert all(event.subject == "alice" and event.sid == pair.sid for _, event in heard)


def test_a_retried_refresh_sends_retry_replayed(heard: Heard) -> None:
    pair = conf.get_manager().issue("alice")
    conf.get_manager().refresh(pair.refresh_token)
    conf.get_manager().refresh(pair.refresh_token)  # the same request again, at once
    assert [name for name, _ in heard] == ["issued", "refreshed", "retry_replayed"]


def test_reusing_a_rotated_token_sends_reuse_detected_and_revoked(heard: Heard) -> None:
    manager = conf.get_manager()
    manager.clock = clock = FrozenClock()
    pair = manager.issue("alice")
    manager.refresh(pair.refresh_token)
    clock.advance(manager.settings.retry_window + timedelta(seconds=1))
    with pytest.raises(TokenReuseError):
        manager.refresh(pair.refresh_token)
    names = [name for name, _ in heard]
    assert "reuse_detected" in names and "revoked" in names
    assert names.index("reuse_detected") < names.index("revoked")


def test_no_signal_carries_a_token(heard: Heard) -> None:
    manager = conf.get_manager()
    pair = manager.issue("alice", scope="profile")
    second = manager.refresh(pair.refresh_token)
    manager.revoke_session(pair.sid)
    secrets = {pair.refresh_token, pair.access_token, second.refresh_token, second.access_token}
    assert heard
    for _, event in heard:
        text = repr(event)
        assert not any(secret in text for secret in secrets)


async def test_the_async_manager_sends_the_same_signals(heard: Heard) -> None:
    manager = conf.get_async_manager()
    pair = await manager.issue("bob")
    await manager.refresh(pair.refresh_token)
    assert [(name, event.subject) for name, event in heard] == [
        ("issued", "bob"),
        ("refreshed", "bob"),
    ]


def test_signals_still_arrive_after_the_settings_change(
    heard: Heard, refreshkit_settings: Callable[..., None]
) -> None:
    refreshkit_settings(issuer="https://other.example")  # a new manager is built
    conf.get_manager().issue("alice")
    assert [name for name, _ in heard] == ["issued"]


def test_a_failing_receiver_is_logged_and_the_others_still_hear(
    heard: Heard, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(sender: Any, **_: Any) -> None:
        raise RuntimeError("receiver bug")

    signals.issued.connect(broken, weak=False)
    try:
        with caplog.at_level(logging.ERROR, logger="refreshkit"):
            pair = conf.get_manager().issue("alice")
    finally:
        signals.issued.disconnect(broken)
    assert pair.access_token  # the login itself went through
    assert [name for name, _ in heard] == ["issued"]
    assert "receiver" in caplog.text and "receiver bug" in caplog.text
