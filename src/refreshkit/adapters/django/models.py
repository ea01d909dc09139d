"""The ORM store's tables as Django models, column for column the SQL backend's.

``refreshkit_sessions`` and ``refreshkit_denied_access`` have the columns,
types and indexes of :mod:`refreshkit.backends.sql.schema`, so a database
migrated by either side holds the same rows. Times are ``BIGINT``
microseconds since the epoch (:class:`MicrosecondsField`), compared as plain
integers in SQL on every database. ``expires_at`` is the earlier of the two
expiries, which the store keeps with every write of ``idle_expires_at``, so
a purge walks one index. The store (:mod:`.store`) is the only writer: the
admin reads these rows and revokes through the manager.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from django.db import models

__all__ = [
    "DeniedAccess",
    "DurationMicrosecondsField",
    "MicrosecondsField",
    "Session",
    "SubjectCutoff",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


if TYPE_CHECKING:
    _BigIntegerField = models.BigIntegerField[Any, Any]
else:
    _BigIntegerField = models.BigIntegerField


def to_microseconds(value: datetime) -> int:
    """Integer microseconds since the epoch; ValueError for a naive datetime."""
    if value.utcoffset() is None:
        raise ValueError("refreshkit stores only timezone-aware datetimes")
    return (value - _EPOCH) // _MICROSECOND


class MicrosecondsField(_BigIntegerField):
    """An aware UTC datetime stored as ``BIGINT`` microseconds since the epoch.

    The SQL backend's ``UTCMicroseconds``: exact on every database, and
    compared as an integer by lookups (``expires_at__lte=now`` converts
    ``now``). Raises :class:`ValueError` for a naive datetime.
    """

    def get_prep_value(self, value: Any) -> Any:
        """A datetime as microseconds; an integer (or an expression) as it is."""
        if isinstance(value, datetime):
            return to_microseconds(value)
        return super().get_prep_value(value)

    def from_db_value(self, value: int | None, expression: Any, connection: Any) -> datetime | None:
        """Microseconds from the database as an aware UTC datetime."""
        if value is None:
            return None
        return _EPOCH + timedelta(microseconds=int(value))

    def to_python(self, value: Any) -> datetime | None:
        """Datetimes stay; integers (microseconds) become datetimes."""
        if value is None or isinstance(value, datetime):
            return value
        return _EPOCH + timedelta(microseconds=int(value))


class DurationMicrosecondsField(_BigIntegerField):
    """A :class:`~datetime.timedelta` stored as ``BIGINT`` microseconds (the SQL backend's too).

    Django's own ``DurationField`` is ``INTERVAL`` on PostgreSQL, unlike the
    SQL backend's column; this one is the same integer everywhere.
    """

    def get_prep_value(self, value: Any) -> Any:
        """A timedelta as microseconds; an integer (or an expression) as it is."""
        if isinstance(value, timedelta):
            return value // _MICROSECOND
        return super().get_prep_value(value)

    def from_db_value(
        self, value: int | None, expression: Any, connection: Any
    ) -> timedelta | None:
        """Microseconds from the database as a timedelta."""
        if value is None:
            return None
        return timedelta(microseconds=int(value))

    def to_python(self, value: Any) -> timedelta | None:
        """Timedeltas stay; integers (microseconds) become timedeltas."""
        if value is None or isinstance(value, timedelta):
            return value
        return timedelta(microseconds=int(value))


class Session(models.Model):
    """One refresh family: its bounded token state in one row (see :class:`refreshkit.Session`)."""

    sid: Any = models.CharField(primary_key=True, max_length=32)
    subject: Any = models.CharField(max_length=255, db_index=True)
    created_at: Any = MicrosecondsField()
    idle_expires_at: Any = MicrosecondsField()
    absolute_expires_at: Any = MicrosecondsField()
    expires_at: Any = MicrosecondsField(db_index=True)
    last_used_at: Any = MicrosecondsField()
    current_token_id: Any = models.CharField(max_length=48)
    current_secret_hash: Any = models.CharField(max_length=64)
    generation: Any = models.IntegerField()
    use_count: Any = models.IntegerField()
    previous_token_id: Any = models.CharField(max_length=48, null=True)
    previous_secret_hash: Any = models.CharField(max_length=64, null=True)
    rotated_at: Any = MicrosecondsField(null=True)
    sealed_successor: Any = models.TextField(null=True)
    chain_hash: Any = models.CharField(max_length=64, null=True)
    device_hash: Any = models.CharField(max_length=64, null=True)
    scope: Any = models.TextField(null=True)
    claims: Any = models.JSONField()
    client_id: Any = models.CharField(max_length=255, null=True)
    cnf: Any = models.JSONField(null=True)
    revoked_at: Any = MicrosecondsField(null=True)
    revoked_reason: Any = models.CharField(max_length=64, null=True)
    user_agent: Any = models.CharField(max_length=512, null=True)
    client_ip: Any = models.CharField(max_length=64, null=True)
    device_label: Any = models.CharField(max_length=255, null=True)
    idle_ttl: Any = DurationMicrosecondsField(null=True)

    objects: ClassVar[Any]

    class Meta:
        db_table = "refreshkit_sessions"
        verbose_name = "refresh session"

    def __str__(self) -> str:
        return f"{self.subject} ({self.sid})"


class DeniedAccess(models.Model):
    """An access token (by ``jti``) denied until it expires."""

    jti: Any = models.CharField(primary_key=True, max_length=255)
    expires_at: Any = MicrosecondsField(db_index=True)

    objects: ClassVar[Any]

    class Meta:
        db_table = "refreshkit_denied_access"
        verbose_name = "denied access token"
        verbose_name_plural = "denied access tokens"

    def __str__(self) -> str:
        return str(self.jti)


class SubjectCutoff(models.Model):
    """A subject's cutoff: its sessions and tokens issued before ``cutoff_at`` are void."""

    subject: Any = models.CharField(primary_key=True, max_length=255)
    cutoff_at: Any = MicrosecondsField()
    reason: Any = models.CharField(max_length=64)
    recorded_at: Any = MicrosecondsField()

    objects: ClassVar[Any]

    class Meta:
        db_table = "refreshkit_subject_cutoffs"
        verbose_name = "subject cutoff"

    def __str__(self) -> str:
        return f"{self.subject} before {self.cutoff_at}"
