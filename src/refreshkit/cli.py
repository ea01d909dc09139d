"""The ``refreshkit`` command: the demo, keys, and operator tools for a store.

Configuration comes from ``REFRESHKIT_*`` environment variables (see
:class:`refreshkit.Settings`), or ``--store URL`` for the store. Every
failure prints one line and exits non-zero; there are no tracebacks.
Needs the ``[cli]`` extra (``pip install 'refreshkit[cli]'``).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import MissingExtraError

try:
    import click
except ImportError as _missing:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError(
        "the refreshkit command line needs click: pip install 'refreshkit[cli]'"
    ) from _missing

from . import __version__
from ._jwt import SUPPORTED_ALGORITHMS
from ._operators import KEY_FORMATS, generate_key, session_rows, table_lines, write_private_key
from ._sync.manager import TokenManager
from .backends import create_store
from .backends.base import TokenStore
from .clients import Client, new_client_secret
from .config import Settings
from .errors import ConfigurationError, RefreshKitError
from .keys import KeySet, SigningKey

__all__ = ["cli", "main"]

_STORE_HELP = "Token store URL (default: $REFRESHKIT_STORE_URL), e.g. sqlite:///app.db"


class _Group(click.Group):
    """A group whose commands report refreshkit and OS errors as one line, exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (RefreshKitError, OSError, ValueError) as exc:
            raise click.ClickException(_one_line(exc)) from None


def _one_line(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="refreshkit")
def cli() -> None:
    """refreshkit: secure token refresh for Python web apps.

    Start with `refreshkit demo`. Configure the other commands with
    REFRESHKIT_* environment variables (REFRESHKIT_STORE_URL,
    REFRESHKIT_PRIVATE_KEY, ...) or --store.
    """


# ---------------------------------------------------------------------- demo


