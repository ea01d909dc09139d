"""Idempotent refresh: sessions keep their sealed successor; the grace counter goes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 00:00:00

``sessions.sealed_successor`` (nullable text) holds the session's newest
token sealed under its predecessor's secret, so a retry of the predecessor is
handed the same successor again. Sessions stored before this revision have
none until their next rotation: a retry of a rotation made before the upgrade
cannot recover its successor and is treated as reuse. ``grace_reuses``
counted the siblings a grace window issued; the family no longer forks, so it
is dropped. Batch mode, so SQLite (which cannot alter columns in place)
rebuilds the table; elsewhere these are plain ``ALTER TABLE`` statements.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _sessions() -> str:
    """The sessions table, with the prefix this migration runs for."""
    return str(context.config.attributes["table_prefix"]) + "sessions"


def upgrade() -> None:
    with op.batch_alter_table(_sessions()) as batch:
        batch.add_column(sa.Column("sealed_successor", sa.Text(), nullable=True))
        batch.drop_column("grace_reuses")


def downgrade() -> None:
    # Two steps: existing rows get 0 from a server default, which then goes,
    # so the column ends exactly as revision 0001 defined it.
    with op.batch_alter_table(_sessions()) as batch:
        batch.add_column(
            sa.Column("grace_reuses", sa.Integer(), nullable=False, server_default="0")
        )
        batch.drop_column("sealed_successor")
    with op.batch_alter_table(_sessions()) as batch:
        batch.alter_column("grace_reuses", existing_type=sa.Integer(), server_default=None)
