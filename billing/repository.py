"""Billing's SQL, every query scoped by tenant."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from billing.pricing import RateCard
from kernel.db import Connection

__all__ = [
    "add_alerts",
    "alerts",
    "draft_lines",
    "final_invoices",
    "final_lines",
    "finalize",
    "included_left",
    "insert_events",
    "lock_included",
    "month_events",
    "month_spend",
    "monthly_budget",
    "rate_card",
    "rate_card_and_budget",
    "set_monthly_budget",
    "stored_keys",
    "tenant_name",
    "tenants_to_invoice",
    "usage",
]


async def rate_card(conn: Connection, tenant_id: UUID) -> RateCard:
    """The rate card of the tenant's plan, with the plan's included volume."""
    card, _ = await rate_card_and_budget(conn, tenant_id)
    return card


async def rate_card_and_budget(conn: Connection, tenant_id: UUID) -> tuple[RateCard, int | None]:
    """The rate card and the tenant's monthly budget, in the one query metering makes."""
    rows = await conn.fetch(
        "SELECT t.monthly_budget, p.included_messages, r.channel, r.category, r.country, r.unit_price, r.currency "
        "FROM tenants t JOIN plans p ON p.id = t.plan_id LEFT JOIN rate_cards r ON r.plan_id = p.id "
        "WHERE t.id = $1",
        tenant_id,
    )
    included = int(rows[0]["included_messages"]) if rows else 0
    budget = rows[0]["monthly_budget"] if rows else None
    return RateCard.from_rows([r for r in rows if r["channel"] is not None], included), budget


async def _month_total(conn: Connection, tenant_id: UUID, month: date, column: str) -> int:
    """The month's sum of a usage column (``events`` or ``amount``: names from this module only)."""
    total: int = await conn.fetchval(
        f"SELECT coalesce(sum({column}), 0)::bigint FROM usage_daily WHERE tenant_id = $1 AND day >= $2 "
        "AND day < ($2::date + interval '1 month')",
        tenant_id,
        month,
    )
    return total


async def month_events(conn: Connection, tenant_id: UUID, month: date) -> int:
    """Billable events the month has counted so far."""
    return await _month_total(conn, tenant_id, month, "events")


async def stored_keys(conn: Connection, tenant_id: UUID, keys: list[str]) -> set[str]:
    rows = await conn.fetch(
        "SELECT key FROM billable_events WHERE tenant_id = $1 AND key = ANY($2::text[])", tenant_id, keys
    )
    return {r["key"] for r in rows}


async def included_left(conn: Connection, tenant_id: UUID, card: RateCard) -> int:
    """How many of the plan's included messages this month has left."""
    if not card.included:
        return 0
    this_month = datetime.now(UTC).date().replace(day=1)
    return max(0, card.included - await month_events(conn, tenant_id, this_month))


