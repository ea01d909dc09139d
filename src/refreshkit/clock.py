"""Time, injected: the manager owns a :class:`Clock` and passes ``now`` down.

Nothing else in refreshkit reads the system time, so every rule is testable
without sleeping: tests :meth:`FrozenClock.advance` instead.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "FrozenClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Anything that tells the current time as an aware UTC :class:`~datetime.datetime`."""

    def now(self) -> datetime:
        """Return the current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The real wall clock (UTC)."""

    def now(self) -> datetime:
        """Return :meth:`datetime.datetime.now` in UTC."""
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


class FrozenClock:
    """A clock that only moves when told to, for tests and simulations.

    Thread-safe, so race tests can share one.
    """

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2030, 1, 1, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Return the frozen instant."""
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | float) -> datetime:
        """Move time forward by ``delta`` (a timedelta or seconds) and return the new instant."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        if step < timedelta(0):
            raise ValueError("time only moves forward")
        with self._lock:
            self._now += step
            return self._now

    def set(self, instant: datetime) -> None:
        """Jump to ``instant`` (aware, not before the current time)."""
        with self._lock:
            if instant.tzinfo is None or instant < self._now:
                raise ValueError("set() takes an aware datetime not in the past")
            self._now = instant.astimezone(UTC)

    def __repr__(self) -> str:
        return f"FrozenClock({self._now.isoformat()})"
