"""Queries for messages, events and attempts. Every query is scoped by tenant id."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from kernel.db import Connection
from kernel.outbox import CHANNEL

__all__ = [
    "finish_attempt",
    "get_message",
    "insert_message",
    "latest_attempt",
    "list_events",
    "list_messages",
    "lock_message",
    "start_attempt",
    "update_status",
]

MESSAGE_COLS = (
    "m.id, m.tenant_id, m.idempotency_key, m.request_hash, m.channel, m.to_number, m.content, m.status, "
    "m.provider_message_id, m.error_code, m.error_reason, m.created_at, m.updated_at, m.sender_id, "
    "s.phone_number_id AS sender_phone_number_id"
)
_FROM = "messages m LEFT JOIN senders s ON s.id = m.sender_id"

# One round trip: the message, its first audit event and its delivery outbox row are written by
# one statement (so one implicit transaction), and the relay is woken at commit.
_INSERT = f"""
WITH m AS (
    INSERT INTO messages (id, tenant_id, idempotency_key, request_hash, channel, sender_id, to_number,
                          content, status)
    VALUES ($1, $2, $3, $4, 'whatsapp', $5, $6, $7, 'queued')
    ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
    RETURNING *
), e AS (
    INSERT INTO message_events (tenant_id, message_id, reported_status, from_status, to_status, applied,
                                outcome, source)
    SELECT tenant_id, id, 'queued', NULL, 'queued', true, 'advanced', 'api' FROM m
), o AS (
    INSERT INTO outbox (topic, payload)
    SELECT 'messaging.deliver', jsonb_build_object('message_id', id, 'tenant_id', tenant_id) FROM m
)
SELECT m.id, m.tenant_id, m.idempotency_key, m.request_hash, m.channel, m.to_number, m.content, m.status,
       m.provider_message_id, m.error_code, m.error_reason, m.created_at, m.updated_at, m.sender_id,
       $8::text AS sender_phone_number_id
