"""Lifecycle events: what happened to a session, for hooks and the ``refreshkit`` logger.

Register a callable with :meth:`EventHooks.on` (or as a decorator); the
manager calls it for every :class:`Event`. Events carry ids and reasons,
never a token, a secret or a hash. A failing hook is logged and ignored:
observability must not break a login.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

__all__ = ["EVENT_NAMES", "Event", "EventHook", "EventHooks", "EventName"]

logger: logging.Logger = logging.getLogger("refreshkit")
# A library stays quiet until the application configures logging.
logger.addHandler(logging.NullHandler())

EventName = Literal[
    "issued",
    "refreshed",
    "retry_replayed",
    "reuse_detected",
    "device_mismatch",
    "revoked",
    "expired",
    "refresh_refused",
    "session_ended",
    "cutoff",
]
EVENT_NAMES: tuple[str, ...] = get_args(EventName)
#: Events that mean something went wrong for the user (logged at WARNING).
_WARNINGS = frozenset({"reuse_detected", "device_mismatch"})


@dataclass(frozen=True, slots=True)
class Event:
    """One lifecycle event.

    ``reason`` says why (e.g. ``"logout"``, ``"reuse"``); ``details`` holds
    small, non-secret facts such as a revoked count.
    """

    name: EventName
    at: datetime
    subject: str | None = None
    sid: str | None = None
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


EventHook = Callable[[Event], object]


class EventHooks:
    """A registry of hooks, per event name or for all events."""

    def __init__(self) -> None:
        self._hooks: dict[str | None, list[EventHook]] = {}
        self._lock = threading.Lock()

    def on(self, name: EventName | None, hook: EventHook | None = None) -> Any:
        """Call ``hook(event)`` for events named ``name`` (None: every event).

        Usable as ``hooks.on("reuse_detected", alert)`` or as a decorator
        ``@hooks.on("reuse_detected")``.
        """
        if name is not None and name not in EVENT_NAMES:
            raise ValueError(f"unknown event {name!r}; one of {', '.join(EVENT_NAMES)}")

        def register(fn: EventHook) -> EventHook:
            with self._lock:
                self._hooks.setdefault(name, []).append(fn)
            return fn

        return register(hook) if hook is not None else register

    def listening(self, name: EventName) -> bool:
        """Whether an event ``name`` would reach a hook or the logger.

        Lets the manager skip building events nobody would see, on hot paths.
        """
        level = logging.WARNING if name in _WARNINGS else logging.INFO
        return bool(self._hooks.get(name) or self._hooks.get(None)) or logger.isEnabledFor(level)

    def emit(self, event: Event) -> None:
        """Log ``event`` and pass it to every matching hook."""
        level = logging.WARNING if event.name in _WARNINGS else logging.INFO
        if logger.isEnabledFor(level):
            logger.log(
                level,
                "%s subject=%s sid=%s reason=%s",
                event.name,
                event.subject,
                event.sid,
                event.reason,
                extra={"refreshkit_event": event.name},
            )
        hooks = self._hooks.get(event.name, []) + self._hooks.get(None, [])
        for hook in hooks:
            try:
                hook(event)
            except Exception:
                logger.exception("refreshkit event hook %r failed", hook)
