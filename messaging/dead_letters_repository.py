"""Queries for dead letters: listing them, and an operator's retry or discard."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from kernel.db import Connection
from kernel.outbox import CHANNEL
from kernel.pagination import Params
from messaging.repository import DELIVER_TOPIC, MESSAGE_COLS, MESSAGE_FROM

__all__ = ["discard", "list_dead_letters", "lock_for_operator", "requeue"]


async def list_dead_letters(
    conn: Connection, tenant_id: UUID, *, before: tuple[datetime, UUID] | None, limit: int
) -> list[asyncpg.Record]:
    """Failed messages nobody has discarded, most recently failed first, with their attempt count."""
    p = Params(tenant_id)
    after = f"AND (m.updated_at, m.id) < ({p(before[0])}, {p(before[1])})" if before else ""
    return await conn.fetch(
        f"SELECT {MESSAGE_COLS}, (SELECT count(*) FROM delivery_attempts a "
        "WHERE a.tenant_id = m.tenant_id AND a.message_id = m.id) AS attempts "
        f"FROM {MESSAGE_FROM} WHERE m.tenant_id = $1 AND m.status = 'failed' AND m.discarded_at IS NULL {after} "
        # Not while a fallback channel is still on its way.
        "AND NOT EXISTS (SELECT 1 FROM message_channels c WHERE c.message_id = m.id "
        "AND c.status NOT IN ('failed', 'skipped')) "
        f"ORDER BY m.updated_at DESC, m.id DESC LIMIT {p(limit)}",
        *p.values,
    )


async def lock_for_operator(conn: Connection, tenant_id: UUID, message_id: UUID) -> asyncpg.Record | None:
    """The message (locked), its discard mark and its last attempt number on its channel."""
    return await conn.fetchrow(
        "SELECT m.id, m.tenant_id, m.status, m.channel, m.to_number, m.discarded_at, m.provider_message_id, "
        "s.phone_number_id, (SELECT max(attempt_number) FROM delivery_attempts a "
        "  WHERE a.message_id = m.id AND a.channel = m.channel) AS last_attempt "
        "FROM messages m LEFT JOIN senders s ON s.id = m.sender_id "
        "WHERE m.tenant_id = $1 AND m.id = $2 FOR UPDATE OF m",
        tenant_id,
        message_id,
    )


# An operator's retry: a new round of attempts (attempt_floor), the old error cleared, the audit
# event, and the delivery outbox row (transactional: someone is waiting for it), in one statement.
_REQUEUE = f"""
WITH u AS (
    UPDATE messages SET status = 'queued', error_code = NULL, error_reason = NULL, attempt_floor = $3,
                        throttled_attempts = 0, updated_at = now()
    WHERE tenant_id = $1 AND id = $2 RETURNING id, tenant_id, to_number
), e AS (
    INSERT INTO message_events (tenant_id, message_id, reported_status, from_status, to_status, applied,
                                outcome, source, detail)
    SELECT tenant_id, id, 'queued', 'failed', 'queued', true, 'retried', 'operator', $4 FROM u
)
INSERT INTO outbox (topic, payload, priority, tenant_id)
SELECT '{DELIVER_TOPIC}', jsonb_build_object('message_id', id, 'tenant_id', tenant_id, 'sender', $5::text,
       'to', to_number), 0, tenant_id
FROM u, pg_notify('{CHANNEL}', '')
"""


async def requeue(
    conn: Connection, tenant_id: UUID, message_id: UUID, *, attempt_floor: int, detail: str, sender: str | None
) -> None:
    await conn.execute(_REQUEUE, tenant_id, message_id, attempt_floor, detail, sender)


async def discard(conn: Connection, tenant_id: UUID, message_id: UUID, detail: str) -> None:
    await conn.execute(
        "WITH u AS (UPDATE messages SET discarded_at = now() WHERE tenant_id = $1 AND id = $2 RETURNING id) "
        "INSERT INTO message_events (tenant_id, message_id, reported_status, from_status, to_status, applied, "
        "outcome, source, detail) SELECT $1, id, 'failed', 'failed', 'failed', false, 'discarded', 'operator', $3 "
        "FROM u",
        tenant_id,
        message_id,
        detail,
    )
