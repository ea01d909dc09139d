"""The ``refreshkit`` command: keys, JWKS, operator tools, migrations, one-line errors."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

click_testing = pytest.importorskip("click.testing")

from refreshkit import KeySet, Settings, SigningKey, TokenManager  # noqa: E402
from refreshkit._jwt import SUPPORTED_ALGORITHMS  # noqa: E402
from refreshkit.cli import cli  # noqa: E402

COMMANDS = [
    [],
    ["demo"],
    ["keygen"],
    ["client-secret"],
    ["jwks"],
    ["purge"],
    ["sessions"],
    ["revoke"],
    ["db"],
    ["db", "upgrade"],
    ["db", "downgrade"],
    ["db", "current"],
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("REFRESHKIT_"):
            monkeypatch.delenv(name)


@pytest.fixture
def runner() -> click_testing.CliRunner:
    return click_testing.CliRunner()


def run(runner: click_testing.CliRunner, *args: str, **env: str) -> click_testing.Result:
    return runner.invoke(cli, list(args), env=env or None, catch_exceptions=False)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "refreshkit")
def test_every_command_has_help(runner: click_testing.CliRunner, command: list[str]) -> None:
    result = run(runner, *command, "--help")
    assert result.exit_code == 0
    assert "Usage: " in result.output
    assert len(result.output.splitlines()) > 3


# -------------------------------------------------------------------- clients


def test_client_secret_prints_a_secret_and_a_registration_holding_only_its_hash(
    runner: click_testing.CliRunner,
) -> None:
    from refreshkit.clients import ClientCredentials, ClientRegistry

    result = run(runner, "client-secret", "partner")
    assert result.exit_code == 0
    secret = result.output.split("client_secret: ", 1)[1].split()[0]
    registration = json.loads(result.output[result.output.index("{") :])
    assert registration["client_id"] == "partner" and secret not in json.dumps(registration)
    registry = ClientRegistry(Settings(clients=json.dumps([registration])))  # type: ignore[arg-type]
    credentials = ClientCredentials("partner", secret, "client_secret_basic")
    assert registry.authenticate(credentials) == "partner"


# ----------------------------------------------------------------------- keys


def test_keygen_prints_an_eddsa_pem_and_its_public_jwks(runner: click_testing.CliRunner) -> None:
    result = run(runner, "keygen", "--alg", "EdDSA")
    assert result.exit_code == 0
    pem, _, jwks_text = result.output.partition("-----END PRIVATE KEY-----\n")
    key = SigningKey.from_pem(pem + "-----END PRIVATE KEY-----\n")
    jwks = json.loads(jwks_text)
    assert jwks == {"keys": [key.public_jwk()]}
    assert "d" not in jwks["keys"][0]  # public half only


def test_keygen_as_jwk_round_trips(runner: click_testing.CliRunner) -> None:
    result = run(runner, "keygen", "--alg", "ES256", "--format", "jwk", "--kid", "k1")
    first_line, _, rest = result.output.partition("\n")
    key = SigningKey.from_jwk(first_line)
    assert key.kid == "k1"
    assert key.algorithm == "ES256"
    assert json.loads(rest)["keys"][0]["kid"] == "k1"


def test_keygen_writes_a_private_file_only_the_owner_reads(
    runner: click_testing.CliRunner, tmp_path: Path
) -> None:
    target = tmp_path / "signing.pem"
    result = run(runner, "keygen", "--out", str(target))
    assert result.exit_code == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert SigningKey.from_pem(target.read_text()).can_sign
    assert "PRIVATE KEY" not in result.stdout
    again = runner.invoke(cli, ["keygen", "--out", str(target)])
    assert again.exit_code == 1
    assert "refusing to overwrite" in again.output


def test_a_symmetric_key_has_no_pem_and_no_jwks(runner: click_testing.CliRunner) -> None:
    refused = runner.invoke(cli, ["keygen", "--alg", "HS256"])
    assert refused.exit_code == 2
    assert "--format jwk" in refused.output
    result = run(runner, "keygen", "--alg", "HS256", "--format", "jwk")
    assert json.loads(result.output)["kty"] == "oct"


def test_jwks_publishes_the_configured_key_from_text_or_path(
    runner: click_testing.CliRunner, tmp_path: Path
) -> None:
    key = SigningKey.generate("EdDSA")
    from_text = run(runner, "jwks", REFRESHKIT_PRIVATE_KEY=key.private_pem())
    assert json.loads(from_text.output) == {"keys": [key.public_jwk()]}
    path = tmp_path / "key.pem"
    path.write_text(key.private_pem())
    from_path = run(runner, "jwks", REFRESHKIT_PRIVATE_KEY=str(path))
    assert json.loads(from_path.output) == json.loads(from_text.output)
    from_option = run(runner, "jwks", "--private-key", str(path))
    assert json.loads(from_option.output) == json.loads(from_text.output)


@pytest.mark.parametrize("algorithm", SUPPORTED_ALGORITHMS)
def test_jwks_reads_the_jwk_file_keygen_writes_for_every_algorithm(
    runner: click_testing.CliRunner, tmp_path: Path, algorithm: str
) -> None:
    path = tmp_path / "signing.jwk"
    written = run(runner, "keygen", "--alg", algorithm, "--format", "jwk", "--out", str(path))
    assert written.exit_code == 0, written.output
    symmetric = algorithm.startswith("HS")
    for option, env in (
        (["--private-key", str(path)], {}),
        ([], {"REFRESHKIT_PRIVATE_KEY": str(path)}),
    ):
        result = runner.invoke(cli, ["jwks", *option], env=env)
        if symmetric:  # read, then refused for the right reason: a shared secret is never published
            assert result.exit_code == 1
            assert "symmetric" in result.output
        else:
            assert result.exit_code == 0, result.output
            # click < 8.2 mixes keygen's stderr note into stdout: the JWKS starts at "{".
            printed = written.stdout[written.stdout.index("{") :]
            assert json.loads(result.output) == json.loads(printed)
            assert json.loads(result.output)["keys"][0]["alg"] == algorithm


def test_jwks_reads_a_jwk_given_as_text(runner: click_testing.CliRunner) -> None:
    key = SigningKey.generate("ES256", kid="k1")
    result = run(runner, "jwks", REFRESHKIT_PRIVATE_KEY=json.dumps(key.private_jwk()))
    assert json.loads(result.output) == {"keys": [key.public_jwk()]}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "no signing key"),
        ({"REFRESHKIT_SECRET_KEY": "s" * 32}, "symmetric"),
        ({"REFRESHKIT_ACCESS_TTL": "forever", "REFRESHKIT_SECRET_KEY": "s" * 32}, "access_ttl"),
    ],
)
def test_jwks_errors_are_one_line(
    runner: click_testing.CliRunner, env: dict[str, str], message: str
) -> None:
    result = runner.invoke(cli, ["jwks"], env=env)
    assert result.exit_code == 1
    assert message in result.output
    assert result.output.startswith("Error: ")
    assert len(result.output.strip().splitlines()) == 1


# ------------------------------------------------------------ store operators

sql = pytest.importorskip("refreshkit.backends.sql.migrate")


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    sql.upgrade(url)
    return url


def manager_on(url: str) -> TokenManager:
    return TokenManager(Settings(store_url=url), keys=KeySet.generate("HS256"))


@pytest.mark.sqlite
def test_sessions_lists_a_subjects_live_sessions(
    runner: click_testing.CliRunner, database: str
) -> None:
    with manager_on(database) as manager:
        pairs = [manager.issue("alice", scope="read") for _ in range(2)]
        manager.issue("bob")
    table = run(runner, "sessions", "alice", "--store", database)
    assert table.exit_code == 0
    assert table.output.splitlines()[0].split() == [
        "sid",
        "created_at",
        "last_used_at",
        "expires_at",
        "scope",
    ]
    assert all(pair.sid in table.output for pair in pairs)
    as_json = run(runner, "sessions", "alice", "--json", REFRESHKIT_STORE_URL=database)
    assert {row["sid"] for row in json.loads(as_json.output)} == {p.sid for p in pairs}
    nobody = run(runner, "sessions", "carol", "--store", database)
    assert "no live sessions for carol" in nobody.output


@pytest.mark.sqlite
def test_revoke_ends_one_session_or_every_session_of_a_subject(
    runner: click_testing.CliRunner, database: str
) -> None:
    with manager_on(database) as manager:
        first, second, third = (manager.issue("alice") for _ in range(3))
        one = run(runner, "revoke", "--session", first.sid, "--store", database)
        assert f"session {first.sid} revoked" in one.output
        assert {s.sid for s in manager.sessions("alice")} == {second.sid, third.sid}
        everything = run(runner, "revoke", "alice", "--store", database)
        assert "revoked 2 session(s) of alice" in everything.output
        assert manager.sessions("alice") == []


def test_revoke_needs_exactly_one_target(runner: click_testing.CliRunner) -> None:
    neither = runner.invoke(cli, ["revoke", "--store", "sqlite://"])
    both = runner.invoke(cli, ["revoke", "alice", "--session", "s", "--store", "sqlite://"])
    assert neither.exit_code == both.exit_code == 2


@pytest.mark.sqlite
def test_purge_deletes_expired_sessions(runner: click_testing.CliRunner, database: str) -> None:
    with manager_on(database) as manager:
        manager.issue("alice")
    fresh = run(runner, "purge", "--store", database)
    assert fresh.output.strip() == "purged 0 expired session(s)"


@pytest.mark.sqlite
@pytest.mark.parametrize("command", [["sessions", "alice"], ["revoke", "alice"], ["purge"]])
def test_operator_commands_never_create_a_database_at_a_mistyped_path(
    runner: click_testing.CliRunner, tmp_path: Path, command: list[str]
) -> None:
    typo = tmp_path / "typo.db"
    result = runner.invoke(cli, [*command, "--store", f"sqlite:///{typo}"])
    assert result.exit_code == 1
    assert f"no SQLite database at {typo}" in result.output
    assert "refreshkit db upgrade" in result.output
    assert not typo.exists()


def test_operator_commands_refuse_the_memory_store(runner: click_testing.CliRunner) -> None:
    result = runner.invoke(cli, ["purge"])
    assert result.exit_code == 1
    assert "no store configured" in result.output


def test_unknown_refreshkit_variables_are_reported_not_fatal(
    runner: click_testing.CliRunner, tmp_path: Path
) -> None:
    result = runner.invoke(
        cli,
        ["purge", "--store", f"sqlite:///{tmp_path / 'x.db'}"],
        env={"REFRESHKIT_NOT_A_SETTING": "1"},
    )
    assert "ignoring REFRESHKIT_NOT_A_SETTING" in result.output


@pytest.mark.sqlite
def test_db_upgrade_current_and_downgrade(runner: click_testing.CliRunner, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'migrated.db'}"
    assert run(runner, "db", "current", url).output.strip() == "base"
    upgraded = run(runner, "db", "upgrade", url)
    assert upgraded.output.strip() == f"at revision {sql.head()}"
    assert run(runner, "db", "current", url).output.strip() == sql.head()
    downgraded = run(runner, "db", "downgrade", url, "base")
    assert downgraded.output.strip() == "at revision base"


def test_db_errors_are_one_line(runner: click_testing.CliRunner) -> None:
    result = runner.invoke(cli, ["db", "upgrade", "nosuchdb://x"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ")
    assert len(result.output.strip().splitlines()) == 1


def test_the_installed_command_prints_no_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFRESHKIT_")}
    completed = subprocess.run(
        [sys.executable, "-m", "refreshkit.cli", "sessions", "alice", "--store", "bogus://"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert completed.returncode == 1
    assert "Traceback" not in completed.stderr
    assert completed.stderr.startswith("Error: ")
