"""Generate every sync module from its async twin.

The async code is the source of truth; the sync modules are derived by an
explicit, ordered substitution table (no AST magic), so a reader can predict
the output. ``--check`` exits 1 if any committed sync file differs from what
would be generated (CI runs it).

    python scripts/unasync.py          # regenerate
    python scripts/unasync.py --check  # verify, change nothing
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "refreshkit"

#: (async source, sync target) pairs, relative to the package.
FILES: list[tuple[str, str]] = [
    ("_async/manager.py", "_sync/manager.py"),
    ("_async/conformance.py", "_sync/conformance.py"),
    ("backends/memory/_async.py", "backends/memory/_sync.py"),
    ("backends/sql/_async.py", "backends/sql/_sync.py"),
    ("backends/redis/_async.py", "backends/redis/_sync.py"),
]

#: Ordered (pattern, replacement) rules; word-bounded where it matters.
SUBSTITUTIONS: list[tuple[str, str]] = [
    # Names whose sync form is not just "drop the Async prefix".
    (r"\bcreate_async_store\b", "create_store"),
    (r"\bcreate_async_engine\b", "create_engine"),
    (r"\bsqlalchemy\.ext\.asyncio\b", "sqlalchemy"),
    (r"\bredis\.asyncio\.cluster\b", "redis.cluster"),
    (r"\bredis\.asyncio\b", "redis"),
    (r"\basyncio\.sleep\b", "time.sleep"),
    (r"^import asyncio$", "import time"),
    (r"\bStopAsyncIteration\b", "StopIteration"),
    (r"\bAsyncIterator\b", "Iterator"),
    (r"\bAsyncGenerator\b", "Generator"),
    (r"\bAsyncIterable\b", "Iterable"),
    (r"\bAsyncContextManager\b", "ContextManager"),
    (r"\basynccontextmanager\b", "contextmanager"),
    (r"\b__aenter__\b", "__enter__"),
    (r"\b__aexit__\b", "__exit__"),
    (r"\b__aiter__\b", "__iter__"),
    (r"\b__anext__\b", "__next__"),
    (r"\baclose\b", "close"),
    (r"\bafrom_url\b", "from_url"),
    (r"\b_async\b", "_sync"),
    (r"\[pytest\.mark\.asyncio\]", "[]"),
    # The general rule: AsyncFoo -> Foo.
    (r"\bAsync([A-Z]\w*)", r"\1"),
    # Syntax.
    (r"\basync def\b", "def"),
    (r"\basync with\b", "with"),
    (r"\basync for\b", "for"),
    (r"\bawait ", ""),
]

HEADER = (
    "# This file is GENERATED from {source} by scripts/unasync.py. Do not edit it:\n"
    "# change the async source and run `python scripts/unasync.py`.\n"
)

_COMPILED = [(re.compile(p, re.MULTILINE), r) for p, r in SUBSTITUTIONS]


def unasync_text(text: str) -> str:
    """Apply the substitution table to one module's source."""
    for pattern, replacement in _COMPILED:
        text = pattern.sub(replacement, text)
    return text


def generate(source: Path, target: Path) -> str:
    """The sync module text for ``source``."""
    rel = source.relative_to(ROOT).as_posix()
    return HEADER.format(source=rel) + unasync_text(source.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail on drift, write nothing")
    args = parser.parse_args(argv)
    stale = []
    for source_rel, target_rel in FILES:
        source, target = PACKAGE / source_rel, PACKAGE / target_rel
        if not source.exists():
            continue
        expected = generate(source, target)
        actual = target.read_text() if target.exists() else ""
        if expected == actual:
            continue
        if args.check:
            stale.append(target_rel)
            sys.stdout.writelines(
                difflib.unified_diff(
                    actual.splitlines(True), expected.splitlines(True), target_rel, "generated"
                )
            )
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(expected)
            print(f"wrote {target_rel}")
    if stale:
        print(f"out of date: {', '.join(stale)} (run python scripts/unasync.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
