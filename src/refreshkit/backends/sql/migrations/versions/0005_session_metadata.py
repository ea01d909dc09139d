"""Session metadata, remember me and subject cutoffs.

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
``ALTER TABLE`` statements. A new table ``subject_cutoffs`` holds one row
per subject cut off by ``revoke_subject(subject, before=...)``: the instant
(``cutoff_at``, BIGINT microseconds), why (``reason``) and when it was
recorded. The downgrade drops the table (and with it every cutoff record;
the sessions it revoked stay revoked) and the four columns: sessions
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


def _prefix() -> str:
    return str(context.config.attributes["table_prefix"])


def _sessions() -> str:
    """The sessions table, with the prefix this migration runs for."""
    return _prefix() + "sessions"


def upgrade() -> None:
    op.create_table(
        _prefix() + "subject_cutoffs",
        sa.Column("subject", sa.String(255), primary_key=True),
        sa.Column("cutoff_at", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("recorded_at", sa.BigInteger(), nullable=False),
    )
    with op.batch_alter_table(_sessions()) as batch:
        batch.add_column(sa.Column("user_agent", sa.String(512), nullable=True))
        batch.add_column(sa.Column("client_ip", sa.String(64), nullable=True))
        batch.add_column(sa.Column("device_label", sa.String(255), nullable=True))
        batch.add_column(sa.Column("idle_ttl", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_table(_prefix() + "subject_cutoffs")
    with op.batch_alter_table(_sessions()) as batch:
        batch.drop_column("idle_ttl")
        batch.drop_column("device_label")
        batch.drop_column("client_ip")
        batch.drop_column("user_agent")
