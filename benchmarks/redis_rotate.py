"""Refresh throughput on Redis: refreshkit's store beside a hand-written Lua rotate.

Both run interleaved (``--rounds`` alternating slices) against the same
server, sync and async, and the script prints ops/s and the ratio
refreshkit / baseline. It also prints the commands each refreshkit
operation costs (INFO commandstats deltas) and the memory of one session.

    python benchmarks/redis_rotate.py [--url redis://127.0.0.1:6379/0] [--ops 3000]

Keys live under a random prefix and are deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis
import redis.asyncio

from refreshkit import _tokens
from refreshkit.backends.redis import AsyncRedisStore, RedisStore
from refreshkit.models import ConsumeRequest, NewToken, RefreshRecord, Session

BASELINE = (Path(__file__).parent / "baselines" / "redis_rotate.lua").read_text()
BASELINE_SHA = hashlib.sha1(BASELINE.encode(), usedforsecurity=False).hexdigest()
START = datetime.now(UTC)
IDLE = timedelta(days=1)
CONCURRENCY = 50


def new_session(subject: str) -> tuple[Session, RefreshRecord]:
    sid = _tokens.new_session_id()
    _, token_id, secret_hash = _tokens.new_refresh_token(sid)
    session = Session(
        sid=sid,
        subject=subject,
        created_at=START,
        idle_expires_at=START + IDLE,
        absolute_expires_at=START + timedelta(days=7),
        last_used_at=START,
        current_token_id=token_id,
    )
    return session, RefreshRecord(token_id, sid, secret_hash, 0, START)


def rotate_request(record: RefreshRecord, step: int) -> ConsumeRequest:
    _, new_id, new_hash = _tokens.new_refresh_token(record.sid)
    now = START + timedelta(microseconds=step)
    return ConsumeRequest(
        token_id=record.token_id,
        secret_hash=record.secret_hash,
        now=now,
        idle_expires_at=now + IDLE,
        successor=NewToken(new_id, new_hash),
    )


def baseline_args(prefix: str) -> tuple[str, list[Any]]:
    key = f"{prefix}:bl:{{{secrets.token_hex(16)}}}"
    return key, [secrets.token_hex(24), secrets.token_hex(32)]


def expiry_ms() -> int:
    return int((START + IDLE).timestamp() * 1000)


# ------------------------------------------------------------------------- sync


def sync_refreshkit(store: RedisStore, ops: int) -> float:
    session, record = new_session("bench")
    store.create_session(session, record)
    began = time.perf_counter()
    for step in range(ops):
        result = store.consume(rotate_request(record, step))
        assert result.issued is not None
        record = result.issued
    return ops / (time.perf_counter() - began)


def sync_baseline(client: redis.Redis, prefix: str, ops: int) -> float:
    key, (token, digest) = baseline_args(prefix)
    client.hset(key, mapping={"c": token, "h": digest})
    began = time.perf_counter()
    for _ in range(ops):
        new_token, new_digest = (
            secrets.token_hex(24),
            hashlib.sha256(secrets.token_bytes(32)).hexdigest(),
        )
        assert (
            client.evalsha(BASELINE_SHA, 1, key, token, digest, new_token, new_digest, expiry_ms())
            == 1
        )
        token, digest = new_token, new_digest
    return ops / (time.perf_counter() - began)


# ------------------------------------------------------------------------ async


async def async_refreshkit(store: AsyncRedisStore, ops: int) -> float:
    async def chain(count: int) -> None:
        session, record = new_session("bench")
        await store.create_session(session, record)
        for step in range(count):
            result = await store.consume(rotate_request(record, step))
            assert result.issued is not None
            record = result.issued

    began = time.perf_counter()
    await asyncio.gather(*(chain(ops // CONCURRENCY) for _ in range(CONCURRENCY)))
    return (ops // CONCURRENCY * CONCURRENCY) / (time.perf_counter() - began)


async def async_baseline(client: redis.asyncio.Redis, prefix: str, ops: int) -> float:
    async def chain(count: int) -> None:
        key, (token, digest) = baseline_args(prefix)
        await client.hset(key, mapping={"c": token, "h": digest})
        for _ in range(count):
            new_token = secrets.token_hex(24)
            new_digest = hashlib.sha256(secrets.token_bytes(32)).hexdigest()
            done = await client.evalsha(
                BASELINE_SHA, 1, key, token, digest, new_token, new_digest, expiry_ms()
            )
            assert done == 1
            token, digest = new_token, new_digest

    began = time.perf_counter()
    await asyncio.gather(*(chain(ops // CONCURRENCY) for _ in range(CONCURRENCY)))
    return (ops // CONCURRENCY * CONCURRENCY) / (time.perf_counter() - began)


# ------------------------------------------------------------------- reporting


def interleaved(rounds: int, ours: Callable[[], float], theirs: Callable[[], float]) -> str:
    mine, base = [], []
    for _ in range(rounds):
        mine.append(ours())
        base.append(theirs())
    ours_rate, base_rate = sorted(mine)[rounds // 2], sorted(base)[rounds // 2]
    return (
        f"refreshkit {ours_rate:9.0f} ops/s   baseline {base_rate:9.0f} ops/s   "
        f"ratio {ours_rate / base_rate:5.2f}"
    )


def commands_per_operation(client: redis.Redis, prefix: str) -> list[str]:
    store = RedisStore(client, prefix=prefix)
    session, record = new_session("count")
    lines = []

    def delta(name: str, operation: Callable[[], object]) -> None:
        before = client.info("commandstats")
        operation()
        after = client.info("commandstats")
        changed = {
            key.removeprefix("cmdstat_"): after[key]["calls"]
            - before.get(key, {"calls": 0})["calls"]
            for key in after
        }
        shown = {k: v for k, v in changed.items() if v and k != "info"}
        lines.append(f"  {name:15} {shown}")

    delta("create_session", lambda: store.create_session(session, record))
    delta("consume", lambda: store.consume(rotate_request(record, 1)))
    delta("find", lambda: store.find(record.token_id))
    delta("revoke_session", lambda: store.revoke_session(session.sid, START, "bench"))
    return lines


def session_memory(client: redis.Redis, prefix: str) -> int:
    store = RedisStore(client, prefix=prefix)
    session, record = new_session("memory@example.com")
    store.create_session(session, record)
    for step in range(3):
        record = store.consume(rotate_request(record, step)).issued or record
    keys = [store.keys.session(session.sid), store.keys.subject_index(session.subject)]
    return sum(int(client.memory_usage(key, samples=0) or 0) for key in keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--ops", type=int, default=3000, help="refreshes per slice")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    prefix = f"rkbench{secrets.token_hex(4)}"
    client = redis.Redis.from_url(args.url)
    client.script_load(BASELINE)
    try:
        store = RedisStore(client, prefix=prefix)
        print(f"Redis {client.info('server')['redis_version']} at {args.url}")
        print(
            "sync  ",
            interleaved(
                args.rounds,
                lambda: sync_refreshkit(store, args.ops),
                lambda: sync_baseline(client, prefix, args.ops),
            ),
        )

        async def run_async() -> str:
            aclient = redis.asyncio.Redis.from_url(args.url, max_connections=CONCURRENCY * 2)
            astore = AsyncRedisStore(aclient, prefix=prefix)
            mine, base = [], []
            for _ in range(args.rounds):
                mine.append(await async_refreshkit(astore, args.ops))
                base.append(await async_baseline(aclient, prefix, args.ops))
            await aclient.aclose()
            ours, theirs = sorted(mine)[args.rounds // 2], sorted(base)[args.rounds // 2]
            return (
                f"refreshkit {ours:9.0f} ops/s   baseline {theirs:9.0f} ops/s   "
                f"ratio {ours / theirs:5.2f}"
            )

        print(f"async ({CONCURRENCY} tasks)", asyncio.run(run_async()))
        print("commands per operation (script calls include the commands they run):")
        print("\n".join(commands_per_operation(client, prefix)))
        print(f"memory of one session after 3 refreshes: {session_memory(client, prefix)} bytes")
    finally:
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            client.delete(key)
        client.close()


if __name__ == "__main__":
    main()
