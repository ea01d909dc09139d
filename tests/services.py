"""Where the test servers are, and what to do when one is missing.

Tests talk to real servers on loopback. When one is down its tests skip with
a message naming it, unless ``REFRESHKIT_REQUIRE_SERVICES=1`` (set by
``.ci/run``), where a missing server fails the run instead.
"""

from __future__ import annotations

import os
import shutil
import socket

import pytest

POSTGRES_HOST, POSTGRES_PORT = "127.0.0.1", 5432
MARIADB_HOST, MARIADB_PORT = "127.0.0.1", 3306
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379

POSTGRES_SYNC_URL = os.environ.get(
    "REFRESHKIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MARIADB_SYNC_URL = os.environ.get(
    "REFRESHKIT_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
)
REDIS_URL = os.environ.get("REFRESHKIT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def services_required() -> bool:
    """Whether a missing server must fail the run (CI) rather than skip."""
    return os.environ.get("REFRESHKIT_REQUIRE_SERVICES", "") not in ("", "0", "false")


#: (word in what is missing, how a newcomer gets it), first match wins.
_FIXES = (
    ("playwright", "pip install playwright (it drives the system Chromium; nothing is downloaded)"),
    ("chromium", "install it: apt-get install chromium"),
    ("redis-server", "install it: apt-get install redis-server"),
    ("redis-cli", "install it: apt-get install redis-server"),
    ("postgresql", "start it on 127.0.0.1:5432, user postgres, database test (README.md)"),
    ("mariadb", "start it on 127.0.0.1:3306, user root, database test (README.md)"),
    ("redis", "start it on 127.0.0.1:6379 (README.md)"),
)


def how_to_fix(what: str) -> str | None:
    """The command or step that provides ``what``, when it is one the tests know."""
    lowered = what.lower()
    return next((fix for word, fix in _FIXES if word in lowered), None)


def unavailable(what: str, fix: str | None = None) -> None:
    """Skip (or, in CI, fail) the current test because ``what`` is missing.

    The message names the fix (``fix``, else a known one), so a skipped
    test says what to do rather than skipping silently.
    """
    fix = fix or how_to_fix(what)
    message = f"{what} is not available" + (f"; {fix}" if fix else "")
    if services_required():
        pytest.fail(f"{message} (REFRESHKIT_REQUIRE_SERVICES=1: required)", pytrace=False)
    pytest.skip(message)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_port(what: str, host: str, port: int) -> None:
    """Skip/fail unless ``what`` listens on host:port."""
    if not port_open(host, port):
        unavailable(f"{what} on {host}:{port}")


def require_binary(name: str) -> str:
    """Path of executable ``name``; skip/fail when it is not installed."""
    path = shutil.which(name)
    if path is None:
        unavailable(f"the {name} executable")
        raise AssertionError("unreachable")
    return path
