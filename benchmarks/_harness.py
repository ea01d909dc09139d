"""Interleaved timing: refreshkit (A) and its baseline (B) alternate, A B A B ...

Each round times one slice of ``ops`` operations of A, then one of B, in the
same process against the same store, so drift (other load, a warming cache,
a growing table) hits both sides alike. A row reports the median of the
per-round ratios A/B with their min and max, and each side's median time
per operation.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Config", "Row", "compare", "compare_async", "compare_best", "measure", "render_table"]


@dataclass(frozen=True)
class Config:
    """How much to run: ``ops`` per slice, ``rounds`` of A and B each."""

    ops: int = 2000
    rounds: int = 7
    quick: bool = False
    #: The largest scale level (and purge size).
    max_sessions: int = 1_000_000

    def scaled(self, factor: float) -> Config:
        """A config with ``ops`` scaled (slow operations run fewer per slice)."""
        return Config(max(5, int(self.ops * factor)), self.rounds, self.quick, self.max_sessions)


@dataclass
class Row:
    """One line of the table (and one object of ``--json``)."""

    group: str
    name: str
    ours_us: float | None = None
    base_us: float | None = None
    ratio: float | None = None
    ratio_min: float | None = None
    ratio_max: float | None = None
    target: float | None = None
    ours_trips: str = ""
    base_trips: str = ""
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        """``ok``/``MISS`` against the target, or empty when the row has none."""
        if self.target is None or self.ratio is None:
            return ""
        return "ok" if self.ratio <= self.target else "MISS"

    def as_json(self) -> dict[str, Any]:
        """The row as plain data, with the verdict."""
        return {**asdict(self), "verdict": self.verdict}


def _timed(run: Callable[[int], object], ops: int) -> float:
    # Collect first, so one side's garbage is never collected on the other's clock.
    gc.collect()
    began = time.perf_counter()
    run(ops)
    return (time.perf_counter() - began) / ops


def _row(group: str, name: str, ours: list[float], base: list[float], target: float | None) -> Row:
    ratios = [a / b for a, b in zip(ours, base, strict=True)]
    return Row(
        group,
        name,
        ours_us=statistics.median(ours) * 1e6,
        base_us=statistics.median(base) * 1e6,
        ratio=statistics.median(ratios),
        ratio_min=min(ratios),
        ratio_max=max(ratios),
        target=target,
    )


def compare(
    group: str,
    name: str,
    ours: Callable[[int], object],
    base: Callable[[int], object],
    config: Config,
    *,
    target: float | None = None,
) -> Row:
    """Time ``ours(ops)`` and ``base(ops)`` interleaved over ``config.rounds`` rounds.

    One untimed warm-up slice of each runs first (imports, caches, pools).
    """
    warm = max(1, config.ops // 10)
    ours(warm)
    base(warm)
    mine, theirs = [], []
    for _ in range(config.rounds):
        mine.append(_timed(ours, config.ops))
        theirs.append(_timed(base, config.ops))
    return _row(group, name, mine, theirs, target)


def compare_best(
    group: str,
    name: str,
    ours: Callable[[int], object],
    baselines: Mapping[str, Callable[[int], object]],
    config: Config,
    *,
    target: float | None = None,
) -> Row:
    """:func:`compare` against the fastest of several baselines, round by round.

    Each round times ``ours`` then every baseline; the round's ratio is ours
    over the fastest baseline of that round. The note names the baseline that
    was fastest most often, and ``extra`` holds every baseline's median.
    """
    warm = max(1, config.ops // 10)
    ours(warm)
    for run in baselines.values():
        run(warm)
    mine: list[float] = []
    times: dict[str, list[float]] = {label: [] for label in baselines}
    for _ in range(config.rounds):
        mine.append(_timed(ours, config.ops))
        for label, run in baselines.items():
            times[label].append(_timed(run, config.ops))
    best = [min(round_times) for round_times in zip(*times.values(), strict=True)]
    row = _row(group, name, mine, best, target)
    winners = [min(times, key=lambda label: times[label][n]) for n in range(config.rounds)]
    row.note = f"baseline: {max(set(winners), key=winners.count)}"
    row.extra["baselines_us"] = {
        label: round(statistics.median(values) * 1e6, 2) for label, values in times.items()
    }
    return row


def measure(group: str, name: str, ours: Callable[[int], object], config: Config, note: str) -> Row:
    """A feature with no baseline: refreshkit's median time per operation, no ratio."""
    ours(max(1, config.ops // 10))
    mine = [_timed(ours, config.ops) for _ in range(config.rounds)]
    return Row(group, name, ours_us=statistics.median(mine) * 1e6, note=note)


async def _atimed(run: Callable[[int], Awaitable[object]], ops: int) -> float:
    gc.collect()
    began = time.perf_counter()
    await run(ops)
    return (time.perf_counter() - began) / ops


async def compare_async(
    group: str,
    name: str,
    ours: Callable[[int], Awaitable[object]],
    base: Callable[[int], Awaitable[object]],
    config: Config,
    *,
    target: float | None = None,
) -> Row:
    """:func:`compare` for coroutine functions, on the running event loop."""
    warm = max(1, config.ops // 10)
    await ours(warm)
    await base(warm)
    mine, theirs = [], []
    for _ in range(config.rounds):
        mine.append(await _atimed(ours, config.ops))
        theirs.append(await _atimed(base, config.ops))
    return _row(group, name, mine, theirs, target)


def run_async(coroutine: Awaitable[Any]) -> Any:
    """Run one coroutine on a fresh event loop (each async row owns its loop)."""

    async def main() -> Any:
        return await coroutine

    return asyncio.run(main())


def _number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def render_table(rows: list[Row]) -> str:
    """The rows as an aligned text table (also valid reStructuredText)."""
    header = (
        "group",
        "row",
        "refreshkit µs",
        "baseline µs",
        "ratio",
        "min-max",
        "target",
        "",
        "trips rk/base",
        "note",
    )
    lines = [header]
    for row in rows:
        spread = (
            f"{row.ratio_min:.2f}-{row.ratio_max:.2f}"
            if row.ratio_min is not None and row.ratio_max is not None
            else "-"
        )
        trips = f"{row.ours_trips}/{row.base_trips}" if row.ours_trips or row.base_trips else ""
        lines.append(
            (
                row.group,
                row.name,
                _number(row.ours_us),
                _number(row.base_us),
                _number(row.ratio, 2),
                spread,
                f"<= {row.target:.2f}" if row.target is not None else "",
                row.verdict,
                trips,
                row.note,
            )
        )
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    rule = "  ".join("=" * max(1, w) for w in widths)
    body = [
        "  ".join(str(cell).ljust(w) for cell, w in zip(line, widths, strict=True))
        for line in lines
    ]
    return "\n".join([rule, body[0], rule, *body[1:], rule]).rstrip() + "\n"
