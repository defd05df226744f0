"""Queries for raw provider events, scoped by tenant."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from kernel.db import Connection
from kernel.outbox import CHANNEL

__all__ = ["insert_raw_event", "lock_raw_event", "mark_raw_event"]

# Stored and queued for reconciliation in one statement (one implicit transaction).
_INSERT = f"""
WITH r AS (
    INSERT INTO raw_events (tenant_id, credential_id, provider, headers, body, body_sha256)
    VALUES ($1, $2, $3, $4, $5, $6) RETURNING id
), o AS (
    INSERT INTO outbox (topic, payload)
    SELECT 'webhooks.reconcile', jsonb_build_object('raw_event_id', id, 'tenant_id', $1::uuid) FROM r
)
SELECT id FROM r, pg_notify('{CHANNEL}', '')
"""


async def insert_raw_event(
    conn: Connection | asyncpg.Pool[asyncpg.Record],
    *,
    tenant_id: UUID,
    credential_id: UUID,
    provider: str,
    headers: dict[str, Any],
    body: bytes,
    body_sha256: bytes,
) -> int:
    raw_id: int = await conn.fetchval(_INSERT, tenant_id, credential_id, provider, headers, body, body_sha256)
    return raw_id


async def lock_raw_event(conn: Connection, tenant_id: UUID, raw_event_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, tenant_id, credential_id, provider, body, state FROM raw_events "
        "WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
        tenant_id,
        raw_event_id,
    )


async def mark_raw_event(conn: Connection, tenant_id: UUID, raw_event_id: int, state: str, note: str | None) -> None:
    await conn.execute(
        "UPDATE raw_events SET state = $3, note = $4, processed_at = now() WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        raw_event_id,
        state,
        note,
    )


async def tenant_phone_number_ids(conn: Connection, tenant_id: UUID) -> set[str]:
    rows = await conn.fetch("SELECT phone_number_id FROM senders WHERE tenant_id = $1", tenant_id)
    return {r["phone_number_id"] for r in rows}
