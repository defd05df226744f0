"""Billing use cases for both edges: the tenant's usage."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from uuid import UUID

from billing import repository
from billing.schemas import Usage, UsageRow, UsageTotal
from kernel.db import Connection
from kernel.errors import InvalidInput

__all__ = ["MAX_USAGE_DAYS", "usage"]

MAX_USAGE_DAYS = 400


async def usage(conn: Connection, tenant_id: UUID, since: date, until: date) -> Usage:
    """Usage per day, channel, category and country for the days in [since, until)."""
    if until <= since:
        raise InvalidInput("until", "before_since", "until must be after since")
    if until - since > timedelta(days=MAX_USAGE_DAYS):
        raise InvalidInput("until", "too_long", f"ask for at most {MAX_USAGE_DAYS} days at a time")
    rows = [UsageRow(**dict(r)) for r in await repository.usage(conn, tenant_id, since, until)]
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        totals[row.currency][0] += row.events
        totals[row.currency][1] += row.amount
    return Usage(
        since=since,
        until=until,
        data=rows,
        totals=[UsageTotal(currency, events, amount) for currency, (events, amount) in sorted(totals.items())],
    )
