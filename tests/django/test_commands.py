"""The management commands operate the configured store through the manager."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from refreshkit import TokenManager
from refreshkit.adapters.django import conf
from refreshkit.keys import SigningKey
from refreshkit.testing import FrozenClock

from .conftest import clear

pytestmark = pytest.mark.django


@pytest.fixture
def manager(sqlite_alias: str) -> Iterator[TokenManager]:
    conf.reset()
    yield conf.get_manager()
    clear(sqlite_alias)
    conf.reset()


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_sessions_lists_a_subjects_live_sessions_as_a_table_or_json(
    manager: TokenManager,
) -> None:
    first, second = manager.issue("alice"), manager.issue("alice")
    manager.issue("bob")
    table = run("refreshkit_sessions", "alice")
    assert table.splitlines()[0].split() == [
        "sid",
        "created_at",
        "last_used_at",
        "expires_at",
        "scope",
    ]
    assert first.sid in table and second.sid in table
    rows = json.loads(run("refreshkit_sessions", "alice", "--json"))
    assert {row["sid"] for row in rows} == {first.sid, second.sid}
    assert "no live sessions for carol" in run("refreshkit_sessions", "carol")


def test_revoke_ends_one_session_or_every_session_of_a_subject(manager: TokenManager) -> None:
    one, two, three = manager.issue("alice"), manager.issue("alice"), manager.issue("alice")
    assert f"session {one.sid} revoked" in run("refreshkit_revoke", "--session", one.sid)
    assert "was not live" in run("refreshkit_revoke", "--session", "0" * 32)
    assert "revoked 2 session(s) of alice" in run("refreshkit_revoke", "alice")
    for pair in (one, two, three):
        stored = manager.store.get_session(pair.sid)
        assert stored is not None and stored.revoked_reason == "operator"
    assert manager.sessions("alice") == []


@pytest.mark.parametrize("arguments", [(), ("alice", "--session", "0" * 32)])
def test_revoke_needs_exactly_one_of_subject_and_session(
    manager: TokenManager, arguments: tuple[str, ...]
) -> None:
    with pytest.raises(CommandError, match="either SUBJECT or --session SID"):
        run("refreshkit_revoke", *arguments)


def test_purge_deletes_expired_sessions_and_keeps_live_ones(manager: TokenManager) -> None:
    clock = FrozenClock(datetime.now(UTC) - timedelta(days=400))
    past = TokenManager(manager.settings, keys=conf.get_keys(), store=manager.store, clock=clock)
    expired = past.issue("alice")
    live = manager.issue("alice")
    assert run("refreshkit_purge").strip() == "purged 1 expired session(s)"
    assert manager.store.get_session(expired.sid) is None
    assert manager.store.get_session(live.sid) is not None


def test_keygen_prints_a_private_key_and_its_public_jwks() -> None:
    output = run("refreshkit_keygen", "--alg", "EdDSA")
    pem, _, jwks_text = output.partition("-----END PRIVATE KEY-----\n")
    key = SigningKey.from_pem(pem + "-----END PRIVATE KEY-----\n")
    assert json.loads(jwks_text) == {"keys": [key.public_jwk()]}


def test_keygen_writes_a_file_only_the_owner_reads_and_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "signing.pem"
    output = run("refreshkit_keygen", "--out", str(target))
    assert "PRIVATE KEY" not in output
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert SigningKey.from_pem(target.read_text()).can_sign
    with pytest.raises(CommandError, match="refusing to overwrite"):
        run("refreshkit_keygen", "--out", str(target))
    with pytest.raises(CommandError, match="--format jwk"):
        run("refreshkit_keygen", "--alg", "HS256")
    assert json.loads(run("refreshkit_keygen", "--alg", "HS256", "--format", "jwk"))["kty"] == "oct"


def test_a_store_outage_is_one_line_not_a_traceback(manager: TokenManager) -> None:
    from refreshkit.adapters.django.store import DjangoStore

    down = TokenManager(manager.settings, keys=conf.get_keys(), store=DjangoStore("unreachable"))
    conf._state["manager"] = down
    with pytest.raises(CommandError, match="failed"):
        run("refreshkit_purge")
