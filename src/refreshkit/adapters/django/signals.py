"""Django signals for refreshkit's lifecycle events, one per event name.

::

    from django.dispatch import receiver
    from refreshkit.adapters.django.signals import reuse_detected

    @receiver(reuse_detected)
    def alert(sender, event, **kwargs):
        notify_security_team(event.subject, event.sid)

Both managers of ``refreshkit.adapters.django.conf`` emit to one :class:`~refreshkit.EventHooks`;
importing this module (the app's ``ready()`` does) bridges it to these
signals. Each is sent with ``sender=`` :class:`~refreshkit.Event` and one
keyword, ``event``: ids, reasons and small facts, never a token or a secret.
A failing receiver is logged on the ``refreshkit`` logger and the others
still run: observability must not break a login.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from django.dispatch import Signal

from ...events import EVENT_NAMES, Event, logger
from . import conf

__all__ = [
    "SIGNALS",
    "device_mismatch",
    "expired",
    "issued",
    "refresh_refused",
    "refreshed",
    "retry_replayed",
    "reuse_detected",
    "cutoff",
    "revoked",
    "session_ended",
]

#: A session was started (a login).
issued: Signal = Signal()
#: A refresh token was rotated (or reused, without rotation) for a new access token.
refreshed: Signal = Signal()
#: A refresh was retried within the retry window and got the same reply again.
retry_replayed: Signal = Signal()
#: A rotated-away refresh token came back: the session is revoked.
reuse_detected: Signal = Signal()
#: A token was presented from another device than its session's.
device_mismatch: Signal = Signal()
#: A session (or an access token) was revoked; ``event.reason`` says why.
revoked: Signal = Signal()
#: A session reached its idle or absolute lifetime.
expired: Signal = Signal()
#: The application's refresh check refused a refresh; ``event.details`` has its reason.
refresh_refused: Signal = Signal()
#: The user ended one of their sessions (a device list's "sign out", or "sign out
#: other devices"); ``event.reason`` says why.
session_ended: Signal = Signal()
#: A subject's sessions and tokens issued before an instant were cut off
#: (``revoke_subject(..., before=...)``); ``event.reason`` says why.
cutoff: Signal = Signal()

#: Each event name's signal.
SIGNALS: Mapping[str, Signal] = MappingProxyType(
    {
        "issued": issued,
        "refreshed": refreshed,
        "retry_replayed": retry_replayed,
        "reuse_detected": reuse_detected,
        "device_mismatch": device_mismatch,
        "revoked": revoked,
        "expired": expired,
        "refresh_refused": refresh_refused,
        "session_ended": session_ended,
        "cutoff": cutoff,
    }
)
if set(SIGNALS) != set(EVENT_NAMES):  # pragma: no cover - a new event needs its signal
    raise RuntimeError(f"signals and events differ: {sorted(set(SIGNALS) ^ set(EVENT_NAMES))}")


def _send(event: Event) -> None:
    for receiver, outcome in SIGNALS[event.name].send_robust(sender=Event, event=event):
        if isinstance(outcome, Exception):
            logger.error("refreshkit signal receiver %r failed", receiver, exc_info=outcome)


conf.get_hooks().on(None, _send)
