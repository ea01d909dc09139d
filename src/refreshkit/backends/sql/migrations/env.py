"""Alembic environment for refreshkit's SQL tables.

Run through :mod:`refreshkit.backends.sql.migrate` (or ``refreshkit db``),
which passes an open connection and the table prefix in
``config.attributes``. With the plain ``alembic`` command, give the prefix as
``-x table_prefix=myapp_`` and the URL as ``sqlalchemy.url``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from refreshkit.backends.sql.schema import DEFAULT_PREFIX, build_tables

_config = context.config
_prefix = _config.attributes.get("table_prefix") or context.get_x_argument(as_dictionary=True).get(
    "table_prefix", DEFAULT_PREFIX
)
_config.attributes["table_prefix"] = _prefix
_tables = build_tables(_prefix)


def run_offline() -> None:
    """Emit the SQL instead of running it (``alembic upgrade --sql``)."""
    context.configure(
        url=_config.get_main_option("sqlalchemy.url"),
        literal_binds=True,
        target_metadata=_tables.metadata,
        version_table=_tables.version_table,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Run against the connection we were given, or one opened from the URL."""
    connection = _config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection,
            target_metadata=_tables.metadata,
            version_table=_tables.version_table,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    url = _config.get_main_option("sqlalchemy.url")
    engine = create_engine(url or "", poolclass=pool.NullPool)
    with engine.connect() as opened:
        context.configure(
            connection=opened, target_metadata=_tables.metadata, version_table=_tables.version_table
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
