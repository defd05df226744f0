"""Billing use cases for both edges: the tenant's usage."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from uuid import UUID

import msgspec

from billing import repository
from billing.schemas import Usage, UsageRow, UsageTotal
from kernel.db import Connection
from kernel.errors import InvalidInput

__all__ = ["BREAKDOWNS", "MAX_USAGE_DAYS", "UsageGroup", "breakdown", "usage"]

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


BREAKDOWNS = ("channel", "category", "country")


class UsageGroup(msgspec.Struct, frozen=True):
    value: str
    currency: str
    events: int
    units: int
    amount: int


def breakdown(found: Usage, by: str) -> list[UsageGroup]:
    """The period's usage summed by one dimension (``channel``, ``category`` or ``country``) and
    currency, in order of the dimension's value."""
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in found.data:
        cell = sums[(getattr(row, by), row.currency)]
        cell[0] += row.events
        cell[1] += row.units
        cell[2] += row.amount
    return [UsageGroup(v, c, *cell) for (v, c), cell in sorted(sums.items())]
