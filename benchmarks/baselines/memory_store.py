"""A dict of refresh tokens behind a lock: the in-process baseline."""

from __future__ import annotations

import threading

from .tokens import same_hash


class MemoryTokens:
    """token key -> [subject, secret hash, expires, used]."""

    def __init__(self) -> None:
        self._tokens: dict[str, list[object]] = {}
        self._lock = threading.Lock()

    def create(
        self, family: str, subject: str, token_id: str, secret_hash: str, expires: float
    ) -> None:
        with self._lock:
            self._tokens[f"{family}.{token_id}"] = [subject, secret_hash, expires, False]

    def rotate(
        self,
        family: str,
        token_id: str,
        presented: str,
        new_id: str,
        new_hash: str,
        now: float,
        expires: float,
    ) -> str | None:
        with self._lock:
            entry = self._tokens.get(f"{family}.{token_id}")
            if entry is None or entry[3] or entry[2] <= now or not same_hash(entry[1], presented):  # type: ignore[operator,arg-type]
                return None
            entry[3] = True
            self._tokens[f"{family}.{new_id}"] = [entry[0], new_hash, expires, False]
            return entry[0]  # type: ignore[return-value]


class AsyncMemoryTokens(MemoryTokens):
    """The same dict, awaited (nothing inside awaits, so the lock is safe)."""

    async def create(self, *args: object) -> None:  # type: ignore[override]
        MemoryTokens.create(self, *args)  # type: ignore[arg-type]

    async def rotate(self, *args: object) -> str | None:  # type: ignore[override]
        return MemoryTokens.rotate(self, *args)  # type: ignore[arg-type]
