"""Fail unless pyright finds the public API of refreshkit 100% typed.

Runs ``pyright --verifytypes refreshkit --ignoreexternal`` against the
installed package (so run it inside an environment where refreshkit and all
its extras are installed, like tox's ``type`` env), prints pyright's report,
and exits 1 when the type completeness score is below 100%.

    python scripts/verify_types.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def main() -> int:
    """Run pyright and return the process exit status."""
    command = [
        sys.executable,
        "-m",
        "pyright",
        "--pythonpath",
        sys.executable,
        "--verifytypes",
        "refreshkit",
        "--ignoreexternal",
    ]
    # pyright finds the installed package through the active environment.
    bin_dir = os.path.dirname(sys.executable)
    env = {
        **os.environ,
        "VIRTUAL_ENV": sys.prefix,
        "PATH": bin_dir + os.pathsep + os.environ["PATH"],
    }
    report = subprocess.run(
        [*command, "--outputjson"], check=False, capture_output=True, text=True, env=env
    )
    try:
        result = json.loads(report.stdout)
        completeness = result["typeCompleteness"]
        score = completeness["completenessScore"]
    except (ValueError, KeyError) as exc:
        print(f"could not read pyright's report: {exc}\n{report.stdout}\n{report.stderr}")
        return 1
    for diagnostic in result.get("generalDiagnostics", []):
        if diagnostic.get("severity") == "error":
            line = diagnostic.get("range", {}).get("start", {}).get("line", -1) + 1
            where = diagnostic.get("file", "").split("site-packages/")[-1]
            print(f"{where}:{line}: {diagnostic['message']}")
    for symbol in completeness.get("symbols", []):
        for diagnostic in symbol.get("diagnostics", []):
            if diagnostic.get("severity") == "error":
                print(f"  {symbol['name']}: {diagnostic['message'].splitlines()[0]}")
    print(f"public API type completeness: {score:.1%}")
    if score < 1.0:
        print("pyright --verifytypes: the public API must be 100% typed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
