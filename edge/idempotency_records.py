"""Queries for ``idempotency_records`` (the REST ``Idempotency-Key`` of :mod:`edge.idempotency`).
Every query but the hourly purge is scoped by tenant."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import asyncpg

from kernel.db import Connection, Pool

__all__ = ["claim", "find", "forget", "purge_older_than", "store"]

_CLAIM = """
WITH old AS (
    -- An expired key, or one abandoned in flight, is free again.
    DELETE FROM idempotency_records
    WHERE tenant_id = $1 AND key = $2
      AND (created_at < now() - $4::interval OR (state = 'in_flight' AND created_at < now() - $5::interval))
)
INSERT INTO idempotency_records (id, tenant_id, key, fingerprint, state)
VALUES ($6, $1, $2, $3, 'in_flight')
ON CONFLICT (tenant_id, key) DO NOTHING
RETURNING id
"""


async def claim(
    pool: Pool,
    tenant_id: UUID,
    key: str,
    fingerprint: bytes,
    record_id: UUID,
    *,
    window: timedelta,
    abandoned_after: timedelta,
) -> bool:
    """Take the key for this request (``in_flight``); False when it is held."""
    claimed = await pool.fetchval(_CLAIM, tenant_id, key, fingerprint, window, abandoned_after, record_id)
    return claimed is not None


async def find(pool: Pool, tenant_id: UUID, key: str) -> asyncpg.Record | None:
    return await pool.fetchrow(
        "SELECT id, fingerprint, state, status_code, sealed_response FROM idempotency_records "
        "WHERE tenant_id = $1 AND key = $2",
        tenant_id,
        key,
    )


async def forget(pool: Pool, tenant_id: UUID, record_id: UUID) -> None:
    await pool.execute("DELETE FROM idempotency_records WHERE tenant_id = $1 AND id = $2", tenant_id, record_id)


async def store(conn: Connection, tenant_id: UUID, record_id: UUID, status: int, sealed: bytes) -> None:
    await conn.execute(
        "UPDATE idempotency_records SET state = 'done', status_code = $3, sealed_response = $4 "
        "WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        record_id,
        status,
        sealed,
    )


async def purge_older_than(pool: Pool, window: timedelta) -> int:
    status: str = await pool.execute("DELETE FROM idempotency_records WHERE created_at < now() - $1::interval", window)
    return int(status.split()[-1])
