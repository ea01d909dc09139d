"""Initial schema: sessions, refresh tokens, access denylist.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00

Times are BIGINT microseconds since the Unix epoch, UTC (see schema.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _name(table: str) -> str:
    """``table`` with the prefix this migration runs for."""
    return str(context.config.attributes["table_prefix"]) + table


def upgrade() -> None:
    sessions, tokens, denied = _name("sessions"), _name("refresh_tokens"), _name("denied_access")
    op.create_table(
        sessions,
        sa.Column("sid", sa.String(32), primary_key=True),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("idle_expires_at", sa.BigInteger(), nullable=False),
        sa.Column("absolute_expires_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("last_used_at", sa.BigInteger(), nullable=False),
        sa.Column("current_token_id", sa.String(48), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("grace_reuses", sa.Integer(), nullable=False),
        sa.Column("device_hash", sa.String(64), nullable=True),
        sa.Column("scope", sa.Text(), nullable=True),
        sa.Column("claims", sa.JSON(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.Column("revoked_reason", sa.String(64), nullable=True),
    )
    op.create_index(f"ix_{sessions}_subject", sessions, ["subject"])
    op.create_index(f"ix_{sessions}_expires_at", sessions, ["expires_at"])
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
    op.create_table(
        denied,
        sa.Column("jti", sa.String(255), primary_key=True),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
    )
    op.create_index(f"ix_{denied}_expires_at", denied, ["expires_at"])


def downgrade() -> None:
    op.drop_table(_name("denied_access"))
    op.drop_table(_name("refresh_tokens"))
    op.drop_table(_name("sessions"))
