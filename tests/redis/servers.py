"""Private redis-server processes for tests: a lone server, or a 3-master cluster.

They live on free loopback ports in a temporary directory and are killed
and removed afterwards. The shared server on 6379 is never touched here.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.services import require_binary

#: Bounded waits for a server to start and for a cluster to agree.
START_TIMEOUT = 15.0
POLL_INTERVAL = 0.05


def free_port(*, with_bus: bool = False) -> int:
    """A loopback port nobody listens on (and, for cluster nodes, port + 10000 too)."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if not with_bus:
            return port
        if port + 10000 < 65536 and _bindable(port + 10000):
            return port
    raise RuntimeError("no free loopback port pair")


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_until(condition: object, what: str, timeout: float = START_TIMEOUT) -> None:
    """Poll ``condition()`` until true, at most ``timeout`` seconds (never an unbounded wait)."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError, OSError):
            if condition():
                return
        time.sleep(POLL_INTERVAL)
    raise TimeoutError(f"timed out waiting for {what}")


@dataclass
class RedisServer:
    """One redis-server process on ``port`` with its data in ``directory``."""

    port: int
    directory: Path
    extra_args: Sequence[str] = ()
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def start(self) -> None:
        binary = require_binary("redis-server")
        log = (self.directory / f"redis-{self.port}.log").open("ab")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--save",
                "",
                "--protected-mode",
                "no",
                *self.extra_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_until(self._answers, f"redis-server on port {self.port}")

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"redis-server on port {self.port} exited; see {self.directory}")
        with self.client() as client:
            return bool(client.ping())

    def stop(self) -> None:
        """Kill the process (no shutdown save) and wait for it to go."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


class Cluster:
    """A Redis Cluster of ``masters`` primaries (no replicas) started for the tests."""

    def __init__(self, masters: int = 3) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="refreshkit-cluster-"))
        self.nodes = [
            RedisServer(
                port,
                self.directory,
                (
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    f"nodes-{port}.conf",
                    "--cluster-node-timeout",
                    "2000",
                    "--appendonly",
                    "no",
                ),
            )
            for port in (free_port(with_bus=True) for _ in range(masters))
        ]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes) + "/"

    def start(self) -> None:
        try:
            for node in self.nodes:
                node.start()
            subprocess.run(
                [
                    require_binary("redis-cli"),
                    "--cluster",
                    "create",
                    *(f"127.0.0.1:{n.port}" for n in self.nodes),
                    "--cluster-replicas",
                    "0",
                    "--cluster-yes",
                ],
                check=True,
                capture_output=True,
                timeout=60,
            )
            wait_until(self.is_ok, "cluster_state:ok on every node")
        except BaseException:
            self.stop()
            raise

    def is_ok(self) -> bool:
        for node in self.nodes:
            with node.client() as client:
                info = client.execute_command("CLUSTER", "INFO")
                text = info.decode() if isinstance(info, bytes) else str(info)
                if (
                    "cluster_state:ok" not in text
                    or "cluster_known_nodes:" + str(len(self.nodes)) not in text
                ):
                    return False
        return True

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
