"""One row per session on SQLAlchemy Core, the rotation as one conditional UPDATE.

Statements are built once (bound parameters, so SQLAlchemy's compiled cache
serves every call) and the rotation is one write that checks and updates
the row at once: ``UPDATE ... SET <successor, previous, seal, counters,
expiry> WHERE sid AND current token AND its hash AND not revoked AND not
expired``. PostgreSQL runs it with ``RETURNING`` in autocommit: one
statement, one round trip. SQLite runs it with ``RETURNING`` inside one
transaction (the driver's implicit BEGIN, then COMMIT). MariaDB has no
``UPDATE ... RETURNING``, so its transaction reads the row it just updated
(and still locks) before COMMIT.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

B = sa.bindparam


def session_table(prefix: str, metadata: sa.MetaData) -> sa.Table:
    """The same one-row-per-session layout as refreshkit's, times in microseconds."""
    return sa.Table(
        f"{prefix}sessions",
        metadata,
        sa.Column("sid", sa.String(32), primary_key=True),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("current_token_id", sa.String(48), nullable=False),
        sa.Column("current_secret_hash", sa.String(64), nullable=False),
        sa.Column("previous_token_id", sa.String(48)),
        sa.Column("previous_secret_hash", sa.String(64)),
        sa.Column("rotated_at", sa.BigInteger),
        sa.Column("sealed_successor", sa.Text()),
        sa.Column("chain_hash", sa.String(64)),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("use_count", sa.Integer, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("idle_expires_at", sa.BigInteger, nullable=False),
        sa.Column("absolute_expires_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("last_used_at", sa.BigInteger, nullable=False),
        sa.Column("device_hash", sa.String(64)),
        sa.Column("scope", sa.Text()),
        sa.Column("claims", sa.Text(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger),
        sa.Column("revoked_reason", sa.String(64)),
        # The same indexes as refreshkit's: a subject's sessions, and the purge by expiry.
        sa.Index(f"ix_{prefix}sessions_subject", "subject"),
        sa.Index(f"ix_{prefix}sessions_expires_at", "expires_at"),
    )


class _Statements:
    """The two statements, built once per table."""

    def __init__(self, table: sa.Table, dialect: str) -> None:
        t = self.table = table
        self.returning = dialect != "mysql"
        self.insert = t.insert().values(
            sid=B("sid"),
            subject=B("subject"),
            current_token_id=B("token_id"),
            current_secret_hash=B("secret_hash"),
            chain_hash=B("chain"),
            generation=0,
            use_count=0,
            created_at=B("now"),
            idle_expires_at=B("idle"),
            absolute_expires_at=B("absolute"),
            expires_at=B("expires"),
            last_used_at=B("now"),
            claims="{}",
        )
        rotate = (
            t.update()
            .where(
                t.c.sid == B("p_sid"),
                t.c.current_token_id == B("p_id"),
                t.c.current_secret_hash == B("p_hash"),
                t.c.revoked_at.is_(None),
                t.c.idle_expires_at > B("p_now"),
                t.c.absolute_expires_at > B("p_now"),
            )
            .values(
                current_token_id=B("new_id"),
                current_secret_hash=B("new_hash"),
                previous_token_id=B("p_id"),
                previous_secret_hash=B("p_hash"),
                rotated_at=B("p_now"),
                sealed_successor=B("sealed"),
                generation=t.c.generation + 1,
                use_count=0,
                idle_expires_at=B("idle"),
                expires_at=sa.case(
                    (t.c.absolute_expires_at < B("idle"), t.c.absolute_expires_at),
                    else_=B("idle"),
                ),
                last_used_at=B("p_now"),
            )
        )
        if self.returning:
            rotate = rotate.returning(t.c.subject, t.c.absolute_expires_at)
        self.rotate = rotate
        self.read_back = sa.select(t.c.subject, t.c.absolute_expires_at).where(
            t.c.sid == B("p_sid")
        )

    @staticmethod
    def params(
        sid: str,
        token_id: str,
        secret_hash: str,
        new_id: str,
        new_hash: str,
        sealed: str,
        now: int,
        idle: int,
    ) -> dict[str, Any]:
        return {
            "p_sid": sid,
            "p_id": token_id,
            "p_hash": secret_hash,
            "new_id": new_id,
            "new_hash": new_hash,
            "sealed": sealed,
            "p_now": now,
            "idle": idle,
        }


def _create_params(*args: Any) -> dict[str, Any]:
    names = ("sid", "subject", "token_id", "secret_hash", "chain", "now", "idle", "absolute")
    params = dict(zip(names, args, strict=True))
    params["expires"] = min(params["idle"], params["absolute"])
    return params


class SQLTokens:
    """The synchronous store (one engine shared with refreshkit's store)."""

    def __init__(self, engine: sa.Engine, prefix: str) -> None:
        self.engine = engine
        self.sql = _Statements(session_table(prefix, sa.MetaData()), engine.dialect.name)
        self.sql.table.create(engine, checkfirst=True)
        self._postgres = engine.dialect.name == "postgresql"
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    def drop(self) -> None:
        self.sql.table.drop(self.engine, checkfirst=True)

    def create(self, *args: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(self.sql.insert, _create_params(*args))

    def rotate(self, *args: Any) -> tuple[str, int] | None:
        params = self.sql.params(*args)
        if self._postgres:
            with self._autocommit.connect() as conn:
                row = conn.execute(self.sql.rotate, params).first()
        elif self.sql.returning:
            with self.engine.begin() as conn:
                row = conn.execute(self.sql.rotate, params).first()
        else:
            with self.engine.begin() as conn:
                if conn.execute(self.sql.rotate, params).rowcount != 1:
                    return None
                row = conn.execute(self.sql.read_back, params).first()
        return None if row is None else (row[0], row[1])


class AsyncSQLTokens:
    """The asyncio store on the same statements."""

    def __init__(self, engine: Any, prefix: str) -> None:
        self.engine = engine
        self.sql = _Statements(session_table(prefix, sa.MetaData()), engine.dialect.name)
        self._postgres = engine.dialect.name == "postgresql"
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    async def prepare(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(lambda sync: self.sql.table.create(sync, checkfirst=True))

    async def drop(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(lambda sync: self.sql.table.drop(sync, checkfirst=True))

    async def create(self, *args: Any) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(self.sql.insert, _create_params(*args))

    async def rotate(self, *args: Any) -> tuple[str, int] | None:
        params = self.sql.params(*args)
        if self._postgres:
            async with self._autocommit.connect() as conn:
                row = (await conn.execute(self.sql.rotate, params)).first()
        elif self.sql.returning:
            async with self.engine.begin() as conn:
                row = (await conn.execute(self.sql.rotate, params)).first()
        else:
            async with self.engine.begin() as conn:
                if (await conn.execute(self.sql.rotate, params)).rowcount != 1:
                    return None
                row = (await conn.execute(self.sql.read_back, params)).first()
        return None if row is None else (row[0], row[1])
