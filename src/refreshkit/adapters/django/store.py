"""The token store on Django's ORM: ``django://<alias>``, the project's own database.

:class:`DjangoStore` keeps sessions in the app's models (:mod:`.models`,
created by ``manage.py migrate``) on the connection of database ``alias``
(``django://default``; ``django://`` means ``default``). It decides nothing:
every compare-and-set is translated field by field from the generic checks
and changes, as :func:`refreshkit.backends.base.check_holds` and
:func:`~refreshkit.backends.base.apply_update` define them, into one
conditional ``UPDATE`` whose row count says whether it applied::

    Session.objects.filter(sid=sid, <checks as Q>).update(<changes>, generation=F(...) + 1,
                                                          expires_at=Least(new_idle, F(absolute)))

No lock is held across round trips in autocommit, and the ``UPDATE``'s row
lock is what serialises racing writers. Round trips (PostgreSQL; SQLite
alike, in-process):

* ``compare_and_set``: ``BEGIN``, the ``UPDATE``, a ``SELECT`` of the row,
  ``COMMIT`` (4). The read shares the update's transaction so the session
  reported is the one written (the update's row lock keeps anyone else out
  until ``COMMIT``). An update that changes nothing is one ``SELECT`` that
  evaluates the checks too (1).
* ``create_session``, ``revoke_subject``: one statement (1).
* ``deny_access``: ``INSERT ... ON CONFLICT DO NOTHING``, then an ``UPDATE``
  to the later expiry (2; correct under concurrency without a transaction).
* ``get_session``, ``list_sessions``: 1; ``check_access``: 2.
* ``purge_expired``: per batch of sessions, ``BEGIN``, a ``SELECT`` along
  the expiry index, a ``DELETE`` by primary key, ``COMMIT``; then denials,
  one ``DELETE`` per batch.

Inside an ``atomic()`` block of the caller (``ATOMIC_REQUESTS``) the store's
writes join that transaction, like every ORM write, and are undone if it
rolls back: serve refreshkit's endpoints outside request transactions.

:class:`AsyncDjangoStore` runs each whole operation of a :class:`DjangoStore`
through ``sync_to_async(thread_sensitive=True)``: one hop to the thread that
owns the connection per operation (not per query, as Django's ``a*`` ORM
methods would), the connection Django's own sync code uses, which SQLite and
``atomic()`` blocks need. Database errors (refused connection, lost
connection, any ``django.db.Error``) become :class:`~refreshkit.errors.StoreError`;
missing tables :class:`~refreshkit.errors.SchemaMissingError`, naming
``manage.py migrate``. PostgreSQL and SQLite are supported; on MySQL/MariaDB
(case-insensitive comparisons) use the ``mysql://`` SQL store.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

from ... import _policy
from ...backends._rows import session_from_row, session_values
from ...backends.base import validate_update
from ...errors import ConfigurationError, SchemaMissingError, StoreError
from ...models import AccessCheck, CheckOp, Session, SessionUpdate, SubjectCutoff, UpdateResult

try:
    from asgiref.sync import sync_to_async
    from django.db import DatabaseError, Error, connections, transaction
    from django.db.models import Case, F, IntegerField, Q, Value, When
    from django.db.models.functions import Least
except ImportError as _missing:  # pragma: no cover - exercised only without the extra
    from ...errors import MissingExtraError

    raise MissingExtraError(
        f"the django:// store needs Django ({_missing}): pip install 'refreshkit[django]'"
    ) from _missing

__all__ = [
    "AsyncDjangoStore",
    "DjangoStore",
    "create_async_store",
    "create_store",
]

#: Database vendors whose string comparison is exact (case and accents count).
SUPPORTED_VENDORS = frozenset({"postgresql", "sqlite"})
#: Where a purge's walk along the expiry index starts: before any stored time.
_PURGE_START = datetime.min.replace(tzinfo=UTC)
_MIGRATE = (
    "django:// store: refreshkit's tables do not exist in database {alias!r}; "
    "add 'refreshkit.adapters.django' to INSTALLED_APPS and run `manage.py migrate"
    "{database}`"
)

Params = ParamSpec("Params")
Result = TypeVar("Result")


def _models() -> Any:
    """The app's models, imported once Django's app registry is ready."""
    from . import models

    return models


def _tables_missing(error: BaseException) -> bool:
    text = str(error).lower()
    return "no such table" in text or (
        "does not exist" in text and "refreshkit_" in text and "relation" in text
    )


# ------------------------------------------------------- rows and sessions


# ------------------------------------------------------ checks and changes


def _condition(field: str, op: CheckOp, value: Any) -> Q:
    """One check as a ``Q``, as :func:`~refreshkit.backends.base.check_holds` defines it."""
    if value is None:
        if op in (CheckOp.EQUALS, CheckOp.UNSET_OR_EQUALS):
            return Q(**{f"{field}__isnull": True})
        return Q(pk__in=[])  # nothing is AFTER or BELOW an unset value: matches no row
    if op is CheckOp.AFTER:
        return Q(**{f"{field}__gt": value})
    if op is CheckOp.BELOW:
        return Q(**{f"{field}__lt": value})
    if op is CheckOp.EQUALS:
        return Q(**{field: value})
    return Q(**{f"{field}__isnull": True}) | Q(**{field: value})


def _conditions(update: SessionUpdate) -> Q:
    """Every check of ``update``, all of which must hold."""
    conditions = Q()
    for check in update.checks:
        conditions &= _condition(check.field, check.op, check.value)
    return conditions


def _changes(update: SessionUpdate, model: Any) -> dict[str, Any]:
    """The ``SET`` of ``update``: each change, each increment one more.

    A change of ``idle_expires_at`` also moves ``expires_at``, the earlier of
    the two expiries, which the purge index needs.
    """
    values: dict[str, Any] = dict(update.changes)
    for name in update.increments:
        values[name] = int(values[name]) + 1 if name in values else F(name) + 1
    if "idle_expires_at" in values:
        idle = Value(values["idle_expires_at"], output_field=model._meta.get_field("expires_at"))
        values["expires_at"] = Least(idle, F("absolute_expires_at"))
    return values


# ------------------------------------------------------------------ stores


class DjangoStore:
    """A :class:`~refreshkit.backends.base.TokenStore` on a Django database connection.

    ``alias`` names an entry of ``DATABASES``. The store uses Django's
    connection of the calling thread and opens none itself, so
    :meth:`close` leaves it to Django. Raises
    :class:`~refreshkit.errors.ConfigurationError` for an unknown alias or an
    unsupported database.
    """

    def __init__(self, alias: str = "default") -> None:
        if alias not in connections.settings:
            raise ConfigurationError(
                f"django:// store: no database {alias!r} in settings.DATABASES "
                f"(known: {', '.join(sorted(connections.settings))})"
            )
        vendor = connections[alias].vendor
        if vendor not in SUPPORTED_VENDORS:
            raise ConfigurationError(
                f"django:// store: {vendor} is not supported (its text comparisons ignore case); "
                "use the SQL store's URL (pip install 'refreshkit[mysql]') for it"
            )
        self.alias = alias
        database = "" if alias == "default" else f" --database {alias}"
        self._missing_schema = _MIGRATE.format(alias=alias, database=database)
        models = _models()
        self._sessions = models.Session.objects.using(alias)
        self._denials = models.DeniedAccess.objects.using(alias)
        self._cutoffs = models.SubjectCutoff.objects.using(alias)
        self._model = models.Session

    @contextmanager
    def _errors(self, operation: str) -> Iterator[None]:
        """Database failures inside the block as StoreError (SchemaMissingError for no tables)."""
        try:
            yield
        except StoreError:
            raise
        except (Error, OSError, TimeoutError) as error:
            if isinstance(error, DatabaseError) and _tables_missing(error):
                raise SchemaMissingError(self._missing_schema) from error
            kind = type(error).__name__
            raise StoreError(f"django:// store: {operation} failed ({kind})") from error

    # -------------------------------------------------------------- storing

    def create_session(self, session: Session) -> None:
        """Store a new session: one ``INSERT``.

        Raises :class:`~refreshkit.errors.StoreError` when the database fails.
        """
        with self._errors("create_session"):
            self._sessions.create(**session_values(session))

    def get_session(self, sid: str) -> Session | None:
        """The session, or None if unknown: one ``SELECT``.

        Raises :class:`~refreshkit.errors.StoreError` when the database fails.
        """
        with self._errors("get_session"):
            found = list(self._sessions.filter(sid=sid).values())
        return session_from_row(found[0]) if found else None

    def list_sessions(self, subject: str) -> list[Session]:
        """Every stored session of ``subject``, live or not: one ``SELECT``.

        Raises :class:`~refreshkit.errors.StoreError` when the database fails.
        """
        with self._errors("list_sessions"):
            rows = list(self._sessions.filter(subject=subject).values())
        return [session_from_row(row) for row in rows]

    # ------------------------------------------------------ compare-and-set

    def compare_and_set(self, update: SessionUpdate) -> UpdateResult:
        """Apply ``update`` atomically, as :func:`~refreshkit.backends.base.apply_update` defines.

        One conditional ``UPDATE`` decides by its row count, and the row is
        read back in the same transaction. Raises :class:`ValueError` for an
        update naming a field outside the contract, and
        :class:`~refreshkit.errors.StoreError` when the database fails.
        """
        validate_update(update)
        conditions = _conditions(update)
        changes = _changes(update, self._model)
        with self._errors("compare_and_set"):
            if not changes:
                return self._held(update.sid, conditions)
            with transaction.atomic(using=self.alias):
                applied = self._sessions.filter(conditions, sid=update.sid).update(**changes) == 1
                found = list(self._sessions.filter(sid=update.sid).values())
        return UpdateResult(applied, session_from_row(found[0]) if found else None)

    def _held(self, sid: str, conditions: Q) -> UpdateResult:
        """An update that writes nothing: the row and whether its checks hold, in one read."""
        held = Case(When(conditions, then=Value(1)), default=Value(0), output_field=IntegerField())
        found = list(self._sessions.filter(sid=sid).annotate(refreshkit_held=held).values())
        if not found:
            return UpdateResult(False, None)
        return UpdateResult(bool(found[0]["refreshkit_held"]), session_from_row(found[0]))

    # ----------------------------------------------------------- revocation

    def revoke_subject(self, subject: str, now: datetime, reason: str) -> int:
        """Revoke every unrevoked session of ``subject`` in one ``UPDATE``; how many it revoked.

        The policy's revocation, translated like any compare-and-set, for all
        the subject's rows. Raises :class:`~refreshkit.errors.StoreError` when
        the database fails.
        """
        revocation = _policy.revocation("", now, reason)
        with self._errors("revoke_subject"):
            count: int = self._sessions.filter(_conditions(revocation), subject=subject).update(
                **_changes(revocation, self._model)
            )
        return count

    def deny_access(self, jti: str, until: datetime) -> None:
        """Deny the access token ``jti`` until ``until`` (a later denial wins).

        Insert unless present, then move the expiry only forward: two
        statements, each atomic, so racing denials keep the latest. Raises
        :class:`~refreshkit.errors.StoreError` when the database fails.
        """
        model = self._denials.model
        with self._errors("deny_access"):
            self._denials.bulk_create([model(jti=jti, expires_at=until)], ignore_conflicts=True)
            self._denials.filter(jti=jti, expires_at__lt=until).update(expires_at=until)

    def check_access(
        self, jti: str, sid: str, now: datetime, subject: str | None = None
    ) -> AccessCheck:
        """Is ``jti`` denied at ``now``, the session's state, ``subject``'s cutoff.

        Two ``SELECT``\\ s, three with a subject. Raises
        :class:`~refreshkit.errors.StoreError` when the database fails.
        """
        with self._errors("check_access"):
            denied = self._denials.filter(jti=jti, expires_at__gt=now).exists()
            found = list(self._sessions.filter(sid=sid).values())
            cutoff = (
                self._cutoffs.filter(subject=subject).values_list("cutoff_at", flat=True).first()
                if subject is not None
                else None
            )
        return AccessCheck(denied, session_from_row(found[0]) if found else None, cutoff)

    def record_cutoff(self, cutoff: SubjectCutoff) -> SubjectCutoff:
        """Store ``cutoff`` unless a later one is stored; the stored one.

        Insert unless present, then move it only later: two statements, each
        atomic, so racing cutoffs keep the latest. Raises
        :class:`~refreshkit.errors.StoreError` when the database fails.
        """
        model = self._cutoffs.model
        values = {"reason": cutoff.reason, "recorded_at": cutoff.recorded_at}
        with self._errors("record_cutoff"):
            self._cutoffs.bulk_create(
                [model(subject=cutoff.subject, cutoff_at=cutoff.before, **values)],
                ignore_conflicts=True,
            )
            self._cutoffs.filter(subject=cutoff.subject, cutoff_at__lt=cutoff.before).update(
                cutoff_at=cutoff.before, **values
            )
        stored = self.get_cutoff(cutoff.subject)
        if stored is None:  # pragma: no cover - just written
            raise StoreError("django:// store: the cutoff just recorded is missing")
        return stored

    def get_cutoff(self, subject: str) -> SubjectCutoff | None:
        """The subject's cutoff, or None. Raises :class:`~refreshkit.errors.StoreError`."""
        with self._errors("get_cutoff"):
            row = self._cutoffs.filter(subject=subject).first()
        if row is None:
            return None
        return SubjectCutoff(subject, row.cutoff_at, row.reason, row.recorded_at)

    # ---------------------------------------------------------------- purge

    def purge_expired(self, now: datetime, batch_size: int = 1000) -> int:
        """Delete sessions expired at ``now``, then expired denials, in batches.

        Each batch is a short transaction found through the expiry index,
        starting where the previous one ended; revoked sessions stay until
        they expire. Returns the number of sessions deleted. Raises
        :class:`ValueError` for a batch size below 1 and
        :class:`~refreshkit.errors.StoreError` when the database fails.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        deleted, after = 0, _PURGE_START
        with self._errors("purge_expired"):
            while True:
                with transaction.atomic(using=self.alias):
                    expired = list(
                        self._sessions.filter(expires_at__lte=now, expires_at__gte=after)
                        .order_by("expires_at")
                        .values_list("sid", "expires_at")[:batch_size]
                    )
                    if expired:
                        self._sessions.filter(sid__in=[sid for sid, _ in expired]).delete()
                deleted += len(expired)
                if len(expired) < batch_size:
                    break
                after = expired[-1][1]
            while True:
                doomed = self._denials.filter(expires_at__lte=now).values("jti")[:batch_size]
                denials, _ = self._denials.filter(jti__in=list(doomed)).delete()
                if denials < batch_size:
                    return deleted

    def close(self) -> None:
        """Nothing to release: the connections are Django's."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(alias={self.alias!r})"


