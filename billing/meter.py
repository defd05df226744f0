"""Metering: billable facts become billable events, each counted once, priced by the tenant's rate
card in the caller's transaction (the one that records the fact).

What is billable: a WhatsApp message when Meta's status webhook says ``pricing.billable`` (its
category is Meta's, not guessed; ``sent`` and ``delivered`` both carry it, the wamid keys it once);
an SMS when Twilio accepts it, per segment; an email when the SMTP server accepts it. A failed or
never-sent attempt is not billed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from uuid import UUID

from billing import budgets, repository
from billing.pricing import price
from kernel.db import Connection

__all__ = ["Billable", "record"]


@dataclass(frozen=True, slots=True)
class Billable:
    key: str  # what made it billable, once: whatsapp:<wamid>, sms:<SID>, email:<message id>
    message_id: UUID
    channel: str
    category: str
    country: str
    source: str
    units: int = 1
    occurred_at: datetime | None = None
    pricing_model: str | None = None  # the provider's, when it says (Meta: PMP, or CBP)


async def record(conn: Connection, tenant_id: UUID, events: list[Billable]) -> None:
    """Price and store the events; an event whose key is already stored changes nothing.

    With an included volume, the month's first billable messages are billed at 0: the tenant's
    metering is serialized for the transaction, and events already stored are left out before
    counting, so a duplicated webhook never uses up an included message.
    """
    if not events:
        return
    card, budget = await repository.rate_card_and_budget(conn, tenant_id)
    now = datetime.now(UTC)
    first: dict[str, Billable] = {}
    for event in events:  # one per key: the first given, in the order given
        first.setdefault(event.key, event)
    unique = list(first.values())
    used: dict[date, int] = {}
    if card.included:
        await repository.lock_included(conn, tenant_id)
        stored = await repository.stored_keys(conn, tenant_id, [e.key for e in unique])
        unique = [e for e in unique if e.key not in stored]
    rows = []
    for event in sorted(unique, key=lambda e: e.occurred_at or now):
        at = event.occurred_at or now
        inside = False
        if card.included:
            month = at.astimezone(UTC).date().replace(day=1)
            if month not in used:
                used[month] = await repository.month_events(conn, tenant_id, month)
            inside = used[month] < card.included
            used[month] += 1
        priced = price(card, event.channel, event.category, event.country, event.units, included=inside)
        rows.append(
            (
                event.key,
                event.message_id,
                event.channel,
                event.category,
                event.country,
                event.units,
                priced.unit_price,
                priced.currency,
                event.source,
                at,
                event.pricing_model,
            )
        )
    await repository.insert_events(conn, tenant_id, rows)
    await budgets.record_alerts(conn, tenant_id, budget)
