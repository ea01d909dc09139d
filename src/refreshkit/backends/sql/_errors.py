"""Driver errors become :class:`~refreshkit.errors.StoreError` at one boundary.

:func:`map_errors` wraps every database call of the store, like httpcore's
``map_exceptions``: a refused or dropped connection, a pool timeout or any
driver failure surfaces as ``StoreError`` with the cause chained, and the
SQL parameters (which hold secret hashes) are hidden from the cause's text.
Deadlocks, serialization failures and lock timeouts become
:class:`TransientStoreError`: the database rolled the transaction back, so
repeating it is safe. A missing table becomes
:class:`~refreshkit.errors.SchemaMissingError`, whose message names the fix.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa_exc

from ...errors import SchemaMissingError, StoreError

__all__ = ["TransientStoreError", "map_errors", "missing_schema_message"]

#: PostgreSQL: serialization_failure, deadlock_detected, lock_not_available.
_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
#: MySQL/MariaDB: ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT.
_TRANSIENT_MYSQL_CODES = frozenset({1213, 1205})
#: SQLite: SQLITE_BUSY, SQLITE_LOCKED (primary result codes).
_TRANSIENT_SQLITE_CODES = frozenset({5, 6})
#: PostgreSQL undefined_table; MySQL/MariaDB ER_NO_SUCH_TABLE.
_MISSING_TABLE_SQLSTATE = "42P01"
_MISSING_TABLE_MYSQL_CODE = 1146


class TransientStoreError(StoreError):
    """The database rolled back a transaction that may succeed if repeated."""


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` is a deadlock, serialization failure, lock timeout or busy database."""
    original = getattr(error, "orig", None)
    if original is None:
        return False
    if getattr(original, "sqlstate", None) in _TRANSIENT_SQLSTATES:
        return True
    code = original.args[0] if original.args else None
    if isinstance(code, int) and code in _TRANSIENT_MYSQL_CODES:
        return True
    if isinstance(original, sqlite3.OperationalError):
        sqlite_code = getattr(original, "sqlite_errorcode", None)
        if isinstance(sqlite_code, int) and sqlite_code & 0xFF in _TRANSIENT_SQLITE_CODES:
            return True
        return "database is locked" in str(original)
    return False


def is_missing_table(error: BaseException) -> bool:
    """Whether ``error`` says a table does not exist, on any dialect and driver."""
    original = getattr(error, "orig", None)
    if original is None:
        return False
    if getattr(original, "sqlstate", None) == _MISSING_TABLE_SQLSTATE:
        return True
    code = original.args[0] if original.args else None
    if code == _MISSING_TABLE_MYSQL_CODE:
        return True
    return isinstance(original, sqlite3.OperationalError) and "no such table" in str(original)


def missing_schema_message(prefix: str, default_prefix: str) -> str:
    """What :class:`~refreshkit.errors.SchemaMissingError` says for tables named ``prefix``."""
    option = "" if prefix == default_prefix else f" --table-prefix {prefix}"
    return (
        f"SQL store: refreshkit's tables (prefix {prefix!r}) do not exist in this database; "
        f"create them with `refreshkit db upgrade{option} URL`, or let the store create "
        "them with create_tables=True (?create_tables=true in the store URL)"
    )


@contextmanager
def map_errors(operation: str, missing_schema: str = "") -> Iterator[None]:
    """Re-raise driver and connection failures inside the block as StoreError.

    Raises :class:`TransientStoreError` for failures worth one more try,
    :class:`~refreshkit.errors.SchemaMissingError` (with the message
    ``missing_schema``, when given) for a table that does not exist, and
    :class:`~refreshkit.errors.StoreError` for everything else the database
    or the network did; lets refreshkit's own errors through untouched.
    """
    try:
        yield
    except StoreError:
        raise
    except (sa_exc.SQLAlchemyError, OSError, TimeoutError) as error:
        if isinstance(error, sa_exc.StatementError):
            error.hide_parameters = True
        if missing_schema and is_missing_table(error):
            raise SchemaMissingError(missing_schema) from error
        kind = type(getattr(error, "orig", None) or error).__name__
        if is_transient(error):
            raise TransientStoreError(f"SQL store: {operation} hit a transient {kind}") from error
        raise StoreError(f"SQL store: {operation} failed ({kind})") from error
