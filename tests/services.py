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


def unavailable(what: str) -> None:
    """Skip (or, in CI, fail) the current test because ``what`` is missing."""
    message = f"{what} is not available"
    if services_required():
        pytest.fail(f"{message} and REFRESHKIT_REQUIRE_SERVICES=1", pytrace=False)
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
