"""Billing's SQL, every query scoped by tenant."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

from kernel.db import Connection

__all__ = ["insert_events", "rate_card_rows", "usage"]


async def rate_card_rows(conn: Connection, tenant_id: UUID) -> list[asyncpg.Record]:
    """The rate card of the tenant's plan."""
    return await conn.fetch(
        "SELECT r.channel, r.category, r.country, r.unit_price, r.currency FROM rate_cards r "
        "JOIN tenants t ON t.plan_id = r.plan_id WHERE t.id = $1",
        tenant_id,
    )


# Events whose key is taken are dropped (a duplicated or replayed webhook); only the events this
# statement inserted are added to the day's usage, in the same statement.
_INSERT_EVENTS = """
WITH input AS (
    SELECT * FROM unnest($2::text[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::int[], $8::bigint[],
                         $9::text[], $10::text[], $11::timestamptz[])
        AS t(key, message_id, channel, category, country, units, unit_price, currency, source, occurred_at)
), inserted AS (
    INSERT INTO billable_events (tenant_id, key, message_id, channel, category, country, units, unit_price, amount,
                                 currency, source, occurred_at)
    SELECT $1, key, message_id, channel, category, country, units, unit_price, units * unit_price, currency, source,
           occurred_at
    FROM input ORDER BY key
    ON CONFLICT (tenant_id, key) DO NOTHING
    RETURNING occurred_at, channel, category, country, currency, units, amount
)
INSERT INTO usage_daily AS u (tenant_id, day, channel, category, country, currency, events, units, amount)
SELECT $1, (occurred_at AT TIME ZONE 'UTC')::date, channel, category, country, currency, count(*), sum(units),
       sum(amount)
FROM inserted GROUP BY 2, 3, 4, 5, 6
ORDER BY 2, 3, 4, 5, 6
ON CONFLICT (tenant_id, day, channel, category, country, currency) DO UPDATE
SET events = u.events + excluded.events, units = u.units + excluded.units, amount = u.amount + excluded.amount
"""


async def insert_events(conn: Connection, tenant_id: UUID, rows: list[tuple[Any, ...]]) -> None:
    """(key, message id, channel, category, country, units, unit price, currency, source, occurred at)."""
    if rows:
        columns = list(zip(*rows, strict=True))
        await conn.execute(_INSERT_EVENTS, tenant_id, *[list(c) for c in columns])


async def usage(conn: Connection, tenant_id: UUID, since: date, until: date) -> list[asyncpg.Record]:
    """The tenant's usage per day, channel, category and country, for days in [since, until)."""
    return await conn.fetch(
        "SELECT day, channel, category, country, currency, events, units, amount FROM usage_daily "
        "WHERE tenant_id = $1 AND day >= $2 AND day < $3 ORDER BY day, channel, category, country, currency",
        tenant_id,
        since,
        until,
    )
