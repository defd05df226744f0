"""The migrations and the models describe the same schema (CI fails on drift)."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from migrations import target_metadata


async def test_migrated_database_matches_the_models(database_dsn: str) -> None:
    def diff(sync: Connection) -> list[Any]:
        context = MigrationContext.configure(sync, opts={"compare_type": True, "compare_server_default": True})
        result: list[Any] = compare_metadata(context, target_metadata())
        return result

    engine = create_async_engine(database_dsn.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await engine.dispose()
