"""The benchmark suite runs: `python -m benchmarks --quick` on rows that need no server.

No timing is asserted (CI machines are noisy); only that the command runs,
prints its table and writes JSON with ratios.
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
    rows = json.loads(output.read_text())["rows"]
    names = {(row["group"], row["name"]) for row in rows}
    assert ("memory", "refresh (async)") in names
    assert ("HTTP", "FastAPI refresh endpoint") in names
    assert all(row["ratio"] > 0 for row in rows if row["ratio"] is not None)
