"""Session metadata and remember me: what a device list shows, and a session's own idle lifetime.

Revision ID: 0005
Revises: 0004
Create Date: 2027-03-01 00:00:00

``sessions.user_agent`` (up to 512 characters), ``sessions.client_ip`` (up to
64: the address as ``Settings.session_ip`` keeps it, plain, truncated or a
keyed hash) and ``sessions.device_label`` (up to 255) are what a login
recorded for the user's device list; ``sessions.idle_ttl`` (BIGINT
microseconds) is the sliding lifetime a remember-me login chose, NULL for
the settings'. All four are nullable and added empty: every session stored
before this revision has no metadata and keeps sliding by the settings'
idle lifetime. Batch mode, so SQLite rebuilds the table; elsewhere plain
``ALTER TABLE`` statements. The downgrade drops the four columns: sessions
keep working, without their metadata, and a remember-me session then slides
by the settings' idle lifetime (its absolute expiry, stored as a time, stays).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _sessions() -> str:
    """The sessions table, with the prefix this migration runs for."""
    return str(context.config.attributes["table_prefix"]) + "sessions"


def upgrade() -> None:
    with op.batch_alter_table(_sessions()) as batch:
        batch.add_column(sa.Column("user_agent", sa.String(512), nullable=True))
        batch.add_column(sa.Column("client_ip", sa.String(64), nullable=True))
        batch.add_column(sa.Column("device_label", sa.String(255), nullable=True))
        batch.add_column(sa.Column("idle_ttl", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table(_sessions()) as batch:
        batch.drop_column("idle_ttl")
        batch.drop_column("device_label")
        batch.drop_column("client_ip")
        batch.drop_column("user_agent")
