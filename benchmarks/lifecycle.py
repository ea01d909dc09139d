"""issue and refresh rows: the manager beside the hand-written service, per store.

Both sides do the same work per refresh (parse the token once, mint and
seal the successor, one conditional write, sign an HS256 access token with
the same key), so the ratio is the library's own overhead over careful
hand-written code on the same store. Refreshes run round-robin over a few
sessions (each chain refreshes its newest token). Issue rows have no target:
they are shown for completeness.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from refreshkit import AsyncTokenManager, KeySet, Settings, SigningKey, TokenManager

from . import stores
from ._harness import Config, Row, compare, compare_async, run_async
from ._trips import commandstats_delta
from .baselines.service import AsyncAuth, Auth
from .baselines.tokens import AccessTokens

CHAINS = 16
TRIP_SAMPLE = 20
SUBJECTS = 1000


@dataclass(frozen=True)
class Backend:
    """One row family: how to open it sync and async, its targets, its speed."""

    name: str
    opener: Callable[[], contextlib.AbstractContextManager[stores.Opened]]
    async_opener: Callable[[], contextlib.AbstractAsyncContextManager[stores.Opened]]
    refresh_target: float | None
    issue_target: float | None = None
    #: Fraction of ``Config.ops`` per slice (a network round trip costs more than a dict).
    factor: float = 0.25


BACKENDS = [
    Backend("memory", stores.memory, stores.memory_async, 1.25, factor=1.0),
    Backend(
        "SQLite (WAL)",
        lambda: stores.sql("sqlite"),
        lambda: stores.sql_async("sqlite"),
        1.10,
        factor=0.05,
    ),
    Backend(
        "PostgreSQL",
        lambda: stores.sql("postgres"),
        lambda: stores.sql_async("postgres"),
        1.10,
        factor=0.05,
    ),
    Backend(
        "MariaDB",
        lambda: stores.sql("mariadb"),
        lambda: stores.sql_async("mariadb"),
        1.10,
        factor=0.05,
    ),
    Backend("Redis", stores.redis_standalone, stores.redis_standalone_async, 1.10),
    Backend("Redis Cluster", stores.redis_cluster, stores.redis_cluster_async, 1.10),
]


def _pair(store: Any, baseline_store: Any, *, asynchronous: bool) -> tuple[Any, Any]:
    key = SigningKey.generate("HS256")
    tokens = AccessTokens(key.private, key.public, key.algorithm, key.kid)
    if asynchronous:
        return AsyncTokenManager(Settings(), keys=KeySet(key), store=store), AsyncAuth(
            tokens, baseline_store
        )
    return TokenManager(Settings(), keys=KeySet(key), store=store), Auth(tokens, baseline_store)


# --------------------------------------------------------------------- sync


def _sync_rows(backend: Backend, opened: stores.Opened, config: Config) -> Iterator[Row]:
    manager, auth = _pair(opened.store, opened.baseline, asynchronous=False)
    counter = iter(range(1 << 62))

    def issue_ours(ops: int) -> None:
        for _ in range(ops):
            manager.issue(f"user{next(counter) % SUBJECTS}")

    def issue_base(ops: int) -> None:
        for _ in range(ops):
            auth.issue(f"user{next(counter) % SUBJECTS}")

    ours_chain = [manager.issue(f"chain{n}").refresh_token for n in range(CHAINS)]
    base_chain = [auth.issue(f"chain{n}")[1] for n in range(CHAINS)]
    position = [0, 0]

    def refresh_ours(ops: int) -> None:
        for _ in range(ops):
            slot = position[0] % CHAINS
            ours_chain[slot] = manager.refresh(ours_chain[slot]).refresh_token
            position[0] += 1

    def refresh_base(ops: int) -> None:
        for _ in range(ops):
            slot = position[1] % CHAINS
            base_chain[slot] = auth.refresh(base_chain[slot])[1]
            position[1] += 1

    scaled = config.scaled(backend.factor)
    issue = compare(
        backend.name, "issue (sync)", issue_ours, issue_base, scaled, target=backend.issue_target
    )
    _count_trips(issue, opened, issue_ours, issue_base)
    yield issue
    refresh = compare(
        backend.name,
        "refresh (sync)",
        refresh_ours,
        refresh_base,
        scaled,
        target=backend.refresh_target,
    )
    _count_trips(refresh, opened, refresh_ours, refresh_base)
    yield refresh


def _count_trips(
    row: Row, opened: stores.Opened, ours: Callable[[int], None], base: Callable[[int], None]
) -> None:
    if opened.trips is None:
        return
    for side, run in (("ours", ours), ("base", base)):
        before = opened.server_stats() if opened.server_stats else None
        with opened.trips.counting():
            run(TRIP_SAMPLE)
        per_op = opened.trips.count / TRIP_SAMPLE
        setattr(row, f"{side}_trips", f"{per_op:g}")
        if before is not None and opened.server_stats is not None:
            key = "server_commands" if side == "ours" else "server_commands_base"
            row.extra[key] = commandstats_delta(before, opened.server_stats(), TRIP_SAMPLE)


# -------------------------------------------------------------------- async


async def _async_rows(backend: Backend, opened: stores.Opened, config: Config) -> list[Row]:
    manager, auth = _pair(opened.store, opened.baseline, asynchronous=True)
    counter = iter(range(1 << 62))

    async def issue_ours(ops: int) -> None:
        for _ in range(ops):
            await manager.issue(f"user{next(counter) % SUBJECTS}")

    async def issue_base(ops: int) -> None:
        for _ in range(ops):
            await auth.issue(f"user{next(counter) % SUBJECTS}")

    ours_chain = [(await manager.issue(f"chain{n}")).refresh_token for n in range(CHAINS)]
    base_chain = [(await auth.issue(f"chain{n}"))[1] for n in range(CHAINS)]
    position = [0, 0]

    async def refresh_ours(ops: int) -> None:
        for _ in range(ops):
            slot = position[0] % CHAINS
            ours_chain[slot] = (await manager.refresh(ours_chain[slot])).refresh_token
            position[0] += 1

    async def refresh_base(ops: int) -> None:
        for _ in range(ops):
            slot = position[1] % CHAINS
            base_chain[slot] = (await auth.refresh(base_chain[slot]))[1]
            position[1] += 1

    scaled = config.scaled(backend.factor)
    rows = []
    for name, ours, base, target in (
        ("issue (async)", issue_ours, issue_base, backend.issue_target),
        ("refresh (async)", refresh_ours, refresh_base, backend.refresh_target),
    ):
        row = await compare_async(backend.name, name, ours, base, scaled, target=target)
        if opened.trips is not None:
            for side, run in (("ours", ours), ("base", base)):
                with opened.trips.counting():
                    await run(TRIP_SAMPLE)
                setattr(row, f"{side}_trips", f"{opened.trips.count / TRIP_SAMPLE:g}")
        rows.append(row)
    return rows


async def _run_async(backend: Backend, config: Config) -> list[Row]:
    opener: contextlib.AbstractAsyncContextManager[stores.Opened] = backend.async_opener()
    async with opener as opened:
        return await _async_rows(backend, opened, config)


@contextlib.asynccontextmanager
async def _nothing() -> AsyncIterator[None]:
    yield


def rows(config: Config, only: Callable[[str], bool] = lambda name: True) -> Iterator[Row]:
    """Every backend, sync then async; an unreachable server becomes a note."""
    try:
        for backend in BACKENDS:
            if not only(backend.name):
                continue
            try:
                with backend.opener() as opened:
                    yield from _sync_rows(backend, opened, config)
                yield from run_async(_run_async(backend, config))
            except stores.Unavailable as why:
                yield Row(backend.name, "issue/refresh", note=f"skipped: {why}")
    finally:
        stores.CLUSTER.stop()
