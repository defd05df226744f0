"""Queries for inbound messages and conversations, scoped by tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from kernel.db import Connection
from kernel.pagination import Params

__all__ = ["insert_inbound", "list_conversations", "list_inbound", "window"]

# New messages are stored once (provider id per tenant); only those newly stored touch their
# conversation, so a redelivered message never counts twice or moves the window.
_INSERT = """
WITH input AS (
    SELECT * FROM unnest(
        $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
        $10::text[], $11::timestamptz[], $12::bigint[], $13::text[], $14::text[]
    ) AS t(id, sender_id, provider_message_id, from_number, type, text, media_id, reply_to,
           payload, occurred_at, raw_event_id, profile_name, wa_id)
), ins AS (
    INSERT INTO inbound_messages (id, tenant_id, sender_id, provider_message_id, from_number, type, text,
                                  media_id, reply_to, payload, occurred_at, raw_event_id)
    SELECT id, $1, sender_id, provider_message_id, from_number, type, text, media_id, reply_to,
           payload::jsonb, occurred_at, raw_event_id
    FROM input
    ON CONFLICT (tenant_id, provider_message_id) DO NOTHING
    RETURNING provider_message_id
), c AS (
    INSERT INTO conversations AS c (sender_id, contact, tenant_id, profile_name, wa_id, first_inbound_at,
                                    last_inbound_at, inbound_count)
    SELECT i.sender_id, i.from_number, $1, max(i.profile_name), max(i.wa_id), min(i.occurred_at),
           max(i.occurred_at), count(*)
    FROM ins JOIN input i USING (provider_message_id)
    GROUP BY i.sender_id, i.from_number
    ORDER BY i.sender_id, i.from_number  -- rows are locked in this order: no deadlock between reconcilers
    ON CONFLICT (sender_id, contact) DO UPDATE SET
        profile_name = COALESCE(EXCLUDED.profile_name, c.profile_name),
        wa_id = COALESCE(EXCLUDED.wa_id, c.wa_id),
        first_inbound_at = LEAST(c.first_inbound_at, EXCLUDED.first_inbound_at),
        last_inbound_at = GREATEST(c.last_inbound_at, EXCLUDED.last_inbound_at),
        inbound_count = c.inbound_count + EXCLUDED.inbound_count
)
SELECT count(*) FROM ins
"""


async def insert_inbound(conn: Connection, tenant_id: UUID, rows: list[tuple[Any, ...]]) -> int:
    """Rows: (id, sender_id, provider_message_id, from_number, type, text, media_id, reply_to,
    payload_json, occurred_at, raw_event_id, profile_name, wa_id), unique by provider id.
    Returns how many were new."""
    if not rows:
        return 0
    columns = list(zip(*rows, strict=True))
    new: int = await conn.fetchval(_INSERT, tenant_id, *map(list, columns))
    return new


_INBOUND_COLS = (
    "i.id, s.phone_number_id AS sender, i.from_number, i.type, i.text, i.media_id, i.reply_to, "
    "i.provider_message_id, i.payload, i.occurred_at, i.received_at"
)


async def list_inbound(
    conn: Connection,
    tenant_id: UUID,
    *,
    from_number: str | None,
    since: datetime | None,
    before: tuple[datetime, UUID] | None,
    limit: int,
) -> list[asyncpg.Record]:
    p = Params(tenant_id)
    clauses = ["i.tenant_id = $1"]
    if from_number is not None:
        clauses.append(f"i.from_number = {p(from_number)}")
    if since is not None:
        clauses.append(f"i.occurred_at >= {p(since)}")
    if before is not None:
        clauses.append(f"(i.occurred_at, i.id) < ({p(before[0])}, {p(before[1])})")
    return await conn.fetch(
        f"SELECT {_INBOUND_COLS} FROM inbound_messages i JOIN senders s ON s.id = i.sender_id "
        f"WHERE {' AND '.join(clauses)} ORDER BY i.occurred_at DESC, i.id DESC LIMIT {p(limit)}",
        *p.values,
    )


_CONVERSATION_COLS = (
    "s.phone_number_id AS sender, c.sender_id, c.contact, c.profile_name, c.first_inbound_at, "
    "c.last_inbound_at, c.inbound_count"
)


async def list_conversations(
    conn: Connection, tenant_id: UUID, *, before: tuple[datetime, UUID, str] | None, limit: int
) -> list[asyncpg.Record]:
    args: list[Any] = [tenant_id, limit]
    after = ""
    if before is not None:
        after = "AND (c.last_inbound_at, c.sender_id, c.contact) < ($3, $4, $5)"
        args.extend(before)
    return await conn.fetch(
        f"SELECT {_CONVERSATION_COLS} FROM conversations c JOIN senders s ON s.id = c.sender_id "
        f"WHERE c.tenant_id = $1 {after} "
        "ORDER BY c.last_inbound_at DESC, c.sender_id DESC, c.contact DESC LIMIT $2",
        *args,
    )


async def window(conn: Connection, tenant_id: UUID, sender_id: UUID, contact: str) -> datetime | None:
    """When ``contact`` last wrote to the sender (None: never)."""
    found: datetime | None = await conn.fetchval(
        "SELECT last_inbound_at FROM conversations WHERE tenant_id = $1 AND sender_id = $2 AND contact = $3",
        tenant_id,
        sender_id,
        contact,
    )
    return found
