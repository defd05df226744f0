"""PostgreSQL access.

The schema is defined with SQLAlchemy Core (``*/models.py``) and migrated by Alembic; queries run
on asyncpg directly. The hot paths (submit, webhook ingest, delivery, relay) are one or two
statements each, and SQLAlchemy's async layer would cost about a third of their throughput for no
gain (measured: see README, "Performance").

:func:`unit_of_work` is the only place a transaction commits. Services take the connection it
yields and never commit themselves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg
import msgspec

__all__ = ["Connection", "Pool", "create_pool", "unit_of_work"]

# Real classes at run time (frameworks resolve annotations), generic ones for the type checker.
if TYPE_CHECKING:
    Connection: TypeAlias = asyncpg.pool.PoolConnectionProxy[asyncpg.Record] | asyncpg.Connection[asyncpg.Record]
    Pool: TypeAlias = asyncpg.Pool[asyncpg.Record]
else:
    Connection = asyncpg.pool.PoolConnectionProxy | asyncpg.Connection
    Pool = asyncpg.Pool


def _encode_json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


async def _init_connection(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=_encode_json, decoder=msgspec.json.decode, schema="pg_catalog")


async def _release(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    # asyncpg's default reset (advisory unlock, CLOSE ALL, UNLISTEN *, RESET ALL) is a round trip
    # on every release. Pooled connections here never carry session state (no SET, LISTEN or
    # advisory locks; the relay listens on its own connection), so only an abandoned transaction
    # needs undoing, and checking for one is free.
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10) -> Pool:
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, reset=_release, command_timeout=30
    )
    assert pool is not None
    return pool


@asynccontextmanager
async def unit_of_work(pool: Pool) -> AsyncIterator[Connection]:
    """One transaction: commits when the block exits normally, rolls back on any exception."""
    async with pool.acquire() as conn, conn.transaction():
        yield conn
