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


def test_serve_keeps_the_server_running_and_prints_curl_lines(tmp_path: Path) -> None:
    process = subprocess.Popen(
        command("--serve", "--database", str(tmp_path / "serve.db")),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    try:
        lines = read_until(process, "curl -s -X POST '", timeout=120)
        served = next(line for line in lines if line.startswith("Serving at "))
        url = served.split()[2]
        assert any("curl -s -X POST http" in line and "/login" in line for line in lines)
        reply = httpx.get(f"{url}/.well-known/jwks.json", timeout=10)
        assert reply.status_code == 200
        assert reply.json()["keys"][0]["alg"] == "EdDSA"
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr


def read_until(process: subprocess.Popen[str], marker: str, timeout: float) -> list[str]:
    """Lines of ``process``'s stdout up to the first containing ``marker`` (bounded wait)."""
    assert process.stdout is not None
    stream = process.stdout
    found: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in stream:
            found.put(line.rstrip("\n"))
        found.put(None)

    threading.Thread(target=pump, daemon=True).start()
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = found.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            break
        lines.append(line)
        if marker in line:
            return lines
    raise AssertionError(f"{marker!r} never printed; got:\n" + "\n".join(lines))


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
