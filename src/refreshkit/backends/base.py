"""The store contract: what every backend guarantees, sync and async.

A store keeps sessions (each holding its own token state, secret hashes
only) and the access denylist. It decides nothing. The policy expresses
every change to a session as a :class:`~refreshkit.models.SessionUpdate`:
*apply these changes only if the stored session passes these checks*, and a
store applies it atomically with :meth:`~refreshkit.TokenStore.compare_and_set`
and reports the session it left (or found). What the checks and changes mean
is defined once, here, by :func:`~refreshkit.backends.base.check_holds` and
:func:`~refreshkit.backends.base.apply_update`; a store evaluates them in its
own language (a ``WHERE`` clause, a Lua script, a lock) and the conformance
suite holds it to these two functions.

The guarantees, held by :class:`refreshkit.testing.AsyncStoreConformance` /
:class:`refreshkit.testing.StoreConformance`:

* **Atomic compare-and-set.** Under any concurrency, an update is applied
  only to a session that passes all its checks at that instant, and two
  updates of one session never interleave: of many racing updates that check
  the same token, exactly one applies.
* **One round trip** for an applied update where the backend allows it (one
  script call, one statement, one transaction); the session it reports is
  the one it wrote, so the caller needs no second read.
* **Opaque values.** Every field is stored and returned exactly as given
  (hashes, the sealed successor, claims), by every read.
* **No clock.** Every time a store needs is passed in; expiry in Redis uses
  absolute ``PEXPIREAT``, at the session's :attr:`~refreshkit.models.Session.expires_at`.
* **Bounded.** A session takes the same storage after one update as after a
  thousand: nothing accumulates per refresh.
* **Expired state disappears**: by TTL, by :meth:`~refreshkit.TokenStore.purge_expired`,
  or lazily. A store may keep an expired session until then, and must report
  it as stored.
* **Outages are StoreError.** A failing or unreachable backend raises
  :class:`refreshkit.errors.StoreError` (cause chained), never a token error,
  and leaves the previous state intact: no partial writes. A write whose
  reply was lost may have been applied; the policy makes the retry safe.
* Times round-trip with at least microsecond precision, timezone-aware (UTC).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Protocol, runtime_checkable

from ..models import (
    CHECKABLE_FIELDS,
    COUNTER_FIELDS,
    MUTABLE_FIELDS,
    AccessCheck,
    Check,
    CheckOp,
    Session,
    SessionUpdate,
    SubjectCutoff,
    UpdateResult,
)

__all__ = [
    "AsyncTokenStore",
    "TokenStore",
    "apply_update",
    "check_holds",
    "validate_update",
]


def check_holds(check: Check, session: Session) -> bool:
    """Whether the stored ``session`` passes ``check``.

    The meaning of every :class:`~refreshkit.models.CheckOp`. A value that is
    unset (None) is never AFTER or BELOW anything.
    """
    stored = getattr(session, check.field)
    if check.op is CheckOp.EQUALS:
        return bool(stored == check.value)
    if check.op is CheckOp.UNSET_OR_EQUALS:
        return stored is None or bool(stored == check.value)
    if stored is None or check.value is None:
        return False
    if check.op is CheckOp.AFTER:
        return bool(stored > check.value)
    return bool(stored < check.value)


def apply_update(session: Session | None, update: SessionUpdate) -> UpdateResult:
    """What :meth:`~refreshkit.TokenStore.compare_and_set` must give for ``session`` as stored.

    The reference a store is held to: the memory store applies this under its
    lock, and the conformance suite compares every other store with it.
    """
    if session is None:
        return UpdateResult(False, None)
    for check in update.checks:
        if not check_holds(check, session):
            return UpdateResult(False, session)
    changes = dict(update.changes)
    for name in update.increments:
        changes[name] = int(changes.get(name, getattr(session, name))) + 1
    return UpdateResult(True, dataclasses.replace(session, **changes))  # type: ignore[arg-type]


def validate_update(update: SessionUpdate) -> None:
    """Refuse an update naming a field outside the contract (:class:`ValueError`).

    Stores call it before translating an update, so a typo in a new policy
    rule fails loudly in every backend's tests rather than writing nowhere.
    """
    if (
        CHECKABLE_FIELDS.issuperset([c.field for c in update.checks])
        and MUTABLE_FIELDS.issuperset(update.changes)
        and COUNTER_FIELDS.issuperset(update.increments)
    ):
        return
    unknown = {c.field for c in update.checks} - CHECKABLE_FIELDS
    unknown |= set(update.changes) - MUTABLE_FIELDS
    unknown |= set(update.increments) - COUNTER_FIELDS
    if unknown:
        raise ValueError(f"not a field a session update may use: {', '.join(sorted(unknown))}")


@runtime_checkable
class AsyncTokenStore(Protocol):
    """An asynchronous token store; see the module docstring for the guarantees."""

    async def create_session(self, session: Session) -> None:
        """Store a new session (its first token's hash included)."""
        ...

    async def compare_and_set(self, update: SessionUpdate) -> UpdateResult:
        """Apply ``update`` atomically, as :func:`~refreshkit.backends.base.apply_update` defines.

        The changes are written only if session ``update.sid`` exists and
        passes every check; the result carries the session as written, or as
        found when nothing was applied (None when there is no such session).
        """
        ...

    async def get_session(self, sid: str) -> Session | None:
        """The session, or None if unknown (never stored, or purged)."""
        ...

    async def list_sessions(self, subject: str) -> list[Session]:
        """Every stored session of ``subject``, live or not, in any order."""
        ...

    async def revoke_subject(self, subject: str, now: datetime, reason: str) -> int:
        """Revoke every unrevoked session of ``subject``; returns how many this call revoked.

        Each session gets ``revoked_at=now`` and ``revoked_reason=reason``
        unless already revoked (its first revocation is kept): for each
        session, the compare-and-set ``revoked_at EQUALS None`` -> those two
        changes, in one call however many sessions there are.
        """
        ...

    async def deny_access(self, jti: str, until: datetime) -> None:
        """Deny the access token ``jti`` until ``until`` (its expiry)."""
        ...

    async def check_access(
        self, jti: str, sid: str, now: datetime, subject: str | None = None
    ) -> AccessCheck:
        """Is ``jti`` denied at ``now``, what is the session's state, and (given
        ``subject``) the ``before`` of the subject's cutoff."""
        ...

    async def record_cutoff(self, cutoff: SubjectCutoff) -> SubjectCutoff:
        """Store ``cutoff`` unless the subject's stored one is as late or later; return the stored.

        Monotonic: a cutoff only ever moves later, with its reason and time.
        """
        ...

    async def get_cutoff(self, subject: str) -> SubjectCutoff | None:
        """The subject's cutoff, or None."""
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

    def create_session(self, session: Session) -> None:
        """Store a new session (its first token's hash included)."""
        ...

    def compare_and_set(self, update: SessionUpdate) -> UpdateResult:
        """Apply ``update`` atomically; see :func:`~refreshkit.backends.base.apply_update`."""
        ...

    def get_session(self, sid: str) -> Session | None:
        """The session, or None if unknown (never stored, or purged)."""
        ...

    def list_sessions(self, subject: str) -> list[Session]:
        """Every stored session of ``subject``, live or not, in any order."""
        ...

    def revoke_subject(self, subject: str, now: datetime, reason: str) -> int:
        """Revoke every session of ``subject``; returns how many this call revoked."""
        ...

    def deny_access(self, jti: str, until: datetime) -> None:
        """Deny the access token ``jti`` until ``until``."""
        ...

    def check_access(
        self, jti: str, sid: str, now: datetime, subject: str | None = None
    ) -> AccessCheck:
        """Is ``jti`` denied at ``now``, the session's state, and ``subject``'s cutoff."""
        ...

    def record_cutoff(self, cutoff: SubjectCutoff) -> SubjectCutoff:
        """Store ``cutoff`` unless a later one is stored; return the stored one."""
        ...

    def get_cutoff(self, subject: str) -> SubjectCutoff | None:
        """The subject's cutoff, or None."""
        ...

    def purge_expired(self, now: datetime, batch_size: int = 1000) -> int:
        """Delete expired sessions and denials in batches; returns sessions deleted."""
        ...

    def close(self) -> None:
        """Release connections the store opened itself."""
        ...
