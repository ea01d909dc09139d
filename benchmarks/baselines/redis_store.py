"""One hash per token family and one Lua script per refresh: the Redis baseline.

Works unchanged on Redis Cluster: the family id is the key's hash tag.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

REFRESH_SCRIPT = (Path(__file__).parent / "redis_refresh.lua").read_text()


class RedisTokens:
    def __init__(self, client: Any, prefix: str) -> None:
        self.client, self.prefix = client, prefix
        self._refresh = client.register_script(REFRESH_SCRIPT)

    def key(self, family: str) -> str:
        return f"{self.prefix}:{{{family}}}"

    def create(
        self, family: str, subject: str, token_id: str, secret_hash: str, expires: float
    ) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(self.key(family), mapping={"c": token_id, "h": secret_hash, "s": subject})
        pipe.pexpireat(self.key(family), int(expires * 1000))
        pipe.execute()

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
        subject = self._refresh(
            keys=[self.key(family)],
            args=[token_id, presented, new_id, new_hash, int(expires * 1000)],
        )
        return subject.decode() if subject else None


class AsyncRedisTokens(RedisTokens):
    async def create(  # type: ignore[override]
        self, family: str, subject: str, token_id: str, secret_hash: str, expires: float
    ) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(self.key(family), mapping={"c": token_id, "h": secret_hash, "s": subject})
        pipe.pexpireat(self.key(family), int(expires * 1000))
        await pipe.execute()

    async def rotate(  # type: ignore[override]
        self,
        family: str,
        token_id: str,
        presented: str,
        new_id: str,
        new_hash: str,
        now: float,
        expires: float,
    ) -> str | None:
        subject = await self._refresh(
            keys=[self.key(family)],
            args=[token_id, presented, new_id, new_hash, int(expires * 1000)],
        )
        return subject.decode() if subject else None