FROM m, pg_notify('{CHANNEL}', '')
"""


async def insert_message(
    conn: Connection,
    *,
    message_id: UUID,
    tenant_id: UUID,
    idempotency_key: str | None,
    request_hash: bytes,
    sender_id: UUID,
    sender_phone_number_id: str,
    to_number: str,
    content: dict[str, Any],
) -> asyncpg.Record | None:
    """The new message, or None when the idempotency key is already taken."""
    return await conn.fetchrow(
        _INSERT,
        message_id,
        tenant_id,
        idempotency_key,
        request_hash,
        sender_id,
        to_number,
        content,
        sender_phone_number_id,
    )


async def get_by_idempotency_key(conn: Connection, tenant_id: UUID, key: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {MESSAGE_COLS} FROM {_FROM} WHERE m.tenant_id = $1 AND m.idempotency_key = $2", tenant_id, key
    )


async def get_message(conn: Connection, tenant_id: UUID, message_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {MESSAGE_COLS} FROM {_FROM} WHERE m.tenant_id = $1 AND m.id = $2", tenant_id, message_id
    )


async def lock_message(conn: Connection, tenant_id: UUID, message_id: UUID) -> asyncpg.Record | None:
    """The message row, locked until the transaction ends (serialises status changes)."""
    return await conn.fetchrow(
        f"SELECT {MESSAGE_COLS} FROM {_FROM} WHERE m.tenant_id = $1 AND m.id = $2 FOR UPDATE OF m",
        tenant_id,
        message_id,
    )


async def lock_message_by_provider_id(
    conn: Connection, tenant_id: UUID, provider_message_id: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {MESSAGE_COLS} FROM {_FROM} WHERE m.tenant_id = $1 AND m.provider_message_id = $2 FOR UPDATE OF m",
        tenant_id,
        provider_message_id,
    )


async def list_messages(
    conn: Connection,
    tenant_id: UUID,
    *,
    status: str | None,
    channel: str | None,
    to_number: str | None,
    since: datetime | None,
    before: tuple[datetime, UUID] | None,
    limit: int,
) -> list[asyncpg.Record]:
    clauses = ["m.tenant_id = $1"]
    args: list[Any] = [tenant_id]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if status is not None:
        clauses.append(f"m.status = {arg(status)}")
    if channel is not None:
        clauses.append(f"m.channel = {arg(channel)}")
    if to_number is not None:
        clauses.append(f"m.to_number = {arg(to_number)}")
    if since is not None:
        clauses.append(f"m.created_at >= {arg(since)}")
    if before is not None:
        clauses.append(f"(m.created_at, m.id) < ({arg(before[0])}, {arg(before[1])})")
    sql = (
        f"SELECT {MESSAGE_COLS} FROM {_FROM} WHERE {' AND '.join(clauses)} "
        f"ORDER BY m.created_at DESC, m.id DESC LIMIT {arg(limit)}"
    )
    return await conn.fetch(sql, *args)


async def update_status(
    conn: Connection,
    tenant_id: UUID,
    message_id: UUID,
    *,
    status: str,
    error_code: int | None,
    error_reason: str | None,
) -> None:
    await conn.execute(
        "UPDATE messages SET status = $3, error_code = $4, error_reason = $5, updated_at = now() "
        "WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        message_id,
        status,
        error_code,
        error_reason,
    )


async def set_provider_message_id(
    conn: Connection, tenant_id: UUID, message_id: UUID, provider_message_id: str
) -> None:
    await conn.execute(
        "UPDATE messages SET provider_message_id = $3, updated_at = now() "
        "WHERE tenant_id = $1 AND id = $2 AND provider_message_id IS DISTINCT FROM $3",
        tenant_id,
        message_id,
        provider_message_id,
    )


async def insert_event(
    conn: Connection,
    *,
    tenant_id: UUID,
    message_id: UUID,
    reported_status: str,
    from_status: str,
    to_status: str,
    applied: bool,
    outcome: str,
    source: str,
    detail: str | None,
    error_code: int | None,
    raw_event_id: int | None,
    dedupe_key: str | None,
    occurred_at: datetime | None,
) -> bool:
    """Record one event; False when an event with the same dedupe key is already recorded."""
    row = await conn.fetchval(
        "INSERT INTO message_events (tenant_id, message_id, reported_status, from_status, to_status, applied, "
        "outcome, source, detail, error_code, raw_event_id, dedupe_key, occurred_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
        "ON CONFLICT (message_id, dedupe_key) DO NOTHING RETURNING id",
        tenant_id,
        message_id,
        reported_status,
        from_status,
        to_status,
        applied,
        outcome,
        source,
        detail,
        error_code,
        raw_event_id,
        dedupe_key,
        occurred_at,
    )
    return row is not None


async def event_recorded(conn: Connection, message_id: UUID, dedupe_key: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM message_events WHERE message_id = $1 AND dedupe_key = $2)",
            message_id,
            dedupe_key,
        )
    )


async def list_events(conn: Connection, tenant_id: UUID, message_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, reported_status, from_status, to_status, applied, outcome, source, detail, error_code, "
        "raw_event_id, occurred_at, recorded_at FROM message_events "
        "WHERE tenant_id = $1 AND message_id = $2 ORDER BY id",
        tenant_id,
        message_id,
    )


async def latest_attempt(conn: Connection, tenant_id: UUID, message_id: UUID, channel: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, attempt_number, state, started_at, now() - started_at AS age FROM delivery_attempts "
        "WHERE tenant_id = $1 AND message_id = $2 AND channel = $3 ORDER BY attempt_number DESC LIMIT 1",
        tenant_id,
        message_id,
        channel,
    )


async def start_attempt(conn: Connection, tenant_id: UUID, message_id: UUID, channel: str, number: int) -> int:
    attempt_id: int = await conn.fetchval(
        "INSERT INTO delivery_attempts (tenant_id, message_id, channel, attempt_number, state) "
        "VALUES ($1, $2, $3, $4, 'pending') RETURNING id",
        tenant_id,
        message_id,
        channel,
        number,
    )
    return attempt_id


async def finish_attempt(
    conn: Connection,
    tenant_id: UUID,
    attempt_id: int,
    *,
    state: str,
    provider_message_id: str | None = None,
    http_status: int | None = None,
    error_code: int | None = None,
    error_detail: str | None = None,
    latency_ms: int | None = None,
) -> None:
    await conn.execute(
        "UPDATE delivery_attempts SET state = $3, provider_message_id = $4, http_status = $5, error_code = $6, "
        "error_detail = $7, latency_ms = $8, finished_at = now() WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        attempt_id,
        state,
        provider_message_id,
        http_status,
        error_code,
        error_detail,
        latency_ms,
    )
