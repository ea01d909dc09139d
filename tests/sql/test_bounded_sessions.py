"""A session is one row however often it is refreshed, and its first token is still reuse.

The store keeps only the newest and the previous token and the hash of the
session's chain key, so after a thousand rotations the session takes the
same storage as after one, and presenting the very first token (spent 999
rotations ago) is recognised as reuse and revokes the session.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from refreshkit import FrozenClock, KeySet, Settings, TokenManager
from refreshkit._async.conformance import T0
from refreshkit.backends.sql import SQLStore
from refreshkit.errors import TokenReuseError

from .conftest import Database

REFRESHES = 1000


@pytest.fixture
def store(database: Database) -> Iterator[SQLStore]:
    store = SQLStore(database.url, table_prefix=database.prefix)
    yield store
    store.close()


def _rows(store: SQLStore, sid: str | None = None) -> int:
    sessions = store.tables.sessions
    count = sa.select(sa.func.count()).select_from(sessions)
    if sid is not None:
        count = count.where(sessions.c.sid == sid)
    with store.engine.connect() as connection:
        return int(connection.scalar(count) or 0)


@pytest.mark.slow
def test_a_thousand_refreshes_keep_one_row_and_the_first_token_is_still_reuse(
    store: SQLStore,
) -> None:
    clock = FrozenClock(T0)
    manager = TokenManager(Settings(), keys=KeySet.generate(), store=store, clock=clock)
    first = manager.issue("alice")
    token = first.refresh_token
    for _ in range(REFRESHES):
        clock.advance(timedelta(minutes=1))  # past the retry window: every rotation is new
        token = manager.refresh(token).refresh_token
    stored = store.get_session(first.sid)
    assert stored is not None and stored.generation == REFRESHES
    assert _rows(store) == _rows(store, first.sid) == 1
    with pytest.raises(TokenReuseError):
        manager.refresh(first.refresh_token)
    revoked = store.get_session(first.sid)
    assert revoked is not None and revoked.revoked_reason == "reuse"
    assert _rows(store) == _rows(store, first.sid) == 1
