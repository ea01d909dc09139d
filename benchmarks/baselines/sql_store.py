"""One table of refresh tokens on SQLAlchemy Core, one transaction per refresh.

PostgreSQL and SQLite rotate with ``UPDATE ... RETURNING`` + ``INSERT``;
MariaDB has no ``UPDATE ... RETURNING``, so it locks the row with
``SELECT ... FOR UPDATE`` first. This is the transaction the issue names as
the PostgreSQL baseline.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


def token_table(prefix: str, metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        f"{prefix}tokens",
        metadata,
        sa.Column("token_id", sa.String(64), primary_key=True),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("used_at", sa.BigInteger, nullable=True),
    )


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


class SQLTokens:
    def __init__(self, engine: sa.Engine, prefix: str) -> None:
        self.engine = engine
        self.table = token_table(prefix, sa.MetaData())
        self.returning = engine.dialect.name != "mysql"
        self.table.create(engine, checkfirst=True)

    def drop(self) -> None:
        self.table.drop(self.engine, checkfirst=True)

    def create(
        self, family: str, subject: str, token_id: str, secret_hash: str, expires: float
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                self.table.insert().values(
                    token_id=f"{family}.{token_id}",
                    subject=subject,
                    secret_hash=secret_hash,
                    expires_at=_ms(expires),
                )
            )

    def rotate(
        self,
        family: str,
        token_id: str,
        presented: str,
        new_id: str,
        new_hash: str,
        now: float,
        expires: float,
    ) -> str | None:
        t = self.table
        current = (
            (t.c.token_id == f"{family}.{token_id}")
            & (t.c.secret_hash == presented)
            & t.c.used_at.is_(None)
            & (t.c.expires_at > _ms(now))
        )
        with self.engine.begin() as conn:
            if self.returning:
                subject = conn.execute(
                    t.update().where(current).values(used_at=_ms(now)).returning(t.c.subject)
                ).scalar()
            else:
                subject = conn.execute(
                    sa.select(t.c.subject).where(current).with_for_update()
                ).scalar()
                if subject is not None:
                    conn.execute(
                        t.update()
                        .where(t.c.token_id == f"{family}.{token_id}")
                        .values(used_at=_ms(now))
                    )
            if subject is None:
                return None
            conn.execute(
                t.insert().values(
                    token_id=f"{family}.{new_id}",
                    subject=subject,
                    secret_hash=new_hash,
                    expires_at=_ms(expires),
                )
            )
            return str(subject)


class AsyncSQLTokens:
    def __init__(self, engine: Any, prefix: str) -> None:
        self.engine = engine
        self.table = token_table(prefix, sa.MetaData())
        self.returning = engine.dialect.name != "mysql"

    async def prepare(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(lambda sync: self.table.create(sync, checkfirst=True))

    async def drop(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(lambda sync: self.table.drop(sync, checkfirst=True))

    async def create(
        self, family: str, subject: str, token_id: str, secret_hash: str, expires: float
    ) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                self.table.insert().values(
                    token_id=f"{family}.{token_id}",
                    subject=subject,
                    secret_hash=secret_hash,
                    expires_at=_ms(expires),
                )
            )

    async def rotate(
        self,
        family: str,
        token_id: str,
        presented: str,
        new_id: str,
        new_hash: str,
        now: float,
        expires: float,
    ) -> str | None:
        t = self.table
        current = (
            (t.c.token_id == f"{family}.{token_id}")
            & (t.c.secret_hash == presented)
            & t.c.used_at.is_(None)
            & (t.c.expires_at > _ms(now))
        )
        async with self.engine.begin() as conn:
            if self.returning:
                subject = (
                    await conn.execute(
                        t.update().where(current).values(used_at=_ms(now)).returning(t.c.subject)
                    )
                ).scalar()
            else:
                subject = (
                    await conn.execute(sa.select(t.c.subject).where(current).with_for_update())
                ).scalar()
                if subject is not None:
                    await conn.execute(
                        t.update()
                        .where(t.c.token_id == f"{family}.{token_id}")
                        .values(used_at=_ms(now))
                    )
            if subject is None:
                return None
            await conn.execute(
                t.insert().values(
                    token_id=f"{family}.{new_id}",
                    subject=subject,
                    secret_hash=new_hash,
                    expires_at=_ms(expires),
                )
            )
            return str(subject)