@cli.command()
@click.option("--serve", is_flag=True, help="Keep the server running afterwards; print curl lines.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="Port (0: a free one).")
@click.option(
    "--database",
    type=click.Path(dir_okay=False),
    default=None,
    help="SQLite file to use and keep (default: a temporary one, removed at exit).",
)
def demo(serve: bool, port: int, database: str | None) -> None:
    """Run the FastAPI example on SQLite and narrate the token lifecycle over HTTP.

    Login, a protected call, access-token expiry, refresh with rotation, a
    replayed refresh token, reuse detection revoking the session, and logout.
    SIGTERM (and Ctrl+C, unless the shell that started it ignores SIGINT)
    stops it cleanly: the server stops and a temporary database is removed.
    """
    from . import _demo

    clock = _demo.DemoClock()
    serving = False
    try:
        with _stop_on_signals(), _demo.demo_database(database) as url:
            app, events = _demo.demo_app(url, clock)
            with _demo.running_server(app, port) as base_url:
                _demo.narrate(base_url, click.echo, events=events)
                if serve:
                    serving = True
                    _serve_forever(base_url, _demo.curl_lines(base_url))
    except _StopRequested as stop:
        # Reached after the with blocks: the server is down, the temporary database gone.
        click.echo("\nstopped")
        if not serving:  # cut short: say so in the exit status (128 + the signal)
            sys.exit(128 + stop.signum)


class _StopRequested(BaseException):
    """SIGTERM or SIGINT arrived: unwind (stopping the server, removing files), then exit.

    A BaseException, like KeyboardInterrupt, so no ``except Exception`` on the
    way swallows it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextmanager
def _stop_on_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGINT into :class:`_StopRequested` while the demo runs.

    Explicit handlers, not Python's KeyboardInterrupt: a shell that starts a
    job in the background sets SIGINT to "ignore", and ``kill`` sends SIGTERM,
    whose default ends the process without any cleanup. An ignored SIGINT
    stays ignored (the shell meant it: Ctrl+C is for the foreground job).
    The first signal restores the previous handlers, so a second one is not
    caught again while the demo cleans up.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may install handlers; its caller owns signals
        return
    wanted = [signal.SIGTERM]
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        wanted.append(signal.SIGINT)
    previous = {signum: signal.getsignal(signum) for signum in wanted}

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    def stop(signum: int, _frame: object) -> None:
        restore()
        raise _StopRequested(signum)

    for signum in wanted:
        signal.signal(signum, stop)
    try:
        yield
    finally:
        restore()


def _serve_forever(base_url: str, commands: list[str]) -> None:
    """Print how to use the served demo, then wait for SIGTERM or SIGINT."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        how = f"kill {os.getpid()} stops it (Ctrl+C is ignored: started in the background)"
    else:
        how = f"Ctrl+C or kill {os.getpid()} stops it"
    click.echo("")
    click.echo(f"Serving at {base_url} (open it in a browser); {how}.")
    from ._demo import BROWSER_PAGE_PATH

    click.echo(f"refreshkit.js at work: open {base_url}{BROWSER_PAGE_PATH} in two tabs.")
    click.echo("Try, setting ACCESS and REFRESH from the login response:")
    for line in commands:
        click.echo(f"  {line}")
    sys.stdout.flush()  # the lines must show now, even when stdout is a pipe
    threading.Event().wait()  # until a signal handler raises _StopRequested


# ---------------------------------------------------------------------- keys


@cli.command()
@click.option(
    "--alg",
    "algorithm",
    type=click.Choice(SUPPORTED_ALGORITHMS),
    default="EdDSA",
    show_default=True,
    help="Signing algorithm.",
)
@click.option(
    "--format",
    "key_format",
    type=click.Choice(KEY_FORMATS),
    default="pem",
    show_default=True,
    help="Form of the private key.",
)
@click.option("--kid", default=None, help="Key id (default: the RFC 7638 thumbprint).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Write the private key to this file (mode 600) instead of stdout.",
)
def keygen(algorithm: str, key_format: str, kid: str | None, out: str | None) -> None:
    """Generate a signing key: the private key (PEM or JWK), then its public JWKS.

    Keep the private key secret (REFRESHKIT_PRIVATE_KEY); publish the JWKS.
    HS* keys are shared secrets: JWK only, and never published.
    """
    try:
        key = generate_key(algorithm, key_format, kid)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if out is not None:
        write_private_key(Path(out), key.private)
        click.echo(f"private key written to {out}", err=True)
    else:
        click.echo(key.private, nl=False)
    if key.jwks is not None:
        click.echo(key.jwks)


@cli.command("client-secret")
@click.argument("client_id")
def client_secret(client_id: str) -> None:
    """Make a confidential client's secret and the registration that stores only its hash.

    Give the secret (first line, on stderr) to the client's operator once;
    put the JSON registration (stdout) in REFRESHKIT_CLIENTS. refreshkit
    never needs the secret again.
    """
    secret = new_client_secret()
    registration = Client.confidential_with_secret(client_id, secret)
    click.echo(f"client_secret: {secret}", err=True)
    entry = {
        "client_id": registration.client_id,
        "secret_hash": registration.secret_hash,
        "auth_methods": list(registration.auth_methods),
    }
    click.echo(json.dumps(entry, indent=2))


@cli.command()
@click.option(
    "--private-key",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="PEM or JWK file of the signing key (default: $REFRESHKIT_PRIVATE_KEY, text or path).",
)
def jwks(private_key: str | None) -> None:
    """Print the public JWKS of the configured signing key."""
    keys = _configured_keys(_settings(None), private_key)
    document = keys.jwks()
    if not document["keys"]:
        raise ConfigurationError("the configured key is symmetric (HS*): it is never published")
    click.echo(json.dumps(document, indent=2))


def _configured_keys(settings: Settings, private_key_file: str | None) -> KeySet:
    """The signing key from ``--private-key``, else ``REFRESHKIT_PRIVATE_KEY`` (text or path).

    Either holds a PEM or a JWK (what ``keygen --format jwk`` writes); a JWK
    carries its own algorithm and kid. Raises ConfigurationError for neither.
    """
    text = settings.private_key
    if private_key_file is not None:
        text = Path(private_key_file).read_text()
    elif text and not _is_key_text(text) and Path(text).is_file():
        text = Path(text).read_text()
    if text and text.lstrip().startswith("{"):
        try:
            return KeySet(SigningKey.from_jwk(text))
        except ValueError as exc:  # bad JSON; key errors are ConfigurationErrors already
            raise ConfigurationError(f"unusable JWK key: {exc}") from None
    return KeySet.from_settings(settings.replace(private_key=text) if text else settings)


def _is_key_text(value: str) -> bool:
    """Whether ``value`` is a key itself (PEM or JWK), not the path of a file holding one."""
    return "-----BEGIN" in value or value.lstrip().startswith("{")


# ------------------------------------------------------------ store operators


def _settings(store_url: str | None) -> Settings:
    """Settings from the REFRESHKIT_* variables that name a setting, plus ``--store``.

    Other REFRESHKIT_* variables (a test harness's, a typo) are reported on
    stderr and ignored, so an unrelated variable never blocks an operator.
    """
    known = {f"REFRESHKIT_{name.upper()}" for name in Settings.__dataclass_fields__}
    environ = {}
    for name, value in os.environ.items():
        if not name.upper().startswith("REFRESHKIT_"):
            continue
        if name.upper() in known:
            environ[name] = value
        else:
            click.echo(f"refreshkit: ignoring {name}: not a setting", err=True)
    settings = Settings.from_env(environ)
    return settings.replace(store_url=store_url) if store_url else settings


@contextmanager
def _operator(store_url: str | None) -> Iterator[TokenManager]:
    """A manager on the configured store, for commands that never sign a token."""
    settings = _settings(store_url)
    url = settings.store_url or "memory://"
    if url.startswith("memory:"):
        raise ConfigurationError(
            "no store configured: pass --store URL or set REFRESHKIT_STORE_URL "
            "(memory:// holds nothing between runs)"
        )
    _refuse_a_missing_sqlite_file(url)
    store: TokenStore = create_store(url)
    try:
        # Operator commands revoke, list and purge; they never sign, so any key will do.
        yield TokenManager(settings, keys=KeySet.generate("HS256"), store=store)
    finally:
        store.close()


def _refuse_a_missing_sqlite_file(url: str) -> None:
    """Operator commands read a store that exists: a mistyped SQLite path is an error.

    The SQLite store creates its tables by default, which would otherwise
    turn ``--store sqlite:///typo.db`` into a new, empty database.
    """
    if not url.startswith("sqlite"):
        return
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    on_disk = bool(database) and database != ":memory:" and not str(database).startswith("file:")
    if on_disk and not Path(str(database)).exists():
        raise ConfigurationError(
            f"no SQLite database at {database}: check the path, or create it "
            f"with `refreshkit db upgrade {url}`"
        )


def _store_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--store", "store_url", default=None, help=_STORE_HELP)(fn)


@cli.command()
@_store_option
@click.option("--batch-size", type=click.IntRange(1), default=1000, show_default=True)
def purge(store_url: str | None, batch_size: int) -> None:
    """Delete expired sessions, refresh records and access denials now."""
    with _operator(store_url) as manager:
        deleted = manager.purge_expired(batch_size=batch_size)
    click.echo(f"purged {deleted} expired session(s)")


@cli.command()
@_store_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.argument("subject")
def sessions(store_url: str | None, as_json: bool, subject: str) -> None:
    """List the live sessions (devices) of SUBJECT, most recently used first."""
    with _operator(store_url) as manager:
        live = manager.sessions(subject)
    rows = session_rows(live)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no live sessions for {subject}")
        return
    for line in table_lines(rows):
        click.echo(line)


@cli.command()
@_store_option
@click.option("--session", "sid", default=None, help="Revoke this one session instead.")
@click.argument("subject", required=False)
def revoke(store_url: str | None, sid: str | None, subject: str | None) -> None:
    """Log SUBJECT out everywhere, or end one session with --session SID."""
    if (subject is None) == (sid is None):
        raise click.UsageError("give either SUBJECT or --session SID")
    with _operator(store_url) as manager:
        if sid is not None:
            revoked = manager.revoke_session(sid, reason="operator")
            click.echo(f"session {sid} {'revoked' if revoked else 'was not live'}")
        else:
            assert subject is not None
            count = manager.revoke_subject(subject, reason="operator")
            click.echo(f"revoked {count} session(s) of {subject}")


# ------------------------------------------------------------------ database


@cli.group(cls=_Group)
def db() -> None:
    """Apply the SQL store's schema migrations (Alembic, shipped in the package)."""


def _migrate() -> Any:
    try:
        from .backends.sql import migrate
    except ModuleNotFoundError as exc:
        raise ConfigurationError(
            f"migrations need the SQL extra ({exc.name}): pip install 'refreshkit[sql]'"
        ) from exc
    return migrate


_prefix_option = click.option(
    "--table-prefix", default=None, help="Table name prefix (default: the store's)."
)


def _prefix(table_prefix: str | None) -> dict[str, str]:
    return {"table_prefix": table_prefix} if table_prefix else {}


@db.command()
@_prefix_option
@click.argument("url")
@click.argument("revision", default="head")
def upgrade(table_prefix: str | None, url: str, revision: str) -> None:
    """Migrate the database at URL up to REVISION (default: the newest)."""
    migrate = _migrate()
    migrate.upgrade(url, revision, **_prefix(table_prefix))
    click.echo(f"at revision {migrate.current(url, **_prefix(table_prefix))}")


@db.command()
@_prefix_option
@click.argument("url")
@click.argument("revision")
def downgrade(table_prefix: str | None, url: str, revision: str) -> None:
    """Migrate the database at URL down to REVISION ("base" removes every table)."""
    migrate = _migrate()
    migrate.downgrade(url, revision, **_prefix(table_prefix))
    click.echo(f"at revision {migrate.current(url, **_prefix(table_prefix)) or 'base'}")


@db.command()
@_prefix_option
@click.argument("url")
def current(table_prefix: str | None, url: str) -> None:
    """Print the schema revision of the database at URL ("base": none applied)."""
    click.echo(_migrate().current(url, **_prefix(table_prefix)) or "base")


# ---------------------------------------------------------------------- entry


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``refreshkit`` script: run :data:`cli`, one-line errors only."""
    try:
        cli.main(args=argv, prog_name="refreshkit")
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # the last line of defence: a message, never a traceback
        click.echo(f"Error: {type(exc).__name__}: {_one_line(exc)}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