async def lock_included(conn: Connection, tenant_id: UUID) -> None:
    """Serialize the tenant's use of its included volume for this transaction (two reconcilers
    must not both give away the last included message)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('included:' || $1))", str(tenant_id))


# Events whose key is taken are dropped (a duplicated or replayed webhook); only the events this
# statement inserted are added to the day's usage, in the same statement.
_INSERT_EVENTS = """
WITH input AS (
    SELECT * FROM unnest($2::text[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::int[], $8::bigint[],
                         $9::text[], $10::text[], $11::timestamptz[], $12::text[])
        AS t(key, message_id, channel, category, country, units, unit_price, currency, source, occurred_at,
             pricing_model)
), inserted AS (
    INSERT INTO billable_events (tenant_id, key, message_id, attempt_id, channel, category, country, units, unit_price,
                                 amount, currency, source, occurred_at, pricing_model)
    SELECT $1, key, message_id,
           (SELECT d.id FROM delivery_attempts d WHERE d.message_id = input.message_id AND d.channel = input.channel
            AND d.tenant_id = $1 ORDER BY d.attempt_number DESC LIMIT 1),
           channel, category, country, units, unit_price, units * unit_price, currency, source, occurred_at,
           pricing_model
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
    """(key, message id, channel, category, country, units, unit price, currency, source, occurred at,
    pricing model)."""
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


# The events closing would take now, as invoice lines (a late event of a closed month included).
_DRAFT_LINES = """
SELECT currency, channel, category, country, unit_price, count(*) AS events, sum(units)::bigint AS quantity,
       sum(amount)::bigint AS amount
FROM billable_events
WHERE tenant_id = $1 AND invoice_month IS NULL AND occurred_at < $2
GROUP BY currency, channel, category, country, unit_price
ORDER BY currency, channel, category, country, unit_price
"""


async def draft_lines(conn: Connection, tenant_id: UUID, end: datetime) -> list[asyncpg.Record]:
    return await conn.fetch(_DRAFT_LINES, tenant_id, end)


async def final_invoices(conn: Connection, tenant_id: UUID, month: date | None = None) -> list[asyncpg.Record]:
    """The tenant's finalized invoices (of ``month``, or all, newest first)."""
    return await conn.fetch(
        "SELECT month, currency, total, finalized_at FROM invoices "
        "WHERE tenant_id = $1 AND ($2::date IS NULL OR month = $2) ORDER BY month DESC, currency",
        tenant_id,
        month,
    )


async def final_lines(conn: Connection, tenant_id: UUID, month: date) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT currency, channel, category, country, events, quantity, unit_price, amount FROM invoice_lines "
        "WHERE tenant_id = $1 AND month = $2 ORDER BY currency, position",
        tenant_id,
        month,
    )


async def tenants_to_invoice(conn: Connection, end: datetime) -> list[UUID]:
    rows = await conn.fetch(
        "SELECT DISTINCT tenant_id FROM billable_events WHERE invoice_month IS NULL AND occurred_at < $1", end
    )
    return sorted(r["tenant_id"] for r in rows)


# Take the tenant's events (once: they are marked), write the invoice and its lines; all in the
# caller's transaction, after it has checked that no invoice of this month exists.
_FINALIZE = """
WITH taken AS (
    UPDATE billable_events SET invoice_month = $2
    WHERE tenant_id = $1 AND invoice_month IS NULL AND occurred_at < $3
    RETURNING currency, channel, category, country, unit_price, units, amount
), lines AS (
    SELECT currency, channel, category, country, unit_price, count(*) AS events, sum(units) AS quantity,
           sum(amount) AS amount,
           row_number() OVER (PARTITION BY currency ORDER BY channel, category, country, unit_price) AS position
    FROM taken GROUP BY currency, channel, category, country, unit_price
), invoice AS (
    INSERT INTO invoices (tenant_id, month, currency, total)
    SELECT $1, $2, currency, sum(amount) FROM lines GROUP BY currency
)
INSERT INTO invoice_lines (tenant_id, month, currency, position, channel, category, country, events, quantity,
                           unit_price, amount)
SELECT $1, $2, currency, position, channel, category, country, events, quantity, unit_price, amount FROM lines
"""


async def finalize(conn: Connection, tenant_id: UUID, month: date, end: datetime) -> bool:
    """Finalize the tenant's invoice of ``month``; False if it already was (nothing changes)."""
    # One closer at a time per tenant: the tenant row is the lock.
    await conn.execute("SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE", tenant_id)
    if await conn.fetchval("SELECT 1 FROM invoices WHERE tenant_id = $1 AND month = $2", tenant_id, month):
        return False
    await conn.execute(_FINALIZE, tenant_id, month, end)
    return True


async def month_spend(conn: Connection, tenant_id: UUID, month: date) -> int:
    """What the month has billed so far (all currencies of the tenant's card: one in practice)."""
    return await _month_total(conn, tenant_id, month, "amount")


async def monthly_budget(conn: Connection, tenant_id: UUID) -> int | None:
    budget: int | None = await conn.fetchval("SELECT monthly_budget FROM tenants WHERE id = $1", tenant_id)
    return budget


async def set_monthly_budget(conn: Connection, tenant_id: UUID, amount: int | None) -> None:
    await conn.execute("UPDATE tenants SET monthly_budget = $2 WHERE id = $1", tenant_id, amount)


async def add_alerts(
    conn: Connection, tenant_id: UUID, month: date, thresholds: list[int], spent: int, budget: int
) -> list[int]:
    """Record the thresholds not yet recorded this month; returns those just recorded."""
    if not thresholds:
        return []
    rows = await conn.fetch(
        "INSERT INTO budget_alerts (tenant_id, month, threshold, spent, budget) "
        "SELECT $1, $2, t, $4, $5 FROM unnest($3::int[]) AS t ON CONFLICT DO NOTHING RETURNING threshold",
        tenant_id,
        month,
        thresholds,
        spent,
        budget,
    )
    return sorted(r["threshold"] for r in rows)


async def alerts(conn: Connection, tenant_id: UUID, month: date) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT threshold, spent, budget, created_at FROM budget_alerts WHERE tenant_id = $1 AND month = $2 "
        "ORDER BY threshold",
        tenant_id,
        month,
    )


async def tenant_name(conn: Connection, tenant_id: UUID) -> str | None:
    name: str | None = await conn.fetchval("SELECT name FROM tenants WHERE id = $1", tenant_id)
    return name
