"""Queries for a message's fallback channels, their timers, and the recipients who opted out."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from kernel.db import Connection, Pool
from kernel.outbox import CHANNEL as OUTBOX_CHANNEL

__all__ = [
    "add_opt_out",
    "add_opt_outs",
    "arm_timer",
    "claim",
    "current_channel",
    "due_timers",
    "list_channels",
    "lock_channels",
    "opt_out_reason",
    "route_facts",
    "set_channel",
    "start_channel",
    "suppress_complainer",
    "update_channels",
]


_ADD_OPT_OUT = (
    "INSERT INTO opt_outs (tenant_id, channel, address, scope, reason, error_code, message_id) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING"
)


async def add_opt_out(
    conn: Connection,
    tenant_id: UUID,
    *,
    channel: str,
    address: str,
    scope: str,
    reason: str,
    error_code: int | None,
    message_id: UUID | None,
) -> None:
    await conn.execute(_ADD_OPT_OUT, tenant_id, channel, address, scope, reason, error_code, message_id)


async def add_opt_outs(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """(tenant, channel, address, scope, reason, error code, message id) rows; known ones are kept."""
    if rows:
        await conn.executemany(_ADD_OPT_OUT, rows)


async def suppress_complainer(conn: Connection, tenant_id: UUID, message_id_header: str) -> bool:
    """The recipient of this email (named by its Message-ID) reported it as spam: suppress the
    address for the tenant. False when no email of the tenant has that Message-ID."""
    found = await conn.fetchval(
        "WITH sent AS (SELECT message_id, recipient FROM message_channels "
        "  WHERE tenant_id = $1 AND channel = 'email' AND provider_message_id = $2), "
        "added AS (INSERT INTO opt_outs (tenant_id, channel, address, scope, reason, error_code, message_id) "
        "  SELECT $1, 'email', recipient, 'all', 'complaint', NULL, message_id FROM sent "
        "  ON CONFLICT DO NOTHING) "
        "SELECT count(*) FROM sent",
        tenant_id,
        message_id_header,
    )
    return bool(found)


async def opt_out_reason(
    conn: Connection | Pool, tenant_id: UUID, channel: str, address: str, scopes: list[str]
) -> str | None:
    """Why the recipient may not be sent this (the first opt-out that covers it), or None."""
    reason: str | None = await conn.fetchval(
        "SELECT reason FROM opt_outs WHERE tenant_id = $1 AND channel = $2 AND address = $3 AND scope = ANY($4) "
        "ORDER BY created_at LIMIT 1",
        tenant_id,
        channel,
        address,
        scopes,
    )
    return reason


async def lock_channels(
    conn: Connection, tenant_id: UUID, provider_message_ids: list[str], legs: list[tuple[UUID, str]]
) -> list[asyncpg.Record]:
    """The fallback channel rows with these provider ids, or named by (message id, channel) (after
    their messages: one lock order)."""
    return await conn.fetch(
        # Two index lookups (provider id, primary key) rather than one OR, which would scan.
        "SELECT message_id, channel, status, recipient, provider_message_id FROM message_channels "
        "WHERE tenant_id = $1 AND (message_id, channel) IN ("
        "SELECT message_id, channel FROM message_channels WHERE provider_message_id = ANY($2::text[]) "
        "UNION ALL SELECT * FROM unnest($3::uuid[], $4::text[])) "
        "ORDER BY message_id, channel FOR UPDATE",
        tenant_id,
        provider_message_ids,
        [leg[0] for leg in legs],
        [leg[1] for leg in legs],
    )


async def update_channels(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """(message id, channel, status, error code, detail, provider id) per channel row; the provider
    id is kept if the row has one (a callback can name an SMS whose worker died before recording it)."""
    if rows:
        await conn.executemany(
            "UPDATE message_channels SET status = $3, error_code = coalesce($4, error_code), "
            "detail = coalesce($5, detail), provider_message_id = coalesce(provider_message_id, $6), "
            "updated_at = now() WHERE message_id = $1 AND channel = $2",
            rows,
        )


async def list_channels(conn: Connection, tenant_id: UUID, message_id: UUID) -> list[asyncpg.Record]:
    """The message's fallback channels, in route order."""
    return await conn.fetch(
        "SELECT channel, status, recipient, provider_message_id, coalesce(detail, reason) AS detail, error_code, "
        "encoding, segments "
        "FROM message_channels WHERE tenant_id = $1 AND message_id = $2 ORDER BY position",
        tenant_id,
        message_id,
    )


async def due_timers(conn: Connection, limit: int) -> list[asyncpg.Record]:
    """Take fallback timers that are due (each by one caller only; gone once its transaction commits)."""
    return await conn.fetch(
        "DELETE FROM fallback_timers WHERE message_id IN (SELECT message_id FROM fallback_timers WHERE due_at <= now() "
        "ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING message_id, tenant_id, due_at",
        limit,
    )


