"""The hand-written login and refresh over a baseline store: the same work as refreshkit's.

A refresh parses the presented token once, mints the successor (same chain
key), seals it under the presented secret, makes ONE conditional write on the
store (the session row/hash is updated only if the presented token is its
current one, unrevoked and unexpired) and signs an access token. Times are
integer microseconds since the epoch. A store offers::

    create(sid, subject, token_id, secret_hash, chain_hash, now, idle, absolute) -> None
    rotate(sid, token_id, secret_hash, new_id, new_hash, sealed, now, idle)
        -> (subject, absolute_expires_us) when rotated, None when refused
"""

from __future__ import annotations

import time
from typing import Any

from .tokens import ABSOLUTE_TTL, ACCESS_TTL, IDLE_TTL, AccessTokens, mint, new_session_token
from .tokens import parse as parse_refresh
from .tokens import seal as seal_successor

_S = 1_000_000


class RefusedError(Exception):
    """The presented refresh token is unknown, spent, revoked or expired."""


def _access_expiry(now_s: int, idle_us: int, absolute_us: int) -> int:
    return min(now_s + ACCESS_TTL, idle_us // _S, absolute_us // _S)


class Auth:
    """issue() at login, refresh() at the refresh endpoint: ``(access, refresh)``."""

    def __init__(self, tokens: AccessTokens, store: Any) -> None:
        self.tokens, self.store = tokens, store

    def issue(self, subject: str) -> tuple[str, str]:
        sid, token, token_id, secret_hash, chain = new_session_token()
        now = time.time_ns() // 1000
        idle, absolute = now + IDLE_TTL * _S, now + ABSOLUTE_TTL * _S
        self.store.create(sid, subject, token_id, secret_hash, chain, now, idle, absolute)
        now_s = now // _S
        return self.tokens.sign(subject, sid, now_s, _access_expiry(now_s, idle, absolute)), token

    def refresh(self, refresh_token: str) -> tuple[str, str]:
        presented = parse_refresh(refresh_token)
        successor, new_id, new_hash = mint(presented.sid, presented.chain_key)
        sealed = seal_successor(presented, successor)
        now = time.time_ns() // 1000
        idle = now + IDLE_TTL * _S
        found = self.store.rotate(
            presented.sid,
            presented.token_id,
            presented.secret_hash,
            new_id,
            new_hash,
            sealed,
            now,
            idle,
        )
        if found is None:
            raise RefusedError("invalid_grant")
        subject, absolute = found
        now_s = now // _S
        access = self.tokens.sign(
            subject, presented.sid, now_s, _access_expiry(now_s, idle, absolute)
        )
        return access, successor


class AsyncAuth:
    """The asyncio flavour of :class:`Auth`."""

    def __init__(self, tokens: AccessTokens, store: Any) -> None:
        self.tokens, self.store = tokens, store

    async def issue(self, subject: str) -> tuple[str, str]:
        sid, token, token_id, secret_hash, chain = new_session_token()
        now = time.time_ns() // 1000
        idle, absolute = now + IDLE_TTL * _S, now + ABSOLUTE_TTL * _S
        await self.store.create(sid, subject, token_id, secret_hash, chain, now, idle, absolute)
        now_s = now // _S
        return self.tokens.sign(subject, sid, now_s, _access_expiry(now_s, idle, absolute)), token

    async def refresh(self, refresh_token: str) -> tuple[str, str]:
        presented = parse_refresh(refresh_token)
        successor, new_id, new_hash = mint(presented.sid, presented.chain_key)
        sealed = seal_successor(presented, successor)
        now = time.time_ns() // 1000
        idle = now + IDLE_TTL * _S
        found = await self.store.rotate(
            presented.sid,
            presented.token_id,
            presented.secret_hash,
            new_id,
            new_hash,
            sealed,
            now,
            idle,
        )
        if found is None:
            raise RefusedError("invalid_grant")
        subject, absolute = found
        now_s = now // _S
        access = self.tokens.sign(
            subject, presented.sid, now_s, _access_expiry(now_s, idle, absolute)
        )
        return access, successor
