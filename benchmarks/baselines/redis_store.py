"""One hash per session and one EVALSHA per refresh: the Redis baseline.

The script (``redis_rotate.lua``) checks the presented token against the
hash, writes the successor, the previous token, the seal and the counters,
and moves the key's expiry, in one server-side step. redis-py's
``register_script`` sends EVALSHA (EVAL only once, on a cold script cache).
Works unchanged on Redis Cluster: the session id is the key's hash tag.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROTATE_SCRIPT = (Path(__file__).parent / "redis_rotate.lua").read_text()


class RedisTokens:
    def __init__(self, client: Any, prefix: str) -> None:
        self.client, self.prefix = client, prefix
        self._rotate = client.register_script(ROTATE_SCRIPT)

    def key(self, sid: str) -> str:
        return f"{self.prefix}:{{{sid}}}"

    def _create(self, pipe: Any, *args: Any) -> None:
        sid, subject, token_id, secret_hash, chain, now, idle, absolute = args
        fields = {"s": subject, "c": token_id, "h": secret_hash, "k": chain, "g": 0, "u": 0}
        fields.update(i=idle, a=absolute, l=now, o=now)
        pipe.hset(self.key(sid), mapping=fields)
        pipe.pexpireat(self.key(sid), min(idle, absolute) // 1000)

    def create(self, *args: Any) -> None:
        pipe = self.client.pipeline(transaction=False)
        self._create(pipe, *args)
        pipe.execute()

    def rotate(self, sid: str, *args: Any) -> tuple[str, int] | None:
        found = self._rotate(keys=[self.key(sid)], args=args)
        return (found[0].decode(), int(found[1])) if found else None


class AsyncRedisTokens(RedisTokens):
    async def create(self, *args: Any) -> None:  # type: ignore[override]
        pipe = self.client.pipeline(transaction=False)
        self._create(pipe, *args)
        await pipe.execute()

    async def rotate(self, sid: str, *args: Any) -> tuple[str, int] | None:  # type: ignore[override]
        found = await self._rotate(keys=[self.key(sid)], args=args)
        return (found[0].decode(), int(found[1])) if found else None
