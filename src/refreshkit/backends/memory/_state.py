"""The memory backend's shared state: plain dicts behind one lock.

Both the async and the sync store wrap one :class:`MemoryState`; nothing in
it awaits, so holding a :class:`threading.Lock` is safe on an event loop and
makes every operation atomic across threads too. Expired entries go lazily:
a sweep after every ``max(sweep_every, number of sessions)`` writes, so its
cost per write stays constant, and :meth:`purge_expired` on demand.
"""

from __future__ import annotations

import threading
from datetime import datetime

from ... import _policy
from ...models import AccessCheck, Session, SessionUpdate, SubjectCutoff, UpdateResult
from ..base import apply_update, validate_update

__all__ = ["MemoryState"]


class MemoryState:
    """Sessions and denials of one process."""

    def __init__(self, *, sweep_every: int = 1024) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._sessions_of: dict[str, set[str]] = {}
        self._denied: dict[str, datetime] = {}
        self._cutoffs: dict[str, SubjectCutoff] = {}
        self._sweep_every = sweep_every
        self._writes = 0

    def create_session(self, session: Session) -> None:
        with self._lock:
            self._sessions[session.sid] = session
            self._sessions_of.setdefault(session.subject, set()).add(session.sid)
            self._wrote(session.created_at)

    def compare_and_set(self, update: SessionUpdate) -> UpdateResult:
        """:func:`~refreshkit.backends.base.apply_update` under the lock; stores what it applied."""
        validate_update(update)
        with self._lock:
            result = apply_update(self._sessions.get(update.sid), update)
            if result.applied and result.session is not None:
                self._sessions[update.sid] = result.session
            return result

    def get_session(self, sid: str) -> Session | None:
        with self._lock:
            return self._sessions.get(sid)

    def list_sessions(self, subject: str) -> list[Session]:
        with self._lock:
            return [self._sessions[sid] for sid in self._sessions_of.get(subject, ())]

    def revoke_subject(self, subject: str, now: datetime, reason: str) -> int:
        with self._lock:
            revoked = 0
            for sid in self._sessions_of.get(subject, ()):
                result = apply_update(self._sessions.get(sid), _policy.revocation(sid, now, reason))
                if result.applied and result.session is not None:
                    self._sessions[sid] = result.session
                    revoked += 1
            return revoked

    def deny_access(self, jti: str, until: datetime) -> None:
        with self._lock:
            self._denied[jti] = max(until, self._denied.get(jti, until))

    def check_access(
        self, jti: str, sid: str, now: datetime, subject: str | None = None
    ) -> AccessCheck:
        with self._lock:
            until = self._denied.get(jti)
            cutoff = self._cutoffs.get(subject) if subject is not None else None
            return AccessCheck(
                until is not None and now < until,
                self._sessions.get(sid),
                cutoff.before if cutoff is not None else None,
            )

    def record_cutoff(self, cutoff: SubjectCutoff) -> SubjectCutoff:
        with self._lock:
            stored = self._cutoffs.get(cutoff.subject)
            if stored is None or stored.before < cutoff.before:
                self._cutoffs[cutoff.subject] = stored = cutoff
            return stored

    def get_cutoff(self, subject: str) -> SubjectCutoff | None:
        with self._lock:
            return self._cutoffs.get(subject)

    def purge_expired(self, now: datetime, batch_size: int = 1000) -> int:
        with self._lock:
            return self._sweep(now)

    def _wrote(self, now: datetime) -> None:
        # Sweep after as many writes as there are sessions (at least sweep_every),
        # so the O(sessions) sweep costs O(1) per write however large the store.
        self._writes += 1
        if self._writes >= max(self._sweep_every, len(self._sessions)):
            self._writes = 0
            self._sweep(now)

    def _sweep(self, now: datetime) -> int:
        expired = [sid for sid, s in self._sessions.items() if s.expires_at <= now]
        for sid in expired:
            session = self._sessions.pop(sid)
            owned = self._sessions_of.get(session.subject)
            if owned is not None:
                owned.discard(sid)
                if not owned:
                    del self._sessions_of[session.subject]
        for jti in [j for j, until in self._denied.items() if until <= now]:
            del self._denied[jti]
        return len(expired)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)
