"""Queries for raw provider events, scoped by tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from kernel.db import Connection, Pool
from webhooks.parsing import NumberUpdate, TemplateStatus

__all__ = [
    "count_raw_events",
    "facts_without_raw_event",
    "lock_raw_events",
    "mark_raw_events",
    "message_statuses",
    "purge_expired",
    "raw_event_bodies",
    "raw_event_ids",
    "resolve_messages",
    "set_template_status",
    "state_counts",
    "tenant_senders",
]


async def lock_raw_events(conn: Connection, keys: list[tuple[UUID, int]]) -> list[asyncpg.Record]:
    """Lock the raw events named by (tenant id, raw event id), in id order (so that concurrent
    reconcilers never wait on each other in a cycle)."""
    return await conn.fetch(
        "SELECT r.id, r.tenant_id, r.provider, r.body, r.query, r.state, r.received_at FROM raw_events r "
        "JOIN unnest($1::uuid[], $2::bigint[]) AS k(tenant_id, id) ON r.tenant_id = k.tenant_id AND r.id = k.id "
        "ORDER BY r.id FOR UPDATE OF r",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )


async def mark_raw_events(conn: Connection, marks: list[tuple[UUID, int, str, str | None]]) -> None:
    """Set (tenant id, raw event id, state, note) for each."""
    await conn.execute(
        "UPDATE raw_events r SET state = m.state, note = m.note, processed_at = now() "
        "FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[]) AS m(tenant_id, id, state, note) "
        "WHERE r.tenant_id = m.tenant_id AND r.id = m.id",
        *(list(column) for column in zip(*marks, strict=True)),
    )


async def set_template_status(conn: Connection, tenant_id: UUID, change: TemplateStatus) -> bool:
    """Apply a template status change unless a newer one was applied already; False when the
    tenant has no such template (unknown, or another tenant's WABA)."""
    found = await conn.fetchval(
        "WITH t AS (SELECT id, status_changed_at FROM templates "
        "           WHERE tenant_id = $1 AND waba_id = $2 AND name = $3 AND language = $4 FOR UPDATE), "
        "u AS (UPDATE templates SET status = $5, status_reason = $6, status_changed_at = $7 FROM t "
        "      WHERE templates.id = t.id AND (t.status_changed_at IS NULL OR t.status_changed_at <= $7)) "
        "SELECT count(*) FROM t",
        tenant_id,
        change.waba_id,
        change.name,
        change.language,
        change.status,
        change.reason,
        change.changed_at,
    )
    return bool(found)


async def update_number(conn: Connection, tenant_id: UUID, update: NumberUpdate) -> bool:
    """Apply what Meta says about one of the tenant's numbers (matched by WABA and the digits of
    its display number: Meta's event names no phone_number_id); False when no number matches."""
    status: str = await conn.execute(
        "UPDATE senders SET quality_rating = COALESCE($4, quality_rating), "
        "messaging_tier = COALESCE($5, messaging_tier), throughput_mps = COALESCE($6, throughput_mps) "
        "WHERE tenant_id = $1 AND waba_id = $2 AND regexp_replace(display_phone_number, '[^0-9]', '', 'g') = $3",
        tenant_id,
        update.waba_id,
        update.display_digits,
        update.quality_rating,
        update.messaging_tier,
        update.throughput_mps,
    )
    return status != "UPDATE 0"


async def tenant_senders(conn: Connection, tenant_id: UUID) -> dict[str, UUID]:
    """The tenant's WhatsApp numbers: phone_number_id → sender id."""
    rows = await conn.fetch("SELECT phone_number_id, id FROM senders WHERE tenant_id = $1", tenant_id)
    return {r["phone_number_id"]: r["id"] for r in rows}


def _window(since: datetime | None, until: datetime | None, args: list[Any]) -> str:
    clauses = ""
    if since is not None:
        args.append(since)
        clauses += f" AND received_at >= ${len(args)}"
    if until is not None:
        args.append(until)
        clauses += f" AND received_at < ${len(args)}"
    return clauses


async def count_raw_events(pool: Pool, tenant_id: UUID, since: datetime | None, until: datetime | None) -> int:
    args: list[Any] = [tenant_id]
    count: int = await pool.fetchval(
        f"SELECT count(*) FROM raw_events WHERE tenant_id = $1{_window(since, until, args)}", *args
    )
    return count


async def raw_event_ids(
    pool: Pool, tenant_id: UUID, since: datetime | None, until: datetime | None, *, after: int, limit: int
) -> list[int]:
    args: list[Any] = [tenant_id, after, limit]
    rows = await pool.fetch(
        f"SELECT id FROM raw_events WHERE tenant_id = $1 AND id > $2{_window(since, until, args)} ORDER BY id LIMIT $3",
        *args,
    )
    return [r["id"] for r in rows]


async def raw_event_bodies(pool: Pool, tenant_id: UUID, *, after: int, limit: int) -> list[tuple[int, str, bytes, str]]:
    rows = await pool.fetch(
        "SELECT id, provider, body, query FROM raw_events WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        tenant_id,
        after,
        limit,
    )
    return [(r["id"], r["provider"], r["body"], r["query"]) for r in rows]


async def facts_without_raw_event(pool: Pool, tenant_id: UUID) -> list[tuple[UUID, str]]:
    """Reported statuses in the audit trail that no retained raw event stands behind."""
    rows = await pool.fetch(
        "SELECT e.message_id, e.reported_status FROM message_events e WHERE e.tenant_id = $1 "
        "AND (e.raw_event_id IS NULL OR NOT EXISTS (SELECT 1 FROM raw_events r WHERE r.id = e.raw_event_id))",
        tenant_id,
    )
    return [(r["message_id"], r["reported_status"]) for r in rows]


async def resolve_messages(
    pool: Pool, tenant_id: UUID, ids: list[UUID], wamids: list[str]
) -> tuple[set[UUID], dict[str, UUID]]:
    rows = await pool.fetch(
        "SELECT id, provider_message_id FROM messages WHERE tenant_id = $1 "
        "AND (id = ANY($2::uuid[]) OR provider_message_id = ANY($3::text[]))",
        tenant_id,
        ids,
        wamids,
    )
    return {r["id"] for r in rows}, {r["provider_message_id"]: r["id"] for r in rows if r["provider_message_id"]}


async def message_statuses(pool: Pool, tenant_id: UUID, ids: list[UUID]) -> dict[UUID, str]:
    rows = await pool.fetch(
        "SELECT id, status FROM messages WHERE tenant_id = $1 AND id = ANY($2::uuid[])", tenant_id, ids
    )
    return {r["id"]: r["status"] for r in rows}


async def purge_expired(pool: Pool, *, limit: int) -> int:
    status: str = await pool.execute(
        "DELETE FROM raw_events WHERE id IN ("
        "  SELECT r.id FROM raw_events r JOIN tenants t ON t.id = r.tenant_id"
        "  WHERE r.received_at < now() - make_interval(days => t.raw_retention_days) AND r.state <> 'received'"
        "  LIMIT $1)",
        limit,
    )
    return int(status.split()[-1])


async def state_counts(pool: Pool, tenant_id: UUID | None) -> list[dict[str, object]]:
    rows = await pool.fetch(
        "SELECT tenant_id, state, count(*) AS count, min(received_at) AS oldest FROM raw_events "
        "WHERE ($1::uuid IS NULL OR tenant_id = $1) GROUP BY tenant_id, state ORDER BY tenant_id, state",
        tenant_id,
    )
    return [dict(r) for r in rows]
