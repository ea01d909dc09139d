"""The hand-written login and refresh: PyJWT access tokens over a baseline store.

A store offers ``create(family, subject, token_id, secret_hash, expires)`` and
``rotate(family, token_id, presented_hash, new_id, new_hash, now, expires)``,
the latter returning the subject when the presented token was current (and is
now consumed), None otherwise. Times are float seconds.
"""

from __future__ import annotations

import secrets
import time
from typing import Any, Protocol

from .tokens import REFRESH_TTL, AccessTokens, new_refresh_token, parse_refresh_token


class Store(Protocol):
    def create(
        self, family: str, subject: str, token_id: str, secret_hash: str, expires: float
    ) -> None: ...
    def rotate(
        self,
        family: str,
        token_id: str,
        presented: str,
        new_id: str,
        new_hash: str,
        now: float,
        expires: float,
    ) -> str | None: ...


class AsyncStore(Protocol):
    async def create(
        self, family: str, subject: str, token_id: str, secret_hash: str, expires: float
    ) -> None: ...
    async def rotate(
        self,
        family: str,
        token_id: str,
        presented: str,
        new_id: str,
        new_hash: str,
        now: float,
        expires: float,
    ) -> str | None: ...


class RefusedError(Exception):
    """The presented refresh token is unknown, spent or expired."""


class Auth:
    """issue() at login, refresh() at the refresh endpoint."""

    def __init__(self, tokens: AccessTokens, store: Any) -> None:
        self.tokens, self.store = tokens, store

    def issue(self, subject: str) -> tuple[str, str]:
        family = secrets.token_hex(16)
        token, token_id, secret_hash = new_refresh_token(family)
        self.store.create(family, subject, token_id, secret_hash, time.time() + REFRESH_TTL)
        return self.tokens.sign(subject, family), token

    def refresh(self, refresh_token: str) -> tuple[str, str]:
        family, token_id, presented = parse_refresh_token(refresh_token)
        token, new_id, new_hash = new_refresh_token(family)
        now = time.time()
        subject = self.store.rotate(
            family, token_id, presented, new_id, new_hash, now, now + REFRESH_TTL
        )
        if subject is None:
            raise RefusedError("invalid_grant")
        return self.tokens.sign(subject, family), token


class AsyncAuth:
    """The asyncio flavour of :class:`Auth`."""

    def __init__(self, tokens: AccessTokens, store: Any) -> None:
        self.tokens, self.store = tokens, store

    async def issue(self, subject: str) -> tuple[str, str]:
        family = secrets.token_hex(16)
        token, token_id, secret_hash = new_refresh_token(family)
        await self.store.create(family, subject, token_id, secret_hash, time.time() + REFRESH_TTL)
        return self.tokens.sign(subject, family), token

    async def refresh(self, refresh_token: str) -> tuple[str, str]:
        family, token_id, presented = parse_refresh_token(refresh_token)
        token, new_id, new_hash = new_refresh_token(family)
        now = time.time()
        subject = await self.store.rotate(
            family, token_id, presented, new_id, new_hash, now, now + REFRESH_TTL
        )
        if subject is None:
            raise RefusedError("invalid_grant")
        return self.tokens.sign(subject, family), token
