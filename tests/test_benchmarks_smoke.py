"""The benchmark suite runs: `python -m benchmarks --quick` on rows that need no server.

No timing is asserted (CI machines are noisy); only that the command runs,
prints its table and writes JSON whose rows have the shape the docs describe:
never-seen verification against both PyJWT baselines, the verification
cache as a row of its own without a ratio, and ratios on the refresh rows.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("fastapi")
pytest.importorskip("flask")


def test_quick_run_prints_a_table_and_writes_json(tmp_path: Path) -> None:
    output = tmp_path / "bench.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--ops",
            "60",
            "--rounds",
            "2",
            "--only",
            "verify,lifecycle,http",
            "--backends",
            "memory",
            "--json",
            str(output),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "verify_access" in done.stdout and "refresh (sync)" in done.stdout
    document = json.loads(output.read_text())
    assert document["machine"]["pyjwt"] in done.stdout.splitlines()[0]
    rows = {(row["group"], row["name"]): row for row in document["rows"]}
    assert {("memory", "refresh (async)"), ("HTTP", "FastAPI refresh endpoint")} <= set(rows)
    fresh = rows[("verify_access", "HS256 never-seen token")]
    assert set(fresh["extra"]["baselines_us"]) == {"jwt.decode", "floor"}
    assert fresh["target"] == 1.00 and fresh["note"].startswith("baseline: ")
    cached = rows[("verify cache", "HS256 repeated token (cache hit)")]
    assert cached["ratio"] is None and cached["ours_us"] > 0
    refresh = rows[("memory", "refresh (sync)")]
    assert refresh["target"] == 1.25 and refresh["verdict"] in {"ok", "MISS"}
    assert all(row["ratio"] > 0 for row in rows.values() if row["ratio"] is not None)
