"""OAuth clients: a session records the client it is bound to and its confirmation key.

Revision ID: 0004
Revises: 0003
Create Date: 2027-02-01 00:00:00

``sessions.client_id`` (nullable, up to 255 characters) is the client the
session was issued to, or bound to by its first client's refresh; NULL for
sessions of the implicit client, which every session stored before this
revision is, so they keep refreshing as before and are bound to the first
registered client that refreshes them. ``sessions.cnf`` (nullable JSON) is
the RFC 7800 confirmation its access tokens carry (a DPoP key thumbprint,
say); NULL for every existing session. Both columns are added empty: no
data moves. Batch mode, so SQLite rebuilds the table; elsewhere these are
plain ``ALTER TABLE`` statements. The downgrade drops both columns, and with
them every binding.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _sessions() -> str:
    """The sessions table, with the prefix this migration runs for."""
    return str(context.config.attributes["table_prefix"]) + "sessions"


def upgrade() -> None:
    with op.batch_alter_table(_sessions()) as batch:
        batch.add_column(sa.Column("client_id", sa.String(255), nullable=True))
        batch.add_column(sa.Column("cnf", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table(_sessions()) as batch:
        batch.drop_column("cnf")
        batch.drop_column("client_id")