# Start a fallback channel: its row and and, when this call is the one that created it, its delivery outbox row
# (transactional: someone is waiting for this message) and its audit event, in one statement.
_START = f"""
WITH c AS (
    INSERT INTO message_channels (message_id, channel, tenant_id, position, status, recipient, reason, detail)
    VALUES ($2, $3, $1, $4, $5, $6, $7, $8)
    ON CONFLICT (message_id, channel) DO NOTHING
    RETURNING message_id, channel, status
), e AS (
    INSERT INTO message_events (tenant_id, message_id, reported_status, from_status, to_status, applied, outcome,
                                source, detail)
    SELECT $1, message_id, $9, $9, $9, false, 'fallback', $10,
           CASE WHEN status = 'skipped' THEN 'skipped ' || channel || ': ' || $8
                ELSE 'falling back to ' || channel || ': ' || $7 END
    FROM c
), o AS (
    INSERT INTO outbox (topic, payload, priority, tenant_id)
    SELECT $11::text, jsonb_build_object('message_id', message_id, 'tenant_id', $1::uuid), 0, $1
    FROM c WHERE status = 'queued' AND $11::text IS NOT NULL
)
SELECT count(*) FROM c, pg_notify('{OUTBOX_CHANNEL}', '')
"""


async def route_facts(conn: Connection, tenant_id: UUID, message_id: UUID) -> asyncpg.Record | None:
    """What the fallback route of a message depends on: its status, content and number."""
    return await conn.fetchrow(
        "SELECT status, content, to_number FROM messages WHERE tenant_id = $1 AND id = $2", tenant_id, message_id
    )


async def start_channel(
    conn: Connection,
    tenant_id: UUID,
    message_id: UUID,
    *,
    channel: str,
    position: int,
    status: str,
    recipient: str | None,
    reason: str,
    skip: str | None,
    message_status: str,
    source: str,
    topic: str | None,
) -> bool:
    """Insert the channel's row (and its delivery and event) unless it is there; True if this call did."""
    started: int = await conn.fetchval(
        _START,
        tenant_id,
        message_id,
        channel,
        position,
        status,
        recipient,
        reason,
        skip,
        message_status,
        source,
        topic,
    )
    return bool(started)


async def current_channel(conn: Connection, tenant_id: UUID, message_id: UUID) -> asyncpg.Record | None:
    """The message's content and the channel it is on now (the last one started, else whatsapp)."""
    return await conn.fetchrow(
        "SELECT m.content, coalesce((SELECT channel FROM message_channels c WHERE c.message_id = m.id "
        "ORDER BY position DESC LIMIT 1), 'whatsapp') AS current FROM messages m "
        "WHERE m.tenant_id = $1 AND m.id = $2",
        tenant_id,
        message_id,
    )


async def arm_timer(conn: Connection, tenant_id: UUID, message_id: UUID, seconds: int) -> None:
    await conn.execute(
        "INSERT INTO fallback_timers (message_id, tenant_id, due_at) "
        "VALUES ($1, $2, now() + make_interval(secs => $3::int)) ON CONFLICT DO NOTHING",
        message_id,
        tenant_id,
        seconds,
    )


# Everything a fallback channel's delivery needs, its row locked (after its message): the message,
# the tenant's default credential of that kind, and the channel's last attempt.
_CLAIM_CHANNEL = """
SELECT c.channel, c.status AS leg_status, c.recipient, c.provider_message_id AS leg_provider_id,
       m.id, m.tenant_id, m.status, m.content,
       k.id AS credential_id, k.config AS credential_config, k.sealed_secrets, k.channel_key,
       a.id AS attempt_id, a.attempt_number, a.state AS attempt_state, now() - a.started_at AS attempt_age
FROM message_channels c
JOIN messages m ON m.id = c.message_id AND m.tenant_id = c.tenant_id
LEFT JOIN credentials k ON k.tenant_id = c.tenant_id AND k.kind = c.channel AND k.is_default
LEFT JOIN LATERAL (
    SELECT id, attempt_number, state, started_at FROM delivery_attempts
    WHERE message_id = c.message_id AND channel = c.channel ORDER BY attempt_number DESC LIMIT 1
) a ON true
WHERE c.tenant_id = $1 AND c.message_id = $2 AND c.channel = $3
FOR UPDATE OF c
"""


async def claim(conn: Connection, tenant_id: UUID, message_id: UUID, channel: str) -> asyncpg.Record | None:
    return await conn.fetchrow(_CLAIM_CHANNEL, tenant_id, message_id, channel)


async def set_channel(conn: Connection, tenant_id: UUID, message_id: UUID, channel: str, **fields: Any) -> None:
    """Set some of a channel row's columns (names from this package's code, never from input)."""
    assignments = ", ".join(f"{name} = ${i + 4}" for i, name in enumerate(fields))
    await conn.execute(
        f"UPDATE message_channels SET {assignments}, updated_at = now() "
        "WHERE tenant_id = $1 AND message_id = $2 AND channel = $3",
        tenant_id,
        message_id,
        channel,
        *fields.values(),
    )
