"""The application's refresh-time check: what it sees, what it may answer, how it is called.

An application registers one check on a manager (``refresh_check=`` or
:meth:`~refreshkit.TokenManager.on_refresh`). The manager calls it with a
:class:`RefreshContext` before it hands out a new access token: on a
rotation (before the store's compare-and-set, so a refusal writes nothing
and leaves the presented token usable) and on a retry within the window
(the same successor is handed out again only if the check still allows it).
The check returns None (allow, unchanged), a :class:`RefreshGrant` (allow,
with other claims or scope for the new access token), or raises
:class:`~refreshkit.errors.RefreshRefused`. Anything else it raises becomes a
:class:`~refreshkit.errors.RefreshCheckError`, a server error: a failing
check never passes silently and never looks like a bad token.

:class:`AsyncCheckRunner` is the source of :class:`CheckRunner`: the async
manager accepts a sync or an async check; the sync manager a sync one.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .errors import RefreshCheckError, RefreshRefused
from .models import Session

__all__ = [
    "AsyncCheckRunner",
    "AsyncRefreshCheck",
    "CheckRunner",
    "RefreshCheck",
    "RefreshContext",
    "RefreshGrant",
]


@dataclass(frozen=True, slots=True)
class RefreshContext:
    """What a refresh check is told: the session, who it belongs to, and this refresh.

    ``session`` is the stored session (its ``claims``, ``scope``,
    ``client_id``, ``created_at``, ...) as the refresh found it; its secrets
    are not in its ``repr``. ``scope`` is the scope the new access token
    would carry (the grant, or what the client narrowed it to). ``replay``
    is True for a retry within the window, which hands out the successor
    already minted. ``at`` is the manager's clock.
    """

    session: Session
    client_id: str | None
    scope: str | None
    replay: bool
    at: datetime

    @property
    def subject(self) -> str:
        """The session's subject: the user whose refresh this is."""
        return self.session.subject

    @property
    def sid(self) -> str:
        """The session's id."""
        return self.session.sid


@dataclass(frozen=True, slots=True)
class RefreshGrant:
    """A check's answer that allows the refresh with other contents for the new access token.

    ``claims`` are merged over the session's own claims in this access token
    only (a value of None drops that claim); they may not set a reserved
    claim. ``scope`` (a string or an iterable of scopes) replaces the
    token's scope; it must lie within the session's grant unless
    ``allow_wider_scope`` is True. The session itself is not changed: the
    next refresh starts from the session again, and the check runs again.
    """

    claims: Mapping[str, Any] | None = field(default=None)
    scope: str | Iterable[str] | None = None
    allow_wider_scope: bool = False


#: A check for :class:`~refreshkit.TokenManager`: called with the context, returns
#: None or a :class:`RefreshGrant`, or raises :class:`~refreshkit.errors.RefreshRefused`.
RefreshCheck = Callable[[RefreshContext], "RefreshGrant | None"]
#: A check for :class:`~refreshkit.AsyncTokenManager`: as :data:`RefreshCheck`,
#: or a coroutine function answering the same.
AsyncRefreshCheck = Callable[
    [RefreshContext], "RefreshGrant | Awaitable[RefreshGrant | None] | None"
]


def _failed(exc: BaseException) -> RefreshCheckError:
    # The exception's text may hold anything the application had at hand:
    # only its type is named, and it stays reachable as ``__cause__``.
    return RefreshCheckError(f"the refresh check raised {type(exc).__name__}")


def _answer(decision: object) -> RefreshGrant | None:
    if decision is None or isinstance(decision, RefreshGrant):
        return decision
    raise RefreshCheckError(
        f"a refresh check must return None or a RefreshGrant, not {type(decision).__name__}"
    )


class AsyncCheckRunner:
    """Calls an application's refresh check for the async manager (sync or async check)."""

    @staticmethod
    async def run(check: AsyncRefreshCheck, context: RefreshContext) -> RefreshGrant | None:
        """The check's answer. Raises :class:`RefreshRefused` or :class:`RefreshCheckError`."""
        try:
            decision: Any = check(context)
            if inspect.isawaitable(decision):
                decision = await decision
        except RefreshRefused:
            raise
        except Exception as exc:
            raise _failed(exc) from exc
        return _answer(decision)


class CheckRunner:
    """Calls an application's refresh check for the sync manager (a sync check only)."""

    @staticmethod
    def run(check: RefreshCheck, context: RefreshContext) -> RefreshGrant | None:
        """The check's answer. Raises :class:`RefreshRefused` or :class:`RefreshCheckError`."""
        try:
            decision: Any = check(context)
        except RefreshRefused:
            raise
        except Exception as exc:
            raise _failed(exc) from exc
        if inspect.isawaitable(decision):
            if inspect.iscoroutine(decision):
                decision.close()  # never awaited: no "was never awaited" warning
            raise RefreshCheckError("an async refresh check needs the AsyncTokenManager")
        return _answer(decision)
