"""The browser script's pure parts, under node's own test runner (``node --test tests/js/``).

The script tested is the one in the installed package, so a wheel that
lost it fails here. Needs ``node`` (20 or later) on PATH; nothing from npm.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from importlib import resources
from pathlib import Path

from tests.services import unavailable

JS_TESTS = Path(__file__).parent / "js"


def test_the_script_ships_in_the_package_with_its_type_declarations() -> None:
    static = resources.files("refreshkit") / "static"
    script = static.joinpath("refreshkit.js").read_text(encoding="utf-8")
    assert "export function createRefreshKit" in script
    assert "localStorage" not in script  # the access token lives in memory only
    declarations = static.joinpath("refreshkit.d.ts").read_text(encoding="utf-8")
    assert "export function createRefreshKit" in declarations


def test_the_scripts_pure_parts_pass_under_node() -> None:
    node = shutil.which("node")
    if node is None:
        unavailable("node (Node.js 20+, for node --test tests/js/)", "apt-get install nodejs")
        return
    with resources.as_file(resources.files("refreshkit") / "static" / "refreshkit.js") as script:
        env = {**os.environ, "REFRESHKIT_JS": script.resolve().as_uri()}
        result = subprocess.run(
            [node, "--test", str(JS_TESTS)], capture_output=True, text=True, env=env, timeout=120
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout
    passed = [line for line in result.stdout.splitlines() if line.startswith("# pass ")]
    assert passed and int(passed[0].split()[2]) >= 10, result.stdout
