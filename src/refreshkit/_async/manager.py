"""AsyncTokenManager: orchestration only; every decision comes from ``_policy``.

The manager owns the clock, the keys, the store and the hooks. It reads
``now`` once per call, asks the policy what to do, makes at most the store
calls the outcome needs, and emits events. ``refreshkit._sync.manager`` is
generated from this file.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, NoReturn

from .. import _jwt, _policy, _tokens
from .._cache import VerifiedTokenCache
from .._checks import AsyncCheckRunner, AsyncRefreshCheck, RefreshContext, RefreshGrant
from ..backends import create_async_store
from ..backends.base import AsyncTokenStore
from ..clients import ClientRegistry
from ..clock import Clock, SystemClock
from ..config import Settings
from ..errors import (
    ClientMismatchError,
    InvalidTokenError,
    RefreshRefused,
    RevokedTokenError,
    StoreError,
    TokenError,
    TokenReuseError,
)
from ..events import Event, EventHooks, EventName
from ..keys import KeySet
from ..models import AccessClaims, Session, SessionInfo, SubjectCutoff, TokenPair

__all__ = ["AsyncTokenManager"]


class AsyncTokenManager:
    """Issue, verify, refresh and revoke tokens (async).

    ``store`` is a store or a URL (default: ``settings.store_url``, else an
    in-memory store with a :class:`RuntimeWarning`); a store
    built here from a URL is closed by :meth:`aclose`, one passed in is not.
    ``keys`` defaults to the key named in ``settings``; assign a new
    :class:`~refreshkit.KeySet` to ``keys`` to rotate or retire a key, which
    takes effect on the next call (the verification cache included).
    ``refresh_check`` is the application's check run on every refresh
    (see :meth:`on_refresh`).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        keys: KeySet | None = None,
        store: AsyncTokenStore | str | None = None,
        clock: Clock | None = None,
        hooks: EventHooks | None = None,
        refresh_check: AsyncRefreshCheck | None = None,
    ) -> None:
        self.settings: Settings = settings if settings is not None else Settings()
        self.keys: KeySet = keys if keys is not None else KeySet.from_settings(self.settings)
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.hooks: EventHooks = hooks if hooks is not None else EventHooks()
        #: The application's refresh check (None: none, and no extra store read).
        self.refresh_check: AsyncRefreshCheck | None = refresh_check
        if store is None and self.settings.store_url is None:
            warnings.warn(
                "refreshkit is using the in-memory store because none was configured: "
                "sessions vanish on restart and are not shared between worker processes",
                RuntimeWarning,
                stacklevel=2,
            )
        source = store if store is not None else self.settings.store_url or "memory://"
        self._owns_store = isinstance(source, str)
        self.store: AsyncTokenStore = (
            create_async_store(source) if isinstance(source, str) else source
        )
        self._cache = VerifiedTokenCache(self.settings.verify_cache_size)
        #: The registered OAuth clients and the settings each one's sessions follow.
        self.clients: ClientRegistry = ClientRegistry(self.settings)
        self._audiences = self.clients.audiences()

    def on_refresh(self, check: AsyncRefreshCheck) -> AsyncRefreshCheck:
        """Register ``check`` as the refresh check; usable as a decorator.

        The check is called with a :class:`~refreshkit.RefreshContext` each
        time a refresh would hand out an access token, retries within the
        window included. It returns None (allow), a
        :class:`~refreshkit.RefreshGrant` (allow, with other claims or scope
        for the new access token) or raises
        :class:`~refreshkit.errors.RefreshRefused` (the refresh fails as
        ``invalid_grant``; with ``revoke=True`` the session is revoked). It
        may be a plain function or a coroutine function. With a check, a
        refresh reads the session once before its compare-and-set; without
        one, a refresh stays one store round trip. One check per manager:
        registering a second raises :class:`ValueError` (compose them in one).
        """
        if self.refresh_check is not None:
            raise ValueError("a refresh check is registered already; compose checks in one")
        self.refresh_check = check
        return check

    # ------------------------------------------------------------------ login

    async def issue(
        self,
        subject: str,
        *,
        device: str | None = None,
        claims: Mapping[str, Any] | None = None,
        scope: str | Iterable[str] | None = None,
        client_id: str | None = None,
        cnf: Mapping[str, Any] | None = None,
        auth_time: datetime | None = None,
        user_agent: str | None = None,
        ip: str | None = None,
        device_label: str | None = None,
        idle_ttl: timedelta | None = None,
        absolute_ttl: timedelta | None = None,
    ) -> TokenPair:
        """Start a session for ``subject`` (after the application checked its password).

        ``device`` binds the session to a device identifier (stored hashed);
        ``claims`` are added to every access token of the session and may not
        override reserved claims (:class:`ValueError`). ``client_id`` binds
        the session to an OAuth client, whose policy it then follows and
        whose allowed scopes bound ``scope``
        (:class:`~refreshkit.errors.InvalidScopeError`); with clients
        registered it must name one
        (:class:`~refreshkit.errors.InvalidClientError`). ``cnf`` (RFC 7800,
        e.g. ``{"jkt": thumbprint}``) is written to every access token of
        the session. ``auth_time`` is when the user authenticated (default:
        now; earlier for a login that reuses a single sign-on session, never
        later: :class:`ValueError`); every access token of the session
        carries it as ``auth_time`` until :meth:`reauthenticate` moves it.
        With ``max_sessions`` set, the subject's oldest live
        sessions beyond it are revoked, never the one this call starts.

        What the user's device list shows: ``user_agent`` (the first 512
        characters are kept), ``ip`` (the client's address, kept as
        ``settings.session_ip`` says: plain, truncated, a keyed hash, or not
        at all) and ``device_label``. Remember me: ``idle_ttl`` and
        ``absolute_ttl`` shorten the session's sliding and absolute
        lifetimes for its whole life (every refresh slides by its own
        ``idle_ttl``); longer than the settings' is a :class:`ValueError`.
        Raises :class:`~refreshkit.errors.StoreError` when the store fails.
        """
        now = self.clock.now()
        self.clients.check_registered(client_id)
        granted = _scope_text(scope)
        client = self.clients.get(client_id)
        if client is not None:
            client.check_scope(granted)
        session, token = _policy.new_session(
            subject,
            now,
            self.clients.settings_for(client_id),
            device=device,
            scope=granted,
            claims=claims,
            client_id=client_id,
            cnf=cnf,
            auth_time=auth_time,
            user_agent=user_agent,
            client_ip=ip,
            device_label=device_label,
            idle_ttl=idle_ttl,
            absolute_ttl=absolute_ttl,
        )
        await self.store.create_session(session)
        cutoff = await self.store.get_cutoff(subject)
        if cutoff is not None and _policy.cut_off([session], cutoff):
            # A cutoff recorded while this login ran (a password change racing
            # it): the login was made before it, so it is void like the rest.
            await self._revoke(session.sid, subject, now, cutoff.reason)
            raise RevokedTokenError("a cutoff for this subject ended the session as it started")
        self._emit("issued", now, session)
        if self.settings.max_sessions is not None:
            stored = await self.store.list_sessions(subject)
            doomed = _policy.sessions_to_evict(
                stored, self.settings.max_sessions, now, keep=session.sid
            )
            for old in doomed:
                await self._revoke(old.sid, old.subject, now, "max_sessions")
        return self._pair(session, token, now)

    # ----------------------------------------------------------------- access

    def verify_access(
        self,
        token: str,
        *,
        device: str | None = None,
        scopes: Iterable[str] = (),
        max_age: timedelta | int | None = None,
    ) -> AccessClaims:
        """Verify an access token with zero store round trips.

        Checks signature (with the ``kid``'s own algorithm only), ``typ``,
        ``iss``, ``aud``, ``exp``/``nbf`` against the manager's clock, device
        binding and ``scopes``. Time claims must be integer seconds between
        0 and 253402300799 (9999-12-31T23:59:59Z); a token outside is
        malformed. ``max_age`` (seconds or a timedelta) also requires that
        the user authenticated at most that long ago (``auth_time``,
        RFC 9470). Raises :class:`~refreshkit.errors.InvalidTokenError`
        (or its subclasses),
        :class:`~refreshkit.errors.InsufficientScopeError` and
        :class:`~refreshkit.errors.InsufficientUserAuthenticationError`;
        never anything else.
        """
        return self._verify(token, device, scopes, max_age, use_cache=True)

    async def verify_access_online(
        self,
        token: str,
        *,
        device: str | None = None,
        scopes: Iterable[str] = (),
        max_age: timedelta | int | None = None,
    ) -> AccessClaims:
        """Like :meth:`verify_access`, and also refuse a denied ``jti`` or a revoked session.

        One store round trip; the verification cache is bypassed.
        """
        claims = self._verify(token, device, scopes, max_age, use_cache=False)
        now = self.clock.now()
        check = await self.store.check_access(claims.jti, claims.sid, now, claims.subject)
        _policy.check_access_state(check, now, claims)
        return claims

    def _verify(
        self,
        token: str,
        device: str | None,
        scopes: Iterable[str],
        max_age: timedelta | int | None = None,
        *,
        use_cache: bool,
    ) -> AccessClaims:
        # One read of ``self.keys``: the set that verifies is the one the entry
        # is cached under, even if another thread assigns a new set meanwhile.
        keys = self.keys
        cached = self._cache.get(token, keys) if use_cache and isinstance(token, str) else None
        claims = cached if cached is not None else self._decode(token, keys)
        now = self.clock.now()
        try:
            _policy.check_access_times(claims, now, self.settings.leeway)
        except InvalidTokenError:
            if cached is not None:
                self._cache.discard(token)
            raise
        if cached is None and use_cache:
            self._cache.put(token, keys, claims)
        _policy.check_access_binding(claims, device, scopes)
        if max_age is not None:
            _policy.check_freshness(claims, _seconds(max_age), now)
        return claims

    def _decode(self, token: str, keys: KeySet) -> AccessClaims:
        payload = _jwt.verify(
            token, keys.get, issuer=self.settings.issuer, audience=self._audiences
        )
        return _policy.access_claims_from_payload(payload)

    # ---------------------------------------------------------------- refresh

    async def refresh(
        self,
        refresh_token: str,
        *,
        device: str | None = None,
        client_id: str | None = None,
        scope: str | Iterable[str] | None = None,
    ) -> TokenPair:
        """Exchange a refresh token for a new pair (RFC 6749 §6), rotating it.

        Idempotent within ``retry_window``: the token presented again while
        its successor is unused (a lost reply, a resent request, a racing
        tab) returns that same successor with a fresh access token.
        ``client_id`` is the authenticated client: a session bound to
        another is refused with :class:`~refreshkit.errors.ClientMismatchError`
        and left intact; an unbound session becomes bound to it. None (an
        in-process call) checks no client. ``scope`` narrows this access
        token's scope within the session's grant, which stays unchanged
        (:class:`~refreshkit.errors.InvalidScopeError` beyond it); it costs
        one more store read.
        Raises :class:`~refreshkit.errors.InvalidTokenError` (unknown, malformed),
        :class:`~refreshkit.errors.RevokedTokenError`,
        :class:`~refreshkit.errors.ExpiredTokenError`,
        :class:`~refreshkit.errors.DeviceMismatchError`,
        :class:`~refreshkit.errors.TokenReuseError` (the session is now revoked),
        :class:`~refreshkit.errors.RefreshRefused` (the refresh check refused),
        :class:`~refreshkit.errors.RefreshCheckError` (the refresh check failed;
        nothing was written), or :class:`~refreshkit.errors.StoreError`
        (nothing was changed or lost).
        """
        now = self.clock.now()
        settings = self.clients.settings_for(client_id)
        requested = _scope_text(scope)
        pinned: tuple[str | None] | None = None
        narrowed: str | None = None
        found: Session | None = None
        if requested is not None or self.refresh_check is not None:
            found = await self.store.get_session(_tokens.read_refresh_token(refresh_token).sid)
            if requested is not None:
                pinned, narrowed = _scope_for(found, refresh_token, requested)
        attempt_sliding_by = functools.partial(
            _policy.refresh_attempt,
            refresh_token,
            now,
            settings,
            device=device,
            client_id=client_id,
            granted_scope=pinned,
        )
        # When the session was read anyway, slide by its own idle lifetime at once.
        attempt = attempt_sliding_by(idle_ttl=found.idle_ttl if found is not None else None)
        checked: _Checked | None = None
        if (
            self.refresh_check is not None
            and found is not None
            and _policy.classify(found, attempt) in _ISSUING
        ):
            # Before the compare-and-set: a refusal writes nothing, and the
            # presented token stays the session's current one.
            checked = await self._check(found, attempt.client_id, now, narrowed, replay=False)
        result = await self.store.compare_and_set(attempt.update)
        session = result.session
        if not result.applied and _policy.needs_own_idle_ttl(session, attempt):
            assert session is not None
            # A remember-me session slides by its own idle lifetime: one more round trip.
            attempt = attempt_sliding_by(idle_ttl=session.idle_ttl)
            result = await self.store.compare_and_set(attempt.update)
            session = result.session
        if result.applied and session is not None:
            decision: _policy.Outcome | _policy.Rejection = _policy.Outcome.ROTATED
        else:
            # The rare paths: a retry, reuse, a refusal, or this very request
            # applied once already (its reply lost). The state found decides.
            decision = _policy.classify(session, attempt)
            if isinstance(decision, _policy.Rejection):
                await self._punish(decision, session, now)
            if decision is _policy.Outcome.REPLAYED:
                assert session is not None
                if requested is not None:
                    narrowed = _policy.narrowed_scope(session.scope, requested)
                return await self._replay(session, attempt, narrowed)
            if session is None or session.current_token_id != attempt.successor_id:
                raise StoreError("store refused a refresh that its reported state allows")
        if self.refresh_check is not None and checked is None:
            # Only if the session changed between the read and the write so
            # that the write passed where the read would have refused: the
            # check still runs before any access token is handed out.
            checked = await self._check(session, attempt.client_id, now, narrowed, replay=False)
        self._emit("refreshed", now, session, details={"generation": session.generation})
        token = attempt.successor if attempt.successor is not None else refresh_token
        if checked is not None:
            return self._pair(session, token, now, checked.scope, checked.claims)
        return self._pair(session, token, now, narrowed)

    async def _replay(
        self, session: Session, attempt: _policy.RefreshAttempt, scope: str | None
    ) -> TokenPair:
        """A retry within the window: the same successor as before, a fresh access token.

        The refresh check runs again: a user disabled since the first
        request gets nothing by resending it.
        """
        successor = _policy.replayed_successor(session, attempt.presented.token)
        if successor is None:
            await self._punish(_policy.Rejection.REUSE, session, attempt.now)
        checked = None
        if self.refresh_check is not None:
            checked = await self._check(session, attempt.client_id, attempt.now, scope, replay=True)
        self._emit(
            "retry_replayed", attempt.now, session, details={"generation": session.generation}
        )
        if checked is not None:
            return self._pair(session, successor, attempt.now, checked.scope, checked.claims)
        return self._pair(session, successor, attempt.now, scope)

    async def _check(
        self,
        session: Session,
        client_id: str | None,
        now: datetime,
        scope: str | None,
        *,
        replay: bool,
    ) -> _Checked:
        """Run the refresh check on ``session``: the token's contents, or its refusal.

        A refusal emits ``refresh_refused`` and, when the check asks, revokes
        the session through the one revocation compare-and-set.
        """
        check = self.refresh_check
        assert check is not None
        token_scope = scope if scope is not None else session.scope
        context = RefreshContext(session, client_id, token_scope, replay, now)
        try:
            grant = await AsyncCheckRunner.run(check, context)
        except RefreshRefused as refused:
            details = {"reason": refused.reason, "revoked": refused.revoke, "replay": replay}
            self._emit("refresh_refused", now, session, details=details)
            if refused.revoke:
                await self._revoke(session.sid, session.subject, now, refused.reason)
            raise
        return _Checked.of(session, token_scope, grant)

    async def _punish(
        self, rejection: _policy.Rejection, session: Session | None, now: datetime
    ) -> NoReturn:
        """Apply the policy's consequence of ``rejection``: event, revocation, error."""
        consequence = _policy.consequence_of(rejection, self.settings)
        if session is not None and consequence.event is not None:
            self._emit(consequence.event, now, session)
        if session is not None and consequence.revoke_reason is not None:
            await self._revoke(session.sid, session.subject, now, consequence.revoke_reason)
        if consequence.error is TokenReuseError:
            raise TokenReuseError(consequence.message, sid=session.sid if session else None)
        raise consequence.error(consequence.message)

    async def reauthenticate(self, sid: str, *, auth_time: datetime | None = None) -> str:
        """Record that the user of session ``sid`` just authenticated again; a fresh access token.

        Call it once the application has checked the user again (a
        password, a second factor) for a route that requires a recent
        authentication (``max_age``, RFC 9470). The session's ``auth_time``
        becomes ``auth_time`` (default: now; never later), so the access
        token returned and every later one carry it; the refresh token is
        unchanged. The refresh check, if any, runs as for a refresh. One
        read and one compare-and-set. Raises
        :class:`~refreshkit.errors.InvalidTokenError` (no such session),
        :class:`~refreshkit.errors.RevokedTokenError`,
        :class:`~refreshkit.errors.ExpiredTokenError`,
        :class:`~refreshkit.errors.RefreshRefused`,
        :class:`~refreshkit.errors.RefreshCheckError` or
        :class:`~refreshkit.errors.StoreError`.
        """
        now = self.clock.now()
        found = await self.store.get_session(sid)
        update = _policy.reauthentication(found, now, now if auth_time is None else auth_time)
        assert found is not None  # reauthentication refuses a missing session
        checked: _Checked | None = None
        if self.refresh_check is not None:
            checked = await self._check(found, found.client_id, now, None, replay=False)
        result = await self.store.compare_and_set(update)
        session = result.session
        if not result.applied or session is None:
            _policy.check_live(session, now)
            raise StoreError("store refused a re-authentication that its reported state allows")
        if checked is not None:
            return self._access_token(session, now, checked.scope, checked.claims)[0]
        return self._access_token(session, now)[0]

    # ------------------------------------------------------------- revocation

    async def revoke(self, refresh_token: str, *, client_id: str | None = None) -> bool:
        """End the session of ``refresh_token`` (logout; RFC 7009).

        Unknown or malformed tokens are not an error (RFC 7009 §2.2): the
        result is False. Revoking the session also ends its access tokens
        for :meth:`verify_access_online` and :meth:`introspect`. A
        ``client_id`` other than the session's is refused with
        :class:`~refreshkit.errors.ClientMismatchError` (RFC 7009 §2.1).
        Raises :class:`~refreshkit.errors.StoreError` on outage.
        """
        try:
            token = _tokens.read_refresh_token(refresh_token)
        except InvalidTokenError:
            return False
        session = await self.store.get_session(token.sid)
        if session is None or _policy.token_role(session, token) is _policy.Role.UNKNOWN:
            return False
        if not _policy.client_matches(session.client_id, client_id):
            raise ClientMismatchError("refresh token was issued to another client")
        return await self._revoke(session.sid, session.subject, self.clock.now(), "logout")

    async def revoke_session(self, sid: str, *, reason: str = "revoked") -> bool:
        """Revoke one session by id (a user ending another device); True if it was live."""
        session = await self.store.get_session(sid)
        if session is None:
            return False
        return await self._revoke(sid, session.subject, self.clock.now(), reason)

    async def end_session(self, subject: str, sid: str, *, reason: str = "ended_by_user") -> bool:
        """End ``subject``'s own live session ``sid`` (a device list's "sign out").

        False, and nothing revoked, when ``sid`` is unknown, already ended,
        or another subject's: the caller answers all three alike, so no one
        learns whether someone else's session exists. Emits
        ``session_ended``. Raises :class:`~refreshkit.errors.StoreError`.
        """
        now = self.clock.now()
        session = await self.store.get_session(sid)
        if session is None or session.subject != subject or not _policy.is_live(session, now):
            return False
        return await self._end(session, now, reason)

    async def end_other_sessions(
        self, subject: str, *, keep: str | None, reason: str = "ended_by_user"
    ) -> int:
        """End every live session of ``subject`` but ``keep`` ("sign out other devices").

        ``keep`` is the session of the request (None ends them all). Each is
        revoked by its own compare-and-set and emits ``session_ended``;
        returns how many this call ended. Raises
        :class:`~refreshkit.errors.StoreError`.
        """
        now = self.clock.now()
        ended = 0
        for session in await self.store.list_sessions(subject):
            if session.sid != keep and _policy.is_live(session, now):
                ended += await self._end(session, now, reason)
        return ended

    async def _end(self, session: Session, now: datetime, reason: str) -> bool:
        ended = await self._revoke(session.sid, session.subject, now, reason)
        if ended and self.hooks.listening("session_ended"):
            self.hooks.emit(
                Event(
                    "session_ended", at=now, subject=session.subject, sid=session.sid, reason=reason
                )
            )
        return ended

    async def revoke_subject(
        self, subject: str, *, before: datetime | None = None, reason: str | None = None
    ) -> int:
        """Log ``subject`` out everywhere; returns how many sessions were revoked.

        With ``before`` (e.g. ``before=now`` on a password change), a cutoff:
        every session started and every token issued before that instant is
        void. It is recorded first, with ``reason`` (default
        ``"password_changed"``), in the store's per-subject cutoff record
        (only ever moving later); then each such session is revoked by its
        own compare-and-set, in its own key (so it holds on Redis Cluster);
        a ``cutoff`` event follows. Once this returns, no refresh of such a
        session succeeds anywhere, a login that raced it is refused, and
        :meth:`verify_access_online` and :meth:`introspect` refuse their
        access tokens; :meth:`verify_access` (offline) cannot know and
        accepts them until they expire. ``before`` may not be in the future
        (:class:`ValueError`). Without ``before`` every session is revoked
        now and no cutoff is recorded (``reason`` defaults to
        ``"revoke_subject"``). Raises :class:`~refreshkit.errors.StoreError`.
        """
        now = self.clock.now()
        if before is None:
            why = reason if reason is not None else "revoke_subject"
            count = await self.store.revoke_subject(subject, now, why)
            self.hooks.emit(
                Event("revoked", at=now, subject=subject, reason=why, details={"sessions": count})
            )
            return count
        cutoff = _policy.new_cutoff(
            subject, before, now, reason if reason is not None else "password_changed"
        )
        await self.store.record_cutoff(cutoff)
        count = 0
        for session in _policy.cut_off(await self.store.list_sessions(subject), cutoff):
            count += await self._revoke(session.sid, subject, now, cutoff.reason)
        self.hooks.emit(
            Event(
                "cutoff",
                at=now,
                subject=subject,
                reason=cutoff.reason,
                details={"before": cutoff.before.isoformat(), "sessions": count},
            )
        )
        return count

    async def cutoff(self, subject: str) -> SubjectCutoff | None:
        """The subject's recorded cutoff (when, why, recorded at), or None."""
        return await self.store.get_cutoff(subject)

    async def revoke_access(self, jti: str, until: datetime) -> None:
        """Deny one access token (by ``jti``) until ``until``, its expiry.

        Only :meth:`verify_access_online` sees the denial; plain
        :meth:`verify_access` stays stateless.
        """
        await self.store.deny_access(jti, until)

    async def revoke_access_token(self, token: str, *, client_id: str | None = None) -> bool:
        """Deny a signed, unexpired access token until its ``exp`` (RFC 7009).

        Whoever holds such a token may revoke it from anywhere: its device
        binding and scopes are not checked, only its signature and times
        (and, given a ``client_id``, that it was issued to that client:
        :class:`~refreshkit.errors.ClientMismatchError` otherwise).
        False (nothing written) for a token that does not verify or has
        expired, which needs no denial. Raises
        :class:`~refreshkit.errors.StoreError` on outage.
        """
        try:
            claims = self._decode(token, self.keys)
            _policy.check_access_times(claims, self.clock.now(), self.settings.leeway)
        except TokenError:
            return False
        if not _policy.client_matches(claims.client_id, client_id):
            raise ClientMismatchError("access token was issued to another client")
        await self.revoke_access(claims.jti, claims.expires)
        return True

    async def _revoke(self, sid: str, subject: str, now: datetime, reason: str) -> bool:
        result = await self.store.compare_and_set(_policy.revocation(sid, now, reason))
        revoked = result.applied
        if revoked:
            self.hooks.emit(Event("revoked", at=now, subject=subject, sid=sid, reason=reason))
        return revoked

    # ---------------------------------------------------------- introspection

    async def introspect(self, token: str) -> dict[str, Any]:
        """The RFC 7662 §2.2 answer for ``token``: ``{"active": False}`` or its members.

        An access token is active when it verifies (signature, issuer,
        audience, times; not its device or scopes, which only the resource
        server knows), its ``jti`` is not denied and its session is live: one
        store round trip, as :meth:`verify_access_online`. A refresh token
        is active while it is its live session's current token. Anything
        else is inactive, and never says why. Raises
        :class:`~refreshkit.errors.StoreError` on outage, so that an outage is
        never reported as an inactive token.
        """
        inactive: dict[str, Any] = {"active": False}
        now = self.clock.now()
        if not isinstance(token, str):
            return inactive
        if token.startswith(_tokens.PREFIX):
            try:
                presented = _tokens.read_refresh_token(token)
            except InvalidTokenError:
                return inactive
            session = await self.store.get_session(presented.sid)
            if (
                session is None
                or not _policy.is_live(session, now)
                or _policy.token_role(session, presented) is not _policy.Role.CURRENT
            ):
                return inactive
            return _policy.introspection_of_refresh(session)
        try:
            claims = self._decode(token, self.keys)
            _policy.check_access_times(claims, now, self.settings.leeway)
            check = await self.store.check_access(claims.jti, claims.sid, now, claims.subject)
            _policy.check_access_state(check, now, claims)
        except TokenError:
            return inactive
        return _policy.introspection_of_access(claims)

    # ------------------------------------------------------------- management

    async def sessions(self, subject: str) -> list[Session]:
        """The live sessions of ``subject``, most recently used first: a device list."""
        now = self.clock.now()
        stored = await self.store.list_sessions(subject)
        live = [s for s in stored if _policy.is_live(s, now)]
        return sorted(live, key=lambda s: (s.last_used_at, s.sid), reverse=True)

    async def devices(self, subject: str, *, current: str | None = None) -> list[SessionInfo]:
        """``subject``'s device list: :meth:`sessions` as the user sees them, ``current`` marked.

        ``current`` is the sid of the session asking (an access token's
        ``sid``). Each entry carries what the login recorded (user agent,
        client IP as stored, device label, client) and no token state.
        """
        return [SessionInfo.of(s, current) for s in await self.sessions(subject)]

    async def purge_expired(self, *, batch_size: int = 1000) -> int:
        """Delete expired sessions and their records now; returns sessions deleted."""
        return await self.store.purge_expired(self.clock.now(), batch_size)

    async def aclose(self) -> None:
        """Close the store if this manager created it from a URL."""
        if self._owns_store:
            await self.store.aclose()

    async def __aenter__(self) -> AsyncTokenManager:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -------------------------------------------------------------- internals

    def _pair(
        self,
        session: Session,
        refresh_token: str,
        now: datetime,
        scope: str | None = None,
        claims: Mapping[str, Any] | None = None,
    ) -> TokenPair:
        access, payload, expires = self._access_token(session, now, scope, claims)
        return TokenPair(
            access_token=access,
            refresh_token=refresh_token,
            expires_in=payload["exp"] - payload["iat"],
            access_expires_at=expires,
            refresh_expires_at=session.expires_at,
            sid=session.sid,
            subject=session.subject,
            scope=scope if scope is not None else session.scope,
        )

    def _access_token(
        self,
        session: Session,
        now: datetime,
        scope: str | None = None,
        claims: Mapping[str, Any] | None = None,
    ) -> tuple[str, dict[str, Any], datetime]:
        """A signed access token for ``session``: (token, its payload, its expiry)."""
        key = self.keys.active
        settings = self.clients.settings_for(session.client_id)
        expires = _policy.access_expiry(session, now, settings)
        payload = _policy.access_payload(
            session, _tokens.new_jti(), now, expires, settings, scope, claims
        )
        return _jwt.encode(payload, key.private, key.algorithm, key.kid), payload, expires

    def _emit(
        self,
        name: EventName,
        now: datetime,
        session: Session,
        *,
        details: dict[str, Any] | None = None,
    ) -> None:
        if self.hooks.listening(name):
            self.hooks.emit(
                Event(name, at=now, subject=session.subject, sid=session.sid, details=details or {})
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(store={type(self.store).__name__}, keys={self.keys!r})"


_scope_text = _policy.scope_text


def _seconds(max_age: timedelta | int) -> timedelta:
    """``max_age`` as a timedelta (an int is seconds); a negative one is a :class:`ValueError`."""
    age = max_age if isinstance(max_age, timedelta) else timedelta(seconds=max_age)
    if age < timedelta(0):
        raise ValueError("max_age may not be negative")
    return age


#: The outcomes that hand out an access token, so the refresh check runs first.
_ISSUING = (_policy.Outcome.ROTATED, _policy.Outcome.REUSED)


def _scope_for(
    found: Session | None, refresh_token: str, requested: str
) -> tuple[tuple[str | None] | None, str | None]:
    """The grant a narrowing refresh must stay within: (pinned grant, narrowed scope).

    Only the session's current token is judged here; any other leaves the
    decision to the compare-and-set, which refuses it as ever (an earlier
    token is still reuse, a retry is judged from the state it finds), so
    a scope request neither hides reuse nor reveals a scope.
    """
    token = _tokens.read_refresh_token(refresh_token)
    if found is None or _policy.token_role(found, token) is not _policy.Role.CURRENT:
        return None, None
    return (found.scope,), _policy.narrowed_scope(found.scope, requested)


@dataclass(frozen=True, slots=True)
class _Checked:
    """What the refresh check let the new access token carry."""

    scope: str | None
    claims: Mapping[str, Any] | None

    @classmethod
    def of(cls, session: Session, scope: str | None, grant: RefreshGrant | None) -> _Checked:
        if grant is None:
            return cls(scope, None)
        claims, chosen = _policy.token_contents(
            session, scope, grant.claims, grant.scope, allow_wider_scope=grant.allow_wider_scope
        )
        return cls(chosen, claims)
