"""Running the example Django project (``examples/django_project``) in a child process.

The project has its own settings module, and Django is configured once per
process, so each use starts a fresh interpreter with the project's
environment. :func:`serve` runs it on a real threaded WSGI server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "examples" / "django_project"

SERVE = textwrap.dedent(
    """
    import sys

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application
    from werkzeug.serving import make_server

    call_command("migrate", verbosity=0)
    get_user_model().objects.create_user(sys.argv[1], password=sys.argv[2])
    server = make_server("127.0.0.1", 0, get_wsgi_application(), threaded=True)
    print(server.server_port, flush=True)
    server.serve_forever()
    """
)


def project_env(data_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment the project's ``manage.py`` would run in, its data in ``data_dir``."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "EXAMPLE_DATA_DIR": str(data_dir),
        "PYTHONPATH": os.pathsep.join([str(PROJECT), str(ROOT / "src")]),
        **(extra or {}),
    }


def run_in_project(code: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with the project configured; its output is captured."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT,
        env=project_env(data_dir),
        capture_output=True,
        text=True,
    )


@contextmanager
def serve(data_dir: Path, username: str, password: str) -> Iterator[str]:
    """The project migrated, with one user, on a real server: yields its base URL."""
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE, username, password],
        cwd=PROJECT,
        env=project_env(data_dir),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = server.stdout.readline().strip()
        assert port.isdigit(), "the example project did not start (its stderr is above)"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(30)
