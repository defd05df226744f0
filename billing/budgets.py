"""Budgets: a tenant's cap on a month's spend, checked before a message is stored, and alerts
when the month's billed spend crosses 80% and 100% of it (each once a month).

The check prices the message's first channel (what it costs if it is delivered as asked) with the
same rate card that bills it, and refuses it if the month's spend so far plus that price would pass
the cap. Spend is what has been billed: fallbacks and late webhooks may still take a month a little
past its cap, and the 100% alert says so.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime
from uuid import UUID

from billing import repository
from billing.pricing import country_of, price, whatsapp_category
from billing.schemas import Budget, BudgetAlert
from kernel.db import Connection
from kernel.errors import ErrorKind, InvalidInput, SwitchboardError

__all__ = ["THRESHOLDS", "check", "check_many", "get_budget", "record_alerts", "set_budget"]

log = logging.getLogger("switchboard.billing")

THRESHOLDS = (80, 100)  # percent of the budget


def _this_month() -> date:
    return datetime.now(UTC).date().replace(day=1)


async def check(conn: Connection, tenant_id: UUID, budget: int, category: str | None, to_number: str) -> None:
    """Refuse (402 budget-exceeded) a WhatsApp message that would take the month past ``budget``."""
    (refused,) = await check_many(conn, tenant_id, budget, [(category, to_number)])
    if refused is not None:
        raise refused


async def check_many(
    conn: Connection, tenant_id: UUID, budget: int, messages: Sequence[tuple[str | None, str]]
) -> list[SwitchboardError | None]:
    """:func:`check` for messages submitted together, given as (template category, recipient): each
    one's refusal, or None. Each admitted message counts against the budget for those after it."""
    card = await repository.rate_card(conn, tenant_id)
    included = await repository.included_left(conn, tenant_id, card) > 0
    spent: int | None = None
    verdicts: list[SwitchboardError | None] = []
    for category, to_number in messages:
        cost = price(card, "whatsapp", whatsapp_category(category), country_of(to_number), included=included)
        if cost.amount == 0:
            verdicts.append(None)
            continue
        if spent is None:
            spent = await repository.month_spend(conn, tenant_id, _this_month())
        if spent + cost.amount > budget:
            verdicts.append(
                SwitchboardError(
                    f"this message ({cost.amount} {cost.currency} minor units) would take the month's spend "
                    f"({spent}) past the budget of {budget}; raise it with PUT /v1/budget",
                    kind=ErrorKind.BUDGET_EXCEEDED,
                )
            )
            continue
        spent += cost.amount
        verdicts.append(None)
    return verdicts


async def record_alerts(conn: Connection, tenant_id: UUID, budget: int | None) -> None:
    """After billing: record (and log) each threshold of the budget that this month's spend crossed."""
    if budget is None:
        return
    month = _this_month()
    spent = await repository.month_spend(conn, tenant_id, month)
    crossed = [t for t in THRESHOLDS if spent * 100 >= budget * t]
    for threshold in await repository.add_alerts(conn, tenant_id, month, crossed, spent, budget):
        log.warning(
            "budget alert",
            extra={"fields": {"tenant_id": str(tenant_id), "threshold": threshold, "spent": spent, "budget": budget}},
        )


async def get_budget(conn: Connection, tenant_id: UUID) -> Budget:
    month = _this_month()
    card = await repository.rate_card(conn, tenant_id)
    alerts = [BudgetAlert(**dict(r)) for r in await repository.alerts(conn, tenant_id, month)]
    return Budget(
        monthly_budget=await repository.monthly_budget(conn, tenant_id),
        currency=card.currency,
        month=f"{month:%Y-%m}",
        spent=await repository.month_spend(conn, tenant_id, month),
        alerts=alerts,
    )


async def set_budget(conn: Connection, tenant_id: UUID, amount: int | None) -> Budget:
    if amount is not None and amount < 0:
        raise InvalidInput("monthly_budget", "not_negative", "a budget is 0 or more minor units, or null for none")
    await repository.set_monthly_budget(conn, tenant_id, amount)
    return await get_budget(conn, tenant_id)
