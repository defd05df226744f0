"""Database bootstrap for operators: create the database if it is missing, then migrate."""

from __future__ import annotations

import asyncio

import asyncpg

from migrations import upgrade

__all__ = ["ensure_database", "migrate"]


async def ensure_database(dsn: str) -> bool:
    """Create the database named in ``dsn`` if it does not exist; True when it was created."""
    try:
        conn = await asyncpg.connect(dsn)
    except asyncpg.InvalidCatalogNameError:
        pass
    else:
        await conn.close()
        return False
    base, _, name = dsn.rpartition("/")
    name = name.split("?")[0]
    admin = await asyncpg.connect(f"{base}/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    except asyncpg.DuplicateDatabaseError:
        return False
    finally:
        await admin.close()
    return True


def migrate(dsn: str, database_url: str) -> None:
    """Synchronous: Alembic's async environment runs its own event loop."""
    asyncio.run(ensure_database(dsn))
    upgrade(database_url)
