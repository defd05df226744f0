"""Operators' rate cards: a plan's prices and its included volume (``switchboard billing``)."""

from __future__ import annotations

import re

import asyncpg

from billing.pricing import ANY
from kernel.db import Connection
from kernel.errors import InvalidInput, NotFound

__all__ = ["CHANNELS", "list_prices", "remove_price", "set_included", "set_price"]

CHANNELS = ("whatsapp", "sms", "email")
_CURRENCY = re.compile(r"[A-Z]{3}")
_COUNTRY = re.compile(r"[A-Z]{2}")


async def _require_plan(conn: Connection, plan_id: str) -> None:
    if not await conn.fetchval("SELECT 1 FROM plans WHERE id = $1", plan_id):
        raise NotFound(f"plan {plan_id} not found")


async def set_price(
    conn: Connection, plan_id: str, channel: str, category: str, country: str, unit_price: int, currency: str
) -> None:
    """Set one price of the plan's card (minor units per message, per segment for SMS)."""
    if channel not in CHANNELS:
        raise InvalidInput("channel", "unknown_channel", f"one of {', '.join(CHANNELS)}, not {channel!r}")
    if country != ANY and not _COUNTRY.fullmatch(country):
        raise InvalidInput("country", "iso_3166", f"an ISO 3166 alpha-2 code such as US, or *, not {country!r}")
    if not _CURRENCY.fullmatch(currency):
        raise InvalidInput("currency", "iso_4217", f"an ISO 4217 code such as USD, not {currency!r}")
    if unit_price < 0:
        raise InvalidInput("price", "not_negative", "a price is 0 or more minor units")
    await _require_plan(conn, plan_id)
    others = await conn.fetchval(
        "SELECT currency FROM rate_cards WHERE plan_id = $1 AND currency <> $2 LIMIT 1", plan_id, currency
    )
    if others:
        raise InvalidInput("currency", "one_currency", f"plan {plan_id} is priced in {others}: one currency per plan")
    await conn.execute(
        "INSERT INTO rate_cards (plan_id, channel, category, country, unit_price, currency) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (plan_id, channel, category, country) "
        "DO UPDATE SET unit_price = excluded.unit_price, currency = excluded.currency",
        plan_id,
        channel,
        category.lower(),
        country,
        unit_price,
        currency,
    )


async def remove_price(conn: Connection, plan_id: str, channel: str, category: str, country: str) -> bool:
    status = await conn.execute(
        "DELETE FROM rate_cards WHERE plan_id = $1 AND channel = $2 AND category = $3 AND country = $4",
        plan_id,
        channel,
        category.lower(),
        country,
    )
    return bool(status == "DELETE 1")


async def set_included(conn: Connection, plan_id: str, messages: int) -> None:
    if messages < 0:
        raise InvalidInput("messages", "not_negative", "included messages are 0 or more")
    await _require_plan(conn, plan_id)
    await conn.execute("UPDATE plans SET included_messages = $2 WHERE id = $1", plan_id, messages)


async def list_prices(conn: Connection, plan_id: str | None = None) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT p.id AS plan_id, p.included_messages, r.channel, r.category, r.country, r.unit_price, r.currency "
        "FROM plans p LEFT JOIN rate_cards r ON r.plan_id = p.id WHERE $1::text IS NULL OR p.id = $1 "
        "ORDER BY p.id, r.channel, r.category, r.country",
        plan_id,
    )
