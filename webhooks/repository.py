"""Queries for raw provider events, scoped by tenant."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from kernel.db import Connection

__all__ = ["lock_raw_event", "mark_raw_event", "tenant_senders"]


async def lock_raw_event(conn: Connection, tenant_id: UUID, raw_event_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, tenant_id, credential_id, provider, body, state, received_at FROM raw_events "
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


async def tenant_senders(conn: Connection, tenant_id: UUID) -> dict[str, UUID]:
    """The tenant's WhatsApp numbers: phone_number_id → sender id."""
    rows = await conn.fetch("SELECT phone_number_id, id FROM senders WHERE tenant_id = $1", tenant_id)
    return {r["phone_number_id"]: r["id"] for r in rows}