def _in_thread(
    method: Callable[Params, Result],
) -> Callable[Params, Awaitable[Result]]:
    """``method`` run by ``sync_to_async(thread_sensitive=True)``: the thread of the connection."""
    hop: Callable[Params, Awaitable[Result]] = sync_to_async(method, thread_sensitive=True)
    return hop


class AsyncDjangoStore:
    """An :class:`~refreshkit.backends.base.AsyncTokenStore` running a :class:`DjangoStore`.

    Each operation is one hop to Django's thread-sensitive executor (the
    thread its sync code and ``atomic()`` blocks use), so it shares that
    thread's connection. Raises what :class:`DjangoStore` raises.
    """

    def __init__(self, alias: str = "default") -> None:
        #: The sync store every operation runs.
        self.sync: DjangoStore = DjangoStore(alias)

    async def create_session(self, session: Session) -> None:
        """See :meth:`DjangoStore.create_session`."""
        await _in_thread(self.sync.create_session)(session)

    async def get_session(self, sid: str) -> Session | None:
        """See :meth:`DjangoStore.get_session`."""
        return await _in_thread(self.sync.get_session)(sid)

    async def list_sessions(self, subject: str) -> list[Session]:
        """See :meth:`DjangoStore.list_sessions`."""
        return await _in_thread(self.sync.list_sessions)(subject)

    async def compare_and_set(self, update: SessionUpdate) -> UpdateResult:
        """See :meth:`DjangoStore.compare_and_set`."""
        return await _in_thread(self.sync.compare_and_set)(update)

    async def revoke_subject(self, subject: str, now: datetime, reason: str) -> int:
        """See :meth:`DjangoStore.revoke_subject`."""
        return await _in_thread(self.sync.revoke_subject)(subject, now, reason)

    async def deny_access(self, jti: str, until: datetime) -> None:
        """See :meth:`DjangoStore.deny_access`."""
        await _in_thread(self.sync.deny_access)(jti, until)

    async def check_access(
        self, jti: str, sid: str, now: datetime, subject: str | None = None
    ) -> AccessCheck:
        """See :meth:`DjangoStore.check_access`."""
        return await _in_thread(self.sync.check_access)(jti, sid, now, subject)

    async def record_cutoff(self, cutoff: SubjectCutoff) -> SubjectCutoff:
        """See :meth:`DjangoStore.record_cutoff`."""
        return await _in_thread(self.sync.record_cutoff)(cutoff)

    async def get_cutoff(self, subject: str) -> SubjectCutoff | None:
        """See :meth:`DjangoStore.get_cutoff`."""
        return await _in_thread(self.sync.get_cutoff)(subject)

    async def purge_expired(self, now: datetime, batch_size: int = 1000) -> int:
        """See :meth:`DjangoStore.purge_expired`."""
        return await _in_thread(self.sync.purge_expired)(now, batch_size)

    async def aclose(self) -> None:
        """Nothing to release: the connections are Django's."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(alias={self.sync.alias!r})"


# ---------------------------------------------------------------- registry


def _alias(url: str, options: dict[str, Any]) -> str:
    """The database alias of ``django://<alias>``; ConfigurationError for anything more."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "django" or parts.path.strip("/") or parts.query or options:
        raise ConfigurationError(
            "the django:// store takes a database alias and nothing else: "
            "'django://default' or 'django://<alias from DATABASES>'"
        )
    _ensure_django()
    return parts.netloc or "default"


def _ensure_django() -> None:
    """Load Django's apps if a settings module is named but nothing has set Django up yet.

    A worker process or a script given only ``django://...`` gets what
    ``manage.py`` would do; without ``DJANGO_SETTINGS_MODULE`` (or
    ``settings.configure()``) it is a ConfigurationError.
    """
    import django
    from django.apps import apps
    from django.conf import settings

    if apps.ready:
        return
    if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
        raise ConfigurationError(
            "the django:// store needs Django configured: set DJANGO_SETTINGS_MODULE "
            "(or call settings.configure()) and django.setup()"
        )
    django.setup()


def create_store(url: str, **options: Any) -> DjangoStore:
    """A :class:`DjangoStore` for ``django://<alias>`` (the registry's ``django://``).

    Raises :class:`~refreshkit.errors.ConfigurationError` for anything in the
    URL beyond the alias, an unknown alias, an unsupported database, or
    Django not configured.
    """
    return DjangoStore(_alias(url, options))


def create_async_store(url: str, **options: Any) -> AsyncDjangoStore:
    """An :class:`AsyncDjangoStore` for ``django://<alias>``; see :func:`create_store`."""
    return AsyncDjangoStore(_alias(url, options))
