"""Build the sdist and wheel, check them, and import the wheel in clean venvs.

What a release would ship must work for a user who runs ``pip install
refreshkit`` (only PyJWT and cryptography) as much as for one who asks for
an extra. Steps:

1. ``python -m build`` the sdist and the wheel; ``twine check --strict`` both.
2. Check the wheel holds ``py.typed``, the generated sync modules and the
   non-Python package data (SQL migrations, Lua scripts) the sdist has.
3. In a fresh venv with the wheel and only its core dependencies, import
   every module of the package. A module that needs an extra must either
   import or raise :class:`refreshkit.errors.ConfigurationError` naming the
   ``pip install`` that fixes it; ``refreshkit.testing`` may only miss pytest.
4. For each extra, a fresh venv with ``refreshkit[extra]``: the modules that
   extra exists for must import.

    python scripts/check_dist.py WORKDIR
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Modules each extra must make importable (beyond the core).
EXTRA_MODULES: dict[str, list[str]] = {
    "sql": ["refreshkit.backends.sql"],
    "postgres": ["refreshkit.backends.sql", "psycopg", "asyncpg"],
    "mysql": ["refreshkit.backends.sql", "pymysql", "aiomysql"],
    "redis": ["refreshkit.backends.redis"],
    "fastapi": ["refreshkit.adapters.fastapi"],
    "flask": ["refreshkit.adapters.flask"],
    "client": ["refreshkit.client"],
    "cli": ["refreshkit.cli"],
    "all": [],
}

#: Runs inside a clean venv: import every module, classify the failures.
IMPORT_PROBE = r"""
import importlib, pkgutil, sys
import refreshkit
from refreshkit.errors import ConfigurationError

required = sys.argv[1:]
strict = required == ["*"]
try:  # the Django app's models and admin import only inside a configured project
    import django
    from django.conf import settings
except ModuleNotFoundError:
    pass
else:
    settings.configure(
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "django.contrib.admin",
            "refreshkit.adapters.django",
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    )
    django.setup()
failures, missing_extra = [], []
names = ["refreshkit"] + [
    m.name for m in pkgutil.walk_packages(refreshkit.__path__, "refreshkit.")
]
for name in names:
    try:
        importlib.import_module(name)
    except ConfigurationError as exc:
        if "pip install" not in str(exc) or strict:
            failures.append(f"{name}: ConfigurationError without a pip hint: {exc}")
        else:
            missing_extra.append(name)
    except ModuleNotFoundError as exc:
        needs_pytest = exc.name == "pytest" and (
            name == "refreshkit.testing" or name.endswith(".conformance")
        )
        if needs_pytest:
            missing_extra.append(name)
        else:
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
    except Exception as exc:
        failures.append(f"{name}: {type(exc).__name__}: {exc}")
for name in [] if strict else required:
    if name in missing_extra or any(f.startswith(name + ":") for f in failures):
        failures.append(f"{name}: must import with this extra")
    else:
        importlib.import_module(name)
print(f"  imported {len(names) - len(missing_extra)} of {len(names)} modules;"
      f" needing another extra: {', '.join(missing_extra) or 'none'}")
for line in failures:
    print("  FAIL", line)
sys.exit(1 if failures else 0)
"""


def run(*command: str | Path, cwd: Path | None = None) -> None:
    """Run ``command``, echoing it; raise SystemExit on failure."""
    printable = " ".join(str(part) for part in command)
    print(f"$ {printable}", flush=True)
    result = subprocess.run([str(part) for part in command], cwd=cwd, check=False)
    if result.returncode != 0:
        raise SystemExit(f"failed ({result.returncode}): {printable}")


def uv_binary() -> str:
    """The uv executable: from the ``uv`` package installed beside us, or PATH."""
    try:
        from uv import find_uv_bin
    except ImportError:
        found = shutil.which("uv")
        if found is None:
            raise SystemExit("uv is needed: pip install uv") from None
        return found
    return str(find_uv_bin())


def check_contents(wheel: Path, sdist: Path) -> None:
    """The wheel ships everything the package needs at run time."""
    with zipfile.ZipFile(wheel) as archive:
        wheel_files = {n for n in archive.namelist() if n.startswith("refreshkit/")}
    with tarfile.open(sdist) as archive:
        prefix = f"{sdist.name.removesuffix('.tar.gz')}/src/"
        sdist_files = {
            m.name.removeprefix(prefix)
            for m in archive.getmembers()
            if m.isfile() and m.name.startswith(prefix + "refreshkit/")
        }
    missing = sorted(
        name
        for name in sdist_files - wheel_files
        if "__pycache__" not in name and not name.endswith(".pyc")
    )
    if missing:
        raise SystemExit(f"files in the sdist but not in the wheel: {missing}")
    for needed in (
        "refreshkit/py.typed",
        "refreshkit/_sync/manager.py",
        "refreshkit/static/refreshkit.js",
        "refreshkit/static/refreshkit.d.ts",
    ):
        if needed not in wheel_files:
            raise SystemExit(f"the wheel lacks {needed}")
    print(f"  wheel holds {len(wheel_files)} package files, sdist {len(sdist_files)}")


def import_check(uv: str, workdir: Path, wheel: Path, extra: str | None) -> None:
    """Install the wheel (with ``extra``) in a fresh venv and run the probe."""
    label = extra or "core"
    print(f"--- {label}: fresh venv", flush=True)
    venv = workdir / f"venv-{label}"
    shutil.rmtree(venv, ignore_errors=True)
    run(uv, "venv", "--quiet", "--python", sys.executable, venv)
    python = venv / "bin" / "python"
    requirement = f"refreshkit[{extra}] @ {wheel.as_uri()}" if extra else str(wheel)
    run(uv, "pip", "install", "--quiet", "--python", python, requirement)
    required = ["*"] if extra == "all" else EXTRA_MODULES.get(extra or "", [])
    probe = workdir / "import_probe.py"
    probe.write_text(IMPORT_PROBE)
    run(python, probe, *required, cwd=workdir)


def testing_check(uv: str, workdir: Path, wheel: Path) -> None:
    """``refreshkit.testing`` needs only the core and pytest."""
    print("--- core + pytest: refreshkit.testing", flush=True)
    venv = workdir / "venv-testing"
    shutil.rmtree(venv, ignore_errors=True)
    run(uv, "venv", "--quiet", "--python", sys.executable, venv)
    python = venv / "bin" / "python"
    run(uv, "pip", "install", "--quiet", "--python", python, wheel, "pytest")
    run(python, "-c", "import refreshkit.testing", cwd=workdir)


def main() -> int:
    """Build, check and import; return 0 when everything holds."""
    workdir = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "dist").resolve()
    dist = workdir / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    run(sys.executable, "-m", "build", "--installer", "uv", "--outdir", dist, ROOT)
    wheels, sdists = list(dist.glob("*.whl")), list(dist.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        raise SystemExit(f"expected one wheel and one sdist in {dist}")
    run(sys.executable, "-m", "twine", "check", "--strict", *wheels, *sdists)
    check_contents(wheels[0], sdists[0])
    uv = uv_binary()
    import_check(uv, workdir, wheels[0], None)
    for extra in EXTRA_MODULES:
        import_check(uv, workdir, wheels[0], extra)
    testing_check(uv, workdir, wheels[0])
    print("pkg: sdist and wheel build, pass twine check, and import in clean venvs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
