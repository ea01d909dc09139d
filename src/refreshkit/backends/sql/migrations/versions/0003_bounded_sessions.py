"""Bounded sessions: each session holds its own token state; the refresh_tokens table goes.

Revision ID: 0003
Revises: 0002
Create Date: 2027-01-15 00:00:00

A session row now carries its newest token's secret hash and use count, the
token it replaced (id, secret hash, and ``rotated_at``, when it was consumed)
and ``chain_hash``, so every write is a compare-and-set of that one row and
nothing accumulates per refresh. The upgrade fills the new columns from each
session's records: ``current_secret_hash`` and ``use_count`` from the record
of ``current_token_id``, the ``previous_*`` columns and ``rotated_at`` from
that record's parent (the consumed record it replaced), then drops
``refresh_tokens``. ``chain_hash`` stays NULL: tokens minted before this
revision carry no shared chain key, and the policy stores the hash at a
session's next rotation. So a spent token older than the previous one, once
recognised as reuse through its record, is now refused as unknown. A session
whose current record is missing (it could not be refreshed before either)
keeps an empty secret hash that no token matches.

The downgrade recreates ``refresh_tokens`` from each session's current and
previous token (older records are gone for good) and drops the new columns.
Batch mode, so SQLite rebuilds the sessions table where it cannot alter a
column in place; elsewhere these are plain ``ALTER TABLE`` statements. The
data moves with portable ``UPDATE ... SET col = (SELECT ...)`` and
``INSERT ... SELECT`` statements.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_RECORD_COLUMNS = (
    "token_id",
    "sid",
    "secret_hash",
    "generation",
    "created_at",
    "parent_id",
    "consumed_at",
    "use_count",
)
_SESSION_COLUMNS = (
    "sid",
    "created_at",
    "current_token_id",
    "current_secret_hash",
    "generation",
    "use_count",
    "last_used_at",
    "previous_token_id",
    "previous_secret_hash",
    "rotated_at",
)


def _name(table: str) -> str:
    """``table`` with the prefix this migration runs for."""
    return str(context.config.attributes["table_prefix"]) + table


def _tables() -> tuple[sa.TableClause, sa.TableClause]:
    """Light handles on the sessions and refresh_tokens tables (times are raw integers)."""
    sessions = sa.table(_name("sessions"), *map(sa.column, _SESSION_COLUMNS))
    records = sa.table(_name("refresh_tokens"), *map(sa.column, _RECORD_COLUMNS))
    return sessions, records


def upgrade() -> None:
    sessions_name = _name("sessions")
    with op.batch_alter_table(sessions_name) as batch:
        batch.add_column(sa.Column("current_secret_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("use_count", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("previous_token_id", sa.String(48), nullable=True))
        batch.add_column(sa.Column("previous_secret_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("rotated_at", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("chain_hash", sa.String(64), nullable=True))
    _fill_sessions()
    with op.batch_alter_table(sessions_name) as batch:
        batch.alter_column("current_secret_hash", existing_type=sa.String(64), nullable=False)
        batch.alter_column("use_count", existing_type=sa.Integer(), nullable=False)
    op.drop_table(_name("refresh_tokens"))  # its index goes with it


def _fill_sessions() -> None:
    """Copy each session's current and previous token from its records into its row."""
    sessions, records = _tables()
    current = records.alias("current_record")
    parent = records.alias("parent_record")

    def of_current(column: str) -> sa.ScalarSelect[object]:
        return (
            sa.select(current.c[column])
            .where(current.c.token_id == sessions.c.current_token_id)
            .scalar_subquery()
        )

    def of_parent(column: str) -> sa.ScalarSelect[object]:
        return (
            sa.select(parent.c[column])
            .select_from(current.join(parent, parent.c.token_id == current.c.parent_id))
            .where(
                current.c.token_id == sessions.c.current_token_id,
                parent.c.consumed_at.is_not(None),
            )
            .scalar_subquery()
        )

    op.execute(
        sa.update(sessions).values(
            current_secret_hash=sa.func.coalesce(of_current("secret_hash"), ""),
            use_count=sa.func.coalesce(of_current("use_count"), 0),
            previous_token_id=of_parent("token_id"),
            previous_secret_hash=of_parent("secret_hash"),
            rotated_at=of_parent("consumed_at"),
        )
    )


def downgrade() -> None:
    tokens = _name("refresh_tokens")
    op.create_table(
        tokens,
        sa.Column("token_id", sa.String(48), primary_key=True),
        sa.Column("sid", sa.String(32), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("parent_id", sa.String(48), nullable=True),
        sa.Column("consumed_at", sa.BigInteger(), nullable=True),
        sa.Column("use_count", sa.Integer(), nullable=False),
    )
    op.create_index(f"ix_{tokens}_sid", tokens, ["sid"])
    _fill_records()
    with op.batch_alter_table(_name("sessions")) as batch:
        for column in (
            "chain_hash",
            "rotated_at",
            "previous_secret_hash",
            "previous_token_id",
            "use_count",
            "current_secret_hash",
        ):
            batch.drop_column(column)


def _fill_records() -> None:
    """Recreate each session's records: its current token and, once rotated, the previous one.

    The current record is unconsumed with the session's use count (how
    revision 0002 counted uses with rotation off); the previous one is the
    consumed parent of generation - 1, used once, as a rotation left it.
    A record's creation time is not kept by 0003: the current one gets the
    last rotation (or the login), the previous one the login.
    """
    sessions, records = _tables()
    op.execute(
        sa.insert(records).from_select(
            list(_RECORD_COLUMNS),
            sa.select(
                sessions.c.current_token_id,
                sessions.c.sid,
                sessions.c.current_secret_hash,
                sessions.c.generation,
                sa.func.coalesce(sessions.c.rotated_at, sessions.c.created_at),
                sessions.c.previous_token_id,
                sa.null(),
                sessions.c.use_count,
            ),
        )
    )
    op.execute(
        sa.insert(records).from_select(
            list(_RECORD_COLUMNS),
            sa.select(
                sessions.c.previous_token_id,
                sessions.c.sid,
                sessions.c.previous_secret_hash,
                sessions.c.generation - 1,
                sessions.c.created_at,
                sa.null(),
                sessions.c.rotated_at,
                sa.literal(1),
            ).where(
                sessions.c.previous_token_id.is_not(None),
                sessions.c.previous_secret_hash.is_not(None),
            ),
        )
    )
