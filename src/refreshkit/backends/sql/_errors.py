"""Driver errors become :class:`~refreshkit.errors.StoreError` at one boundary.

:func:`map_errors` wraps every database call of the store, like httpcore's
``map_exceptions``: a refused or dropped connection, a pool timeout or any
driver failure surfaces as ``StoreError`` with the cause chained, and the
SQL parameters (which hold secret hashes) are hidden from the cause's text.
Deadlocks, serialization failures and lock timeouts become
:class:`TransientStoreError`: the database rolled the transaction back, so
repeating it is safe.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa_exc

from ...errors import StoreError

__all__ = ["TransientStoreError", "map_errors"]

#: PostgreSQL: serialization_failure, deadlock_detected, lock_not_available.
_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
#: MySQL/MariaDB: ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT.
_TRANSIENT_MYSQL_CODES = frozenset({1213, 1205})
#: SQLite: SQLITE_BUSY, SQLITE_LOCKED (primary result codes).
_TRANSIENT_SQLITE_CODES = frozenset({5, 6})


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


@contextmanager
def map_errors(operation: str) -> Iterator[None]:
    """Re-raise driver and connection failures inside the block as StoreError.

    Raises :class:`TransientStoreError` for failures worth one more try, and
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
        kind = type(getattr(error, "orig", None) or error).__name__
        if is_transient(error):
            raise TransientStoreError(f"SQL store: {operation} hit a transient {kind}") from error
        raise StoreError(f"SQL store: {operation} failed ({kind})") from error
