"""A session keeps at most ``history`` retired refresh records: bounded memory, bounded detection.

A replay within the kept history is detected reuse (the session is revoked);
a replay of an older token is merely unknown (refused, nothing revoked).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis

from refreshkit import Settings, TokenManager
from refreshkit._async.conformance import T0, _request, _session
from refreshkit.backends import create_store
from refreshkit.backends.redis import RedisStore
from refreshkit.clock import FrozenClock
from refreshkit.errors import ConfigurationError, InvalidTokenError, TokenReuseError
from refreshkit.models import ConsumeOutcome, RefreshRecord

pytestmark = [pytest.mark.redis]

#: The session's own fields, its current record ('k', 'r') and the retired count ('h').
FIXED_FIELDS = 15
#: Each retired record: its secret, its metadata, and its ring slot.
FIELDS_PER_RETIRED_RECORD = 3
EVERY_15_MINUTES = timedelta(minutes=15)


@pytest.fixture
def manager_with_history_4(
    standalone_client: redis.Redis, key_prefix: str
) -> Iterator[tuple[TokenManager, RedisStore]]:
    store = RedisStore(standalone_client, prefix=key_prefix, history=4)
    manager = TokenManager(Settings(secret_key="s" * 32), store=store, clock=FrozenClock(T0))
    yield manager, store
    manager.close()


def _refresh_times(manager: TokenManager, token: str, times: int) -> list[str]:
    """``[token, and each refresh token issued after it]``, refreshed every 15 minutes."""
    clock = manager.clock
    assert isinstance(clock, FrozenClock)
    tokens = [token]
    for _ in range(times):
        clock.advance(EVERY_15_MINUTES)
        tokens.append(manager.refresh(tokens[-1]).refresh_token)
    return tokens


@pytest.mark.parametrize("history", [0, -1, True, 1.5, "16"])
def test_history_must_be_an_int_of_at_least_one(
    standalone_client: redis.Redis, history: object
) -> None:
    with pytest.raises(ConfigurationError, match="history"):
        RedisStore(standalone_client, history=history)  # type: ignore[arg-type]


def test_history_is_a_store_option_of_the_url_factory(standalone_url: str) -> None:
    with pytest.raises(ConfigurationError, match="history"):
        create_store(standalone_url, history=0)
    store = create_store(standalone_url, history=3)
    assert isinstance(store, RedisStore) and store.history == 3
    store.close()


def test_a_replay_within_history_revokes_the_session_as_reuse(
    manager_with_history_4: tuple[TokenManager, RedisStore],
) -> None:
    manager, store = manager_with_history_4
    pair = manager.issue("alice")
    tokens = _refresh_times(manager, pair.refresh_token, 4)  # retires exactly 4 records
    with pytest.raises(TokenReuseError):
        manager.refresh(tokens[0])  # the oldest one still kept
    session = store.get_session(pair.sid)
    assert session is not None and session.revoked_reason == "reuse"


def test_a_replay_beyond_history_is_refused_as_unknown_without_revoking(
    manager_with_history_4: tuple[TokenManager, RedisStore],
) -> None:
    manager, store = manager_with_history_4
    pair = manager.issue("alice")
    tokens = _refresh_times(manager, pair.refresh_token, 5)  # the first retired one is dropped
    with pytest.raises(InvalidTokenError) as refused:
        manager.refresh(tokens[0])
    assert type(refused.value) is InvalidTokenError  # not TokenReuseError
    session = store.get_session(pair.sid)
    assert session is not None and session.revoked_at is None
    # The legitimate client is unaffected, and a replay inside the history is still caught.
    _refresh_times(manager, tokens[-1], 1)
    with pytest.raises(TokenReuseError):
        manager.refresh(tokens[-1])


def test_a_session_keeps_exactly_history_retired_records_however_often_it_rotates(
    standalone_client: redis.Redis, key_prefix: str
) -> None:
    store = RedisStore(standalone_client, prefix=key_prefix, history=5)
    session, record, _ = _session("alice")
    store.create_session(session, record)
    records = [record]
    for step in range(1, 41):
        result = store.consume(_request(records[-1], now=T0 + step * EVERY_15_MINUTES))
        assert result.outcome is ConsumeOutcome.ROTATED and result.issued is not None
        records.append(result.issued)
        kept = min(step, 5)
        assert standalone_client.hlen(store.keys.session(session.sid)) == (
            FIXED_FIELDS + FIELDS_PER_RETIRED_RECORD * kept
        )
    assert [store.find(r.token_id) is not None for r in records] == [False] * 35 + [True] * 6


def test_the_predecessor_outlives_a_history_of_one_through_every_grace_reissue(
    standalone_client: redis.Redis, key_prefix: str
) -> None:
    """Grace reissues retire the displaced current token; the predecessor they need stays."""
    store = RedisStore(standalone_client, prefix=key_prefix, history=1)
    session, parent, _ = _session("alice")
    store.create_session(session, parent)
    rotated = store.consume(_request(parent, now=T0))
    assert rotated.outcome is ConsumeOutcome.ROTATED
    key = store.keys.session(session.sid)
    issued: list[RefreshRecord] = []
    for second in range(1, 4):
        replay = _request(
            parent,
            now=T0 + timedelta(seconds=second),
            grace=timedelta(minutes=1),
            max_grace_reuses=3,
        )
        result = store.consume(replay)
        assert result.outcome is ConsumeOutcome.GRACE_REISSUED and result.issued is not None
        issued.append(result.issued)
        assert standalone_client.hlen(key) == FIXED_FIELDS + FIELDS_PER_RETIRED_RECORD
    # The grace budget spent, the same replay is reuse: the predecessor is still known.
    spent = _request(
        parent, now=T0 + timedelta(seconds=5), grace=timedelta(minutes=1), max_grace_reuses=3
    )
    refused = store.consume(spent)
    assert refused.outcome is ConsumeOutcome.REJECTED
    assert refused.record is not None  # found, so the manager treats it as reuse
    assert store.find(parent.token_id) is not None
    current = store.get_session(session.sid)
    assert current is not None and current.current_token_id == issued[-1].token_id
