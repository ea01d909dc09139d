"""``refreshkit demo``: the narrated lifecycle, end to end over real HTTP."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("refreshkit.backends.sql.migrate")

import httpx
from fastapi.testclient import TestClient

from refreshkit._demo import DemoClock, DemoError, demo_app, narrate, running_server

pytestmark = [pytest.mark.fastapi, pytest.mark.sqlite]

STEPS = [
    "1. Log in",
    "2. Call a protected route",
    "3. Access token expires",
    "4. Refresh with rotation",
    "5. Replay of the old refresh token",
    "6. Reuse detected: session revoked",
    "7. Log out",
]


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "refreshkit.cli", "demo", *args]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("REFRESHKIT_")}


def section(output: str, title: str) -> str:
    """The narration of one step: from its title to the next step's."""
    start = output.index(title)
    following = [output.find(s, start + 1) for s in STEPS if output.find(s, start + 1) > start]
    return output[start : min(following, default=len(output))]


@pytest.fixture(scope="module")
def narration(tmp_path_factory: pytest.TempPathFactory) -> str:
    database = tmp_path_factory.mktemp("demo") / "demo.db"
    completed = subprocess.run(
        command("--database", str(database)),
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Traceback" not in completed.stderr
    assert database.exists()  # it really ran on SQLite
    return completed.stdout


def test_the_demo_narrates_every_step_in_order(narration: str) -> None:
    positions = [narration.index(step) for step in STEPS]
    assert positions == sorted(positions)
    assert narration.rstrip().endswith(
        "Done: every exchange above went over real HTTP to the example app."
    )


def test_login_and_the_protected_call_succeed(narration: str) -> None:
    login = section(narration, "1. Log in")
    assert "> POST /login" in login
    assert "< 200 OK" in login
    assert "< cache-control: no-store" in login
    assert "server event: issued" in login
    assert "< 200 OK" in section(narration, "2. Call a protected route")


def test_the_access_token_expires_without_waiting(narration: str) -> None:
    expiry = section(narration, "3. Access token expires")
    assert "> POST /_demo/clock/advance?seconds=301" in expiry
    assert "< 401 Unauthorized" in expiry
    assert 'error="invalid_token"' in expiry
    assert "access token expired" in expiry


def test_the_refresh_rotates_the_refresh_token(narration: str) -> None:
    refresh = section(narration, "4. Refresh with rotation")
    sent = re.search(r"refresh_token=(rk_\S+)", refresh)
    received = re.search(r'"refresh_token": "(rk_[^"]+)"', refresh)
    assert sent and received
    assert sent.group(1) != received.group(1)
    assert "server event: refreshed" in refresh


def test_a_retry_within_the_window_gets_the_same_successor(narration: str) -> None:
    refresh = section(narration, "4. Refresh with rotation")
    received = re.findall(r'"refresh_token": "(rk_[^"]+)"', refresh)
    assert len(received) == 2
    assert received[0] == received[1], "the retry got the very same successor"
    assert "server event: retry_replayed" in refresh
    assert "reuse_detected" not in refresh


def test_the_replay_is_detected_and_the_session_revoked(narration: str) -> None:
    replay = section(narration, "5. Replay of the old refresh token")
    assert "< 400 Bad Request" in replay
    assert '"error": "invalid_grant"' in replay
    assert "server event: reuse_detected" in replay
    assert "reason reuse" in replay
    aftermath = section(narration, "6. Reuse detected: session revoked")
    assert aftermath.count("< 400 Bad Request") == 1
    assert "< 401 Unauthorized" in aftermath


def test_logout_ends_the_session(narration: str) -> None:
    logout = section(narration, "7. Log out")
    assert "< 204 No Content" in logout
    assert "reason logout" in logout
    assert logout.rstrip().count("< 400 Bad Request") == 1


def test_tokens_are_abbreviated_in_the_narration(narration: str) -> None:
    assert not re.search(r"rk_[0-9a-f]{48}\.", narration)
    assert not re.search(r"eyJ[\w-]{40,}", narration)


class ServedDemo:
    """``refreshkit demo --serve`` in a child process, its stdout read by a thread.

    Always cleaned up: :meth:`close` kills a child that is still running, so a
    failed test never leaves a demo server behind.
    """

    def __init__(self, tmp_path: Path, *args: str, ignore_sigint: bool = False) -> None:
        env = clean_env()
        env["TMPDIR"] = str(tmp_path)  # where a temporary demo database goes
        self.stderr_path = tmp_path / "stderr.txt"
        with self.stderr_path.open("w") as stderr:
            self.process = subprocess.Popen(
                command("--serve", *args),
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env=env,
                # Ignored: as a shell does for a job it starts in the background (`cmd &`).
                # Otherwise the default, even when this test run itself ignores SIGINT.
                preexec_fn=ignoring_sigint if ignore_sigint else default_sigint,
            )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        self._pump = threading.Thread(target=self._read, daemon=True)
        self._pump.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def read_until(self, marker: str, timeout: float = 120) -> list[str]:
        """Lines up to the first containing ``marker`` (bounded wait)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.output.append(line)
            if marker in line:
                return self.output
        raise AssertionError(f"{marker!r} never printed; got:\n" + "\n".join(self.output))

    def url(self) -> str:
        self.read_until("curl -s -X POST '")
        served = next(line for line in self.output if line.startswith("Serving at "))
        return served.split()[2]

    def stop(self, signum: signal.Signals, timeout: float = 30) -> int:
        """Send ``signum`` and wait for the exit; a child that outlives ``timeout`` fails."""
        self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.close()
            pytest.fail(f"the demo did not stop within {timeout}s of {signum.name}")
        self._pump.join(timeout)  # the rest of the output, up to the end of the stream
        while not self.lines.empty():
            line = self.lines.get_nowait()
            if line is not None:
                self.output.append(line)
        return code

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)
        if self.process.stdout is not None:
            self.process.stdout.close()


def ignoring_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Callable[..., ServedDemo]]:
    started: list[ServedDemo] = []

    def start(*args: str, ignore_sigint: bool = False) -> ServedDemo:
        started.append(ServedDemo(tmp_path, *args, ignore_sigint=ignore_sigint))
        return started[-1]

    yield start
    for demo in started:
        demo.close()


def test_serve_keeps_the_server_running_and_prints_curl_lines(
    served: Callable[..., ServedDemo], tmp_path: Path
) -> None:
    demo = served("--database", str(tmp_path / "serve.db"))
    url = demo.url()
    assert any("curl -s -X POST http" in line and "/login" in line for line in demo.output)
    assert any(f"{url}/_demo/browser in two tabs" in line for line in demo.output)
    page = httpx.get(f"{url}/_demo/browser", timeout=10)
    assert page.status_code == 200
    assert 'import { createRefreshKit } from "/refreshkit.js";' in page.text
    script = httpx.get(f"{url}/refreshkit.js", timeout=10)
    assert script.status_code == 200
    assert script.headers["content-type"] == "application/javascript; charset=utf-8"
    reply = httpx.get(f"{url}/.well-known/jwks.json", timeout=10)
    assert reply.status_code == 200
    assert reply.json()["keys"][0]["alg"] == "EdDSA"
    assert demo.stop(signal.SIGINT) == 0, demo.stderr  # Ctrl+C in the foreground
    assert "stopped" in demo.output
    assert "Traceback" not in demo.stderr


def test_serve_started_in_the_background_stops_on_sigterm(
    served: Callable[..., ServedDemo], tmp_path: Path
) -> None:
    demo = served("--database", str(tmp_path / "serve.db"), ignore_sigint=True)
    url = demo.url()
    assert any("Ctrl+C is ignored" in line for line in demo.output)
    assert demo.stop(signal.SIGTERM) == 0, demo.stderr
    assert "stopped" in demo.output
    assert "Traceback" not in demo.stderr
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/.well-known/jwks.json", timeout=5)
    assert (tmp_path / "serve.db").exists()  # a database the user named is kept


def test_sigterm_removes_the_temporary_database(
    served: Callable[..., ServedDemo], tmp_path: Path
) -> None:
    demo = served(ignore_sigint=True)
    demo.url()
    databases = list(tmp_path.glob("refreshkit-demo-*/demo.db"))
    assert len(databases) == 1, "the demo runs on a temporary database under TMPDIR"
    assert demo.stop(signal.SIGTERM) == 0, demo.stderr
    assert not databases[0].exists()
    assert not list(tmp_path.glob("refreshkit-demo-*"))


def test_the_demo_clock_route_answers_loopback_clients_only(tmp_path: Path) -> None:
    app, _ = demo_app(f"sqlite+aiosqlite:///{tmp_path / 'clock.db'}", DemoClock())
    with TestClient(app) as client:  # its client address is "testclient", not loopback
        reply = client.post("/_demo/clock/advance?seconds=60")
    assert reply.status_code == 403


def test_the_demo_clock_only_moves_forward() -> None:
    clock = DemoClock()
    before = clock.now()
    assert (clock.advance(3600) - before).total_seconds() >= 3600
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)


def test_a_step_that_breaks_its_promise_stops_the_demo(tmp_path: Path) -> None:
    app, events = demo_app(f"sqlite+aiosqlite:///{tmp_path / 'broken.db'}", DemoClock())
    written: list[str] = []
    with running_server(app) as url, pytest.raises(DemoError, match="step 1: expected 200"):
        narrate(url, written.append, events=events, password="not the password")
    assert "  < 401 Unauthorized" in written
