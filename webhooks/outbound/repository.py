"""Queries for partner webhook endpoints and deliveries; every one takes the tenant id."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from kernel.db import Connection, Pool

__all__ = [
    "ENDPOINT_COLS",
    "delete_endpoint",
    "get_endpoint",
    "insert_endpoint",
    "insert_test_event",
    "list_attempts",
    "list_deliveries",
    "list_endpoints",
    "recover",
    "resend",
    "update_endpoint",
]

ENDPOINT_COLS = (
    "id, tenant_id, url, description, event_types, sealed_secrets, previous_expires_at, status, "
    "disabled_reason, failing_since, created_at"
)


async def insert_endpoint(
    conn: Connection,
    endpoint_id: UUID,
    tenant_id: UUID,
    url: str,
    description: str,
    event_types: list[str],
    sealed: bytes,
) -> asyncpg.Record:
    row = await conn.fetchrow(
        "INSERT INTO webhook_endpoints (id, tenant_id, url, description, event_types, sealed_secrets) "
        f"VALUES ($1, $2, $3, $4, $5, $6) RETURNING {ENDPOINT_COLS}",
        endpoint_id,
        tenant_id,
        url,
        description,
        event_types,
        sealed,
    )
    assert row is not None
    return row


async def list_endpoints(conn: Connection, tenant_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {ENDPOINT_COLS} FROM webhook_endpoints WHERE tenant_id = $1 ORDER BY created_at, id", tenant_id
    )


async def get_endpoint(
    conn: Connection | Pool, tenant_id: UUID, endpoint_id: UUID, *, lock: bool = False
) -> asyncpg.Record | None:
    suffix = " FOR UPDATE" if lock else ""
    return await conn.fetchrow(
        f"SELECT {ENDPOINT_COLS} FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2{suffix}",
        tenant_id,
        endpoint_id,
    )


async def update_endpoint(conn: Connection, tenant_id: UUID, endpoint_id: UUID, **changes: Any) -> asyncpg.Record:
    names = list(changes)
    sets = ", ".join(f"{name} = ${i + 3}" for i, name in enumerate(names))
    row = await conn.fetchrow(
        f"UPDATE webhook_endpoints SET {sets} WHERE tenant_id = $1 AND id = $2 RETURNING {ENDPOINT_COLS}",
        tenant_id,
        endpoint_id,
        *changes.values(),
    )
    assert row is not None
    return row


async def delete_endpoint(conn: Connection, tenant_id: UUID, endpoint_id: UUID) -> bool:
    status: str = await conn.execute(
        "DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2", tenant_id, endpoint_id
    )
    return status == "DELETE 1"


_DELIVERY_COLS = (
    "d.id, d.event_id, ev.type AS event_type, d.status, d.attempts, d.next_attempt_at, d.last_response_status, "
    "d.last_error, d.created_at, d.updated_at"
)


async def list_deliveries(
    conn: Connection,
    tenant_id: UUID,
    endpoint_id: UUID,
    *,
    status: str | None,
    before: int | None,
    limit: int,
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {_DELIVERY_COLS} FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id "
        "WHERE d.tenant_id = $1 AND d.endpoint_id = $2 AND ($3::text IS NULL OR d.status = $3) "
        "AND ($4::bigint IS NULL OR d.id < $4) ORDER BY d.id DESC LIMIT $5",
        tenant_id,
        endpoint_id,
        status,
        before,
        limit,
    )


async def list_attempts(conn: Connection, tenant_id: UUID, delivery_ids: list[int]) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT delivery_id, attempt, response_status, response_body, error, duration_ms, started_at "
        "FROM webhook_attempts WHERE tenant_id = $1 AND delivery_id = ANY($2::bigint[]) ORDER BY id",
        tenant_id,
        delivery_ids,
    )


# A resend or a recovery starts a fresh round of the retry schedule: attempt_floor marks where.
_REQUEUE = (
    "status = 'pending', next_attempt_at = now(), attempt_floor = attempts, updated_at = now(), last_error = NULL"
)


async def resend(conn: Connection, tenant_id: UUID, endpoint_id: UUID, event_id: str) -> bool:
    """Deliver the event to the endpoint again (whatever happened before)."""
    status: str = await conn.execute(
        f"UPDATE webhook_deliveries SET {_REQUEUE} WHERE tenant_id = $1 AND endpoint_id = $2 AND event_id = $3",
        tenant_id,
        endpoint_id,
        event_id,
    )
    if status == "UPDATE 1":
        await conn.execute("SELECT pg_notify('switchboard_partner_webhooks', '')")
    return status == "UPDATE 1"


async def recover(conn: Connection, tenant_id: UUID, endpoint_id: UUID, since: datetime) -> int:
    """Every failed delivery of the endpoint created since then, due again now."""
    status: str = await conn.execute(
        f"UPDATE webhook_deliveries SET {_REQUEUE} "
        "WHERE tenant_id = $1 AND endpoint_id = $2 AND status = 'failed' AND created_at >= $3",
        tenant_id,
        endpoint_id,
        since,
    )
    return int(status.split()[-1])


async def insert_test_event(conn: Connection, tenant_id: UUID, endpoint_id: UUID, event_id: str, payload: Any) -> None:
    await conn.execute(
        "WITH ev AS (INSERT INTO webhook_events (id, tenant_id, type, payload) VALUES ($3, $1, $4, $5) RETURNING id) "
        "INSERT INTO webhook_deliveries (tenant_id, endpoint_id, event_id, next_attempt_at) "
        "SELECT $1, $2, id, now() FROM ev",
        tenant_id,
        endpoint_id,
        event_id,
        payload["type"],
        payload,
    )
