"""The store contract: what every backend guarantees, sync and async.

A store keeps sessions, refresh records (secret hashes only) and the access
denylist. It decides nothing: :meth:`AsyncTokenStore.consume` applies
:func:`refreshkit._policy.transition` atomically and reports the result, and
every other method reports or writes state. The guarantees, held by
:class:`refreshkit.testing.AsyncStoreConformance` /
:class:`refreshkit.testing.StoreConformance`:

* **Atomic consume.** Under any concurrency a record is consumed at most
  once, and the successor is stored in the same atomic step, together with
  the request's ``sealed_successor`` as the session's.
* **A retry writes nothing.** The newest token's predecessor, consumed after
  ``request.retry_since``, is ``REPLAYED``: the record and session are
  reported as found (their ``sealed_successor`` included) and nothing is
  written, so every retry of one token gets the one successor back.
* **Opaque seals.** ``Session.sealed_successor`` is stored and returned
  exactly as given, by every read; a store never interprets it.
* **No clock.** Every time a store needs is passed in (``now``); expiry in
  Redis uses absolute ``PEXPIREAT``.
* **Monotonic, idempotent revocation.** A revoked session stays revoked; its
  first ``revoked_at`` and reason are kept.
* **Expired state disappears**: by TTL, by :meth:`purge_expired`, or lazily.
  A store may keep an expired session until then, and must report it as stored.
* **Outages are StoreError.** A failing or unreachable backend raises
  :class:`refreshkit.errors.StoreError` (cause chained), never a token error,
  and leaves the previous state intact: no partial writes.
* Times round-trip with at least microsecond precision, timezone-aware (UTC).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from ..models import AccessCheck, ConsumeRequest, ConsumeResult, RefreshRecord, Session, TokenState

__all__ = ["AsyncTokenStore", "TokenStore"]


@runtime_checkable
class AsyncTokenStore(Protocol):
    """An asynchronous token store; see the module docstring for the guarantees."""

    async def create_session(self, session: Session, record: RefreshRecord) -> None:
        """Store a new session with its first refresh record, atomically."""
        ...

    async def consume(self, request: ConsumeRequest) -> ConsumeResult:
        """Apply :func:`refreshkit._policy.transition` to the token's record and session.

        One atomic step (and, where the backend allows, one round trip): read
        the record named by ``request.token_id`` and its session, compute the
        transition, and store all of it (``ROTATED``: the consumed record, the
        successor and the session with ``request.sealed_successor``;
        ``REUSED``: the counted use and the slid session) or nothing
        (``REPLAYED`` and ``REJECTED``: the state as found).
        """
        ...

    async def find(self, token_id: str) -> TokenState | None:
        """The record and its session, or None if either is unknown."""
        ...

    async def get_session(self, sid: str) -> Session | None:
        """The session, or None if unknown (never stored, or purged)."""
        ...

    async def list_sessions(self, subject: str) -> list[Session]:
        """Every stored session of ``subject``, live or not, in any order."""
        ...

    async def revoke_session(self, sid: str, now: datetime, reason: str) -> bool:
        """Mark the session revoked; True if this call revoked it (False: unknown or already)."""
        ...

    async def revoke_subject(self, subject: str, now: datetime, reason: str) -> int:
        """Revoke every session of ``subject``; returns how many this call revoked."""
        ...

    async def deny_access(self, jti: str, until: datetime) -> None:
        """Deny the access token ``jti`` until ``until`` (its expiry)."""
        ...

    async def check_access(self, jti: str, sid: str, now: datetime) -> AccessCheck:
        """Is ``jti`` denied at ``now``, and what is the session's state."""
        ...

    async def purge_expired(self, now: datetime, batch_size: int = 1000) -> int:
        """Delete sessions (and their records) expired before ``now``, and expired denials.

        Works in batches of ``batch_size`` so no lock is held long; returns the
        number of sessions deleted.
        """
        ...

    async def aclose(self) -> None:
        """Release connections the store opened itself (not ones it was given)."""
        ...


@runtime_checkable
class TokenStore(Protocol):
    """A synchronous token store; the same contract as :class:`AsyncTokenStore`."""

    def create_session(self, session: Session, record: RefreshRecord) -> None:
        """Store a new session with its first refresh record, atomically."""
        ...

    def consume(self, request: ConsumeRequest) -> ConsumeResult:
        """Apply :func:`refreshkit._policy.transition` atomically; see the async twin."""
        ...

    def find(self, token_id: str) -> TokenState | None:
        """The record and its session, or None if either is unknown."""
        ...

    def get_session(self, sid: str) -> Session | None:
        """The session, or None if unknown (never stored, or purged)."""
        ...

    def list_sessions(self, subject: str) -> list[Session]:
        """Every stored session of ``subject``, live or not, in any order."""
        ...

    def revoke_session(self, sid: str, now: datetime, reason: str) -> bool:
        """Mark the session revoked; True if this call revoked it."""
        ...

    def revoke_subject(self, subject: str, now: datetime, reason: str) -> int:
        """Revoke every session of ``subject``; returns how many this call revoked."""
        ...

    def deny_access(self, jti: str, until: datetime) -> None:
        """Deny the access token ``jti`` until ``until``."""
        ...

    def check_access(self, jti: str, sid: str, now: datetime) -> AccessCheck:
        """Is ``jti`` denied at ``now``, and what is the session's state."""
        ...

    def purge_expired(self, now: datetime, batch_size: int = 1000) -> int:
        """Delete expired sessions and denials in batches; returns sessions deleted."""
        ...

    def close(self) -> None:
        """Release connections the store opened itself."""
        ...
