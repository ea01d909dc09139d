"""Hypothesis drives the manager against a simple model of DESIGN.md §3.

After every step: at most one live token per session (a retry within the
window gets the session's newest token back, never a sibling), a revoked
session never yields a token, and no expiry passes the absolute cap.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from refreshkit import (
    ExpiredTokenError,
    RevokedTokenError,
    TokenReuseError,
)

from ._managers import manager_factory

WINDOW = timedelta(seconds=5)
IDLE = timedelta(hours=1)
ABSOLUTE = timedelta(hours=3)


@dataclass
class ModelToken:
    sid: str
    generation: int
    consumed_at: datetime | None = None


@dataclass
class ModelSession:
    subject: str
    created: datetime
    idle_expires: datetime
    generation: int = 0
    newest: str = ""
    revoked: bool = False
    tokens: list[str] = field(default_factory=list)

    def expires(self) -> datetime:
        return min(self.idle_expires, self.created + ABSOLUTE)


class LifecycleMachine(RuleBasedStateMachine):
    flavour = "sync"
    tokens = Bundle("tokens")

    def __init__(self) -> None:
        super().__init__()
        self._stack = contextlib.ExitStack()
        make = self._stack.enter_context(manager_factory(self.flavour))
        self.manager: Any = make(
            access_ttl="5m",
            refresh_idle_ttl=IDLE,
            refresh_absolute_ttl=ABSOLUTE,
            retry_window=WINDOW,
        )
        self.sessions: dict[str, ModelSession] = {}
        self.model_tokens: dict[str, ModelToken] = {}

    def teardown(self) -> None:
        self._stack.close()

    @property
    def now(self) -> datetime:
        now: datetime = self.manager.clock.now()
        return now

    def _remember(self, token: str, sid: str, generation: int) -> None:
        self.model_tokens[token] = ModelToken(sid, generation)
        self.sessions[sid].tokens.append(token)
        self.sessions[sid].newest = token

    @rule(target=tokens, subject=st.sampled_from(["alice", "bob"]))
    def issue(self, subject: str) -> str:
        pair = self.manager.issue(subject)
        self.sessions[pair.sid] = ModelSession(subject, self.now, self.now + IDLE)
        self._remember(pair.refresh_token, pair.sid, 0)
        assert pair.refresh_expires_at <= self.now + ABSOLUTE
        return pair.refresh_token

    @rule(target=tokens, token=tokens)
    def refresh(self, token: str) -> str:
        known = self.model_tokens[token]
        session = self.sessions[known.sid]
        now = self.now
        expected: type[Exception] | str
        if session.revoked:
            expected = RevokedTokenError
        elif now >= session.expires():
            expected = ExpiredTokenError
        elif known.consumed_at is None and known.generation == session.generation:
            expected = "rotate"
        elif (
            known.consumed_at is not None
            and now - known.consumed_at < WINDOW
            and known.generation == session.generation - 1
        ):
            expected = "retry"
        else:
            expected = TokenReuseError
        if expected == "retry":
            pair = self.manager.refresh(token)
            assert pair.sid == known.sid
            assert pair.refresh_token == session.newest  # the same successor again
            assert pair.refresh_expires_at == session.expires()  # nothing slid
            return str(pair.refresh_token)
        if expected == "rotate":
            pair = self.manager.refresh(token)
            assert pair.sid == known.sid
            assert pair.refresh_expires_at <= session.created + ABSOLUTE
            assert pair.refresh_token not in self.model_tokens
            session.idle_expires = now + IDLE
            known.consumed_at = now
            session.generation += 1
            self._remember(pair.refresh_token, known.sid, session.generation)
            return str(pair.refresh_token)
        assert not isinstance(expected, str)
        with pytest.raises(expected):
            self.manager.refresh(token)
        if expected is TokenReuseError:
            session.revoked = True
        return token

    @rule(token=tokens)
    def logout(self, token: str) -> None:
        known = self.model_tokens[token]
        session = self.sessions[known.sid]
        revoked = self.manager.revoke(token)
        assert revoked is (not session.revoked)
        session.revoked = True

    @rule(subject=st.sampled_from(["alice", "bob"]))
    def log_out_everywhere(self, subject: str) -> None:
        self.manager.revoke_subject(subject)
        for session in self.sessions.values():
            if session.subject == subject:
                session.revoked = True

    @rule(seconds=st.sampled_from([1, 2, 5, 600, 3000]))
    def advance(self, seconds: int) -> None:
        self.manager.clock.advance(seconds)

    @invariant()
    def live_sessions_match_the_model(self) -> None:
        for subject in ("alice", "bob"):
            live = {s.sid for s in self.manager.sessions(subject)}
            expected = {
                sid
                for sid, s in self.sessions.items()
                if s.subject == subject and not s.revoked and self.now < s.expires()
            }
            assert live == expected

    @invariant()
    def at_most_one_live_token_per_session(self) -> None:
        for sid, session in self.sessions.items():
            current = [
                t
                for t in session.tokens
                if self.model_tokens[t].generation == session.generation
                and self.model_tokens[t].consumed_at is None
            ]
            assert current == [session.newest], sid

    @invariant()
    def no_session_outlives_its_absolute_cap(self) -> None:
        for session in self.manager.sessions("alice") + self.manager.sessions("bob"):
            assert session.expires_at <= session.created_at + ABSOLUTE


class AsyncLifecycleMachine(LifecycleMachine):
    flavour = "async"


TestSyncLifecycle = LifecycleMachine.TestCase
TestSyncLifecycle.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestAsyncLifecycle = AsyncLifecycleMachine.TestCase
TestAsyncLifecycle.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
