"""Where the client keeps its tokens, and the one place refreshes are coordinated.

Single flight lives here, not in an ``httpx.Auth``, so that every client
sharing a holder (sync or async, any thread, any event loop) shares one
refresh at a time. The rule, under one short lock:

* the holder's tokens differ from the ones the caller saw: someone else has
  refreshed already; use the holder's (never refresh again with a refresh
  token that has just been rotated away);
* a refresh is in flight: wait for its outcome;
* otherwise the caller leads: it sends the one refresh request and
  publishes the outcome to every waiter.

Waiting uses a :class:`concurrent.futures.Future`, which a thread can block
on and an asyncio task can await (:func:`asyncio.wrap_future`) alike.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from ..errors import SessionExpiredError
from .tokens import Tokens

__all__ = ["Flight", "RefreshAbandonedError", "TokenHolder"]

#: Called with the new tokens each time they change.
TokensCallback = Callable[[Tokens], object]


class RefreshAbandonedError(Exception):
    """The leading caller was interrupted before the refresh finished: waiters try again.

    Private to the client; never escapes it.
    """


class Flight:
    """One refresh in progress: the tokens it renews and the future of its outcome."""

    __slots__ = ("outcome", "tokens")

    def __init__(self, tokens: Tokens) -> None:
        self.tokens = tokens
        self.outcome: Future[Tokens] = Future()
        # A running future cannot be cancelled, so no waiter can cancel it for the others.
        self.outcome.set_running_or_notify_cancel()


@dataclass(frozen=True, slots=True)
class Claim:
    """What a caller that wants fresh tokens must do: use ``tokens``, lead or wait."""

    tokens: Tokens | None = None
    flight: Flight | None = None
    leader: bool = False


class TokenHolder:
    """The current tokens, shared by every client that uses this holder (thread-safe).

    In memory by default. To persist tokens (a file, the OS keyring, a
    database row), subclass and override :meth:`load`, called once on first
    use, and :meth:`save`, called with every new pair under the holder's
    lock, so saves never interleave. ``on_tokens`` is called after each
    save, also under the lock, e.g. to log or to persist elsewhere.
    Exceptions from :meth:`save` or ``on_tokens`` reach the caller whose
    request caused the refresh; the new tokens are in use regardless.
    """

    def __init__(self, tokens: Tokens | None = None, *, on_tokens: TokensCallback | None = None):
        self._tokens = tokens
        self._loaded = tokens is not None
        self._on_tokens = on_tokens
        self._lock = threading.RLock()
        self._flight: Flight | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._tokens!r})"

    @property
    def tokens(self) -> Tokens | None:
        """The current tokens (loading them with :meth:`load` on first use), or None."""
        if not self._loaded:
            with self._lock:
                if not self._loaded:
                    self._tokens = self.load()
                    self._loaded = True
        return self._tokens

    def update(self, tokens: Tokens) -> None:
        """Replace the tokens (after a login, say): saves them and calls ``on_tokens``.

        Raises whatever :meth:`save` or ``on_tokens`` raise.
        """
        with self._lock:
            self._replace(tokens)

    def load(self) -> Tokens | None:
        """Read saved tokens; called once, on first use. Override to persist; default None."""
        return None

    def save(self, tokens: Tokens) -> None:
        """Persist new tokens; called on every change. Override to persist; default no-op."""

    # ------------------------------------------------------------ single flight

    def _claim_refresh(self, seen: Tokens) -> Claim:
        """Decide, atomically, whether a caller that saw ``seen`` uses, leads or waits.

        Raises :class:`~refreshkit.errors.SessionExpiredError` when the holder is empty.
        """
        with self._lock:
            current = self.tokens
            if current is None:
                raise SessionExpiredError("no tokens to refresh: log in first")
            if current.access_token != seen.access_token:
                return Claim(tokens=current)
            if self._flight is None:
                self._flight = Flight(current)
                return Claim(flight=self._flight, leader=True)
            return Claim(flight=self._flight)

    def _finish_refresh(self, flight: Flight, tokens: Tokens) -> None:
        """Publish a refresh's new tokens: to the holder first, then to every waiter.

        Raises what :meth:`save` or ``on_tokens`` raise (after the waiters
        have their tokens: the refresh itself succeeded).
        """
        try:
            with self._lock:
                if self._flight is flight:
                    self._flight = None
                self._replace(tokens)
        finally:
            flight.outcome.set_result(tokens)

    def _abandon_refresh(self, flight: Flight, error: BaseException) -> None:
        """End a failed refresh: waiters get ``error`` (an Exception) or try again."""
        with self._lock:
            if self._flight is flight:
                self._flight = None
        if not isinstance(error, Exception):
            error = RefreshAbandonedError()
        flight.outcome.set_exception(error)

    def _replace(self, tokens: Tokens) -> None:
        # In use before saving: a failed save must not strand a rotated token.
        self._tokens = tokens
        self._loaded = True
        self.save(tokens)
        if self._on_tokens is not None:
            self._on_tokens(tokens)
