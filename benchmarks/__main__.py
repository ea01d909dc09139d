"""``python -m benchmarks``: refreshkit beside hand-written PyJWT code, as ratios.

Every row times refreshkit (A) and a baseline doing the same work (B) on the
same store in this process, interleaved A B A B over several rounds, and
prints the median ratio A/B with its min-max. Ratios below 1 mean refreshkit
is faster. Rows whose server is not reachable are listed as skipped.

    python -m benchmarks                      # everything (about 10 minutes on 2 cores)
    python -m benchmarks --quick              # a fast smoke run
    python -m benchmarks --only verify,lifecycle --backends memory,Redis
    python -m benchmarks --json results.json  # also write the rows as JSON
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from . import endpoints, lifecycle, scale, verify
from ._harness import Config, Row, render_table

GROUPS: dict[str, Callable[[Config, Callable[[str], bool]], Iterator[Row]]] = {
    "verify": lambda config, only: verify.rows(config),
    "lifecycle": lifecycle.rows,
    "http": lambda config, only: endpoints.rows(config),
    "scale": scale.rows,
}


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    import jwt

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "system": f"{platform.system()} {platform.release()}",
        "pyjwt": jwt.__version__,
    }


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="few ops, few rounds, small scale")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON ('-': stdout)")
    parser.add_argument(
        "--only", default=",".join(GROUPS), help=f"comma-separated groups of {list(GROUPS)}"
    )
    parser.add_argument("--backends", default="", help="comma-separated store names (default: all)")
    parser.add_argument("--ops", type=int, help="operations per slice (memory-speed rows)")
    parser.add_argument("--rounds", type=int, help="A/B rounds per row")
    parser.add_argument(
        "--max-sessions",
        type=int,
        default=1_000_000,
        help="largest scale level and purge size (default 10^6; smaller runs faster)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    config = Config(ops=400, rounds=3, quick=True) if args.quick else Config()
    config = Config(
        args.ops or config.ops, args.rounds or config.rounds, config.quick, args.max_sessions
    )
    wanted = {name.strip().lower() for name in args.backends.split(",") if name.strip()}

    def only(name: str) -> bool:
        return not wanted or name.lower() in wanted or name.split()[0].lower() in wanted

    info = machine()
    print(
        f"refreshkit benchmarks on {info['cpu']} ({info['cores']} cores), "
        f"{info['implementation']} {info['python']}, PyJWT {info['pyjwt']}; "
        f"{config.rounds} interleaved rounds; ratio = refreshkit / baseline (lower is better)",
        flush=True,
    )
    rows: list[Row] = []
    began = time.perf_counter()
    for group in [g.strip() for g in args.only.split(",") if g.strip()]:
        if group not in GROUPS:
            print(f"unknown group {group!r}; choose from {list(GROUPS)}", file=sys.stderr)
            return 2
        for row in GROUPS[group](config, only):
            rows.append(row)
            print(f"  {row.group:14} {row.name:44} {_short(row)}", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - began
    print()
    print(render_table(rows))
    _print_details(rows)
    print(f"{len(rows)} rows in {elapsed:.0f}s; targets missed: {_misses(rows) or 'none'}")
    if args.json:
        document = {"machine": info, "config": vars(args), "seconds": elapsed}
        document["rows"] = [row.as_json() for row in rows]
        text = json.dumps(document, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    return 0


def _short(row: Row) -> str:
    if row.ratio is None:
        return row.note
    return f"ratio {row.ratio:.2f} {row.verdict}".rstrip()


def _print_details(rows: list[Row]) -> None:
    shown = [row for row in rows if row.extra.get("server_commands")]
    if shown:
        print("Redis commands per operation (INFO commandstats; script calls include their own):")
        for row in shown:
            print(f"  {row.group} {row.name}: {row.extra['server_commands']}")
            baseline = row.extra.get("server_commands_base")
            if baseline:
                print(f"  {row.group} {row.name}, baseline: {baseline}")
        print()


def _misses(rows: list[Row]) -> str:
    return ", ".join(f"{row.group} {row.name}" for row in rows if row.verdict == "MISS")


if __name__ == "__main__":
    sys.exit(main())
