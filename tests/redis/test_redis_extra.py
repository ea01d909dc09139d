"""The Redis backend names its extra when redis-py is missing, like every optional backend."""

from __future__ import annotations

import subprocess
import sys
import textwrap

_IMPORT_WITHOUT_REDIS = textwrap.dedent(
    """
    import sys

    sys.modules["redis"] = None  # what an environment without redis-py looks like to import
    from refreshkit.errors import ConfigurationError

    try:
        import refreshkit.backends.redis
    except ConfigurationError as error:
        print(f"ConfigurationError: {error}")
    except ImportError as error:
        print(f"ImportError: {error}")
    """
)


def test_importing_the_backend_without_redis_py_raises_configuration_error_naming_the_extra() -> (
    None
):
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_WITHOUT_REDIS],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout.startswith("ConfigurationError: "), done.stdout + done.stderr
    assert "pip install 'refreshkit[redis]'" in done.stdout
