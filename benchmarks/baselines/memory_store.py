"""A dict of sessions behind a lock: the in-process baseline.

One mutable list per session, checked and updated in place under the lock:
the same fields refreshkit keeps (current and previous token, the seal, the
chain hash, counters, expiries), compared and written the same way.
"""

from __future__ import annotations

import threading

# Slots of a session's list.
SUBJECT, CURRENT, CURRENT_HASH, PREVIOUS, PREVIOUS_HASH, ROTATED = range(6)
SEALED, CHAIN, GENERATION, USES, IDLE, ABSOLUTE, LAST_USED, REVOKED = range(6, 14)


class MemoryTokens:
    """sid -> [subject, current id, its hash, previous id, its hash, rotated at, sealed, ...]."""

    def __init__(self) -> None:
        self._sessions: dict[str, list[object]] = {}
        self._lock = threading.Lock()

    def create(
        self,
        sid: str,
        subject: str,
        token_id: str,
        secret_hash: str,
        chain: str,
        now: int,
        idle: int,
        absolute: int,
    ) -> None:
        row = [subject, token_id, secret_hash, None, None, None, None, chain, 0, 0]
        row += [idle, absolute, now, None]
        with self._lock:
            self._sessions[sid] = row

    def rotate(
        self,
        sid: str,
        token_id: str,
        secret_hash: str,
        new_id: str,
        new_hash: str,
        sealed: str,
        now: int,
        idle: int,
    ) -> tuple[str, int] | None:
        with self._lock:
            row = self._sessions.get(sid)
            if (
                row is None
                or row[CURRENT] != token_id
                or row[CURRENT_HASH] != secret_hash
                or row[REVOKED] is not None
                or row[IDLE] <= now  # type: ignore[operator]
                or row[ABSOLUTE] <= now  # type: ignore[operator]
            ):
                return None
            row[CURRENT:CHAIN] = (new_id, new_hash, token_id, secret_hash, now, sealed)
            row[GENERATION] += 1  # type: ignore[operator]
            row[USES] = 0
            row[IDLE] = idle
            row[LAST_USED] = now
            return row[SUBJECT], row[ABSOLUTE]  # type: ignore[return-value]


class AsyncMemoryTokens(MemoryTokens):
    """The same dict, awaited (nothing inside awaits, so the lock is safe)."""

    async def create(self, *args: object) -> None:  # type: ignore[override]
        MemoryTokens.create(self, *args)  # type: ignore[arg-type]

    async def rotate(self, *args: object) -> tuple[str, int] | None:  # type: ignore[override]
        return MemoryTokens.rotate(self, *args)  # type: ignore[arg-type]
