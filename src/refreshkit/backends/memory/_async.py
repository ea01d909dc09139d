"""The in-process memory store, async flavour (the sync twin is generated).

For tests, demos and single-process apps: state lives in this process only.
"""

from __future__ import annotations

from datetime import datetime

from ...models import AccessCheck, Session, SessionUpdate, SubjectCutoff, UpdateResult
from ._state import MemoryState

__all__ = ["AsyncMemoryStore"]


class AsyncMemoryStore:
    """A thread-safe in-memory token store.

    Pass a shared :class:`MemoryState` to let a sync and an async store see
    the same data.
    """

    def __init__(self, state: MemoryState | None = None) -> None:
        self.state: MemoryState = state if state is not None else MemoryState()

    async def create_session(self, session: Session) -> None:
        """Store a new session."""
        self.state.create_session(session)

    async def compare_and_set(self, update: SessionUpdate) -> UpdateResult:
        """Apply ``update`` under the state's lock."""
        return self.state.compare_and_set(update)

    async def get_session(self, sid: str) -> Session | None:
        """The session, or None."""
        return self.state.get_session(sid)

    async def list_sessions(self, subject: str) -> list[Session]:
        """Every stored session of ``subject``."""
        return self.state.list_sessions(subject)

    async def revoke_subject(self, subject: str, now: datetime, reason: str) -> int:
        """Revoke every session of ``subject``."""
        return self.state.revoke_subject(subject, now, reason)

    async def deny_access(self, jti: str, until: datetime) -> None:
        """Deny an access token until its expiry."""
        self.state.deny_access(jti, until)

    async def check_access(
        self, jti: str, sid: str, now: datetime, subject: str | None = None
    ) -> AccessCheck:
        """Denial, session state and the subject's cutoff for an online check."""
        return self.state.check_access(jti, sid, now, subject)

    async def record_cutoff(self, cutoff: SubjectCutoff) -> SubjectCutoff:
        """Keep the later of the stored and the given cutoff; return it."""
        return self.state.record_cutoff(cutoff)

    async def get_cutoff(self, subject: str) -> SubjectCutoff | None:
        """The subject's cutoff, or None."""
        return self.state.get_cutoff(subject)

    async def purge_expired(self, now: datetime, batch_size: int = 1000) -> int:
        """Drop expired sessions and expired denials."""
        return self.state.purge_expired(now, batch_size)

    async def aclose(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(sessions={len(self.state)})"
