"""Metering: billable facts become billable events, each counted once, priced by the tenant's rate
card in the caller's transaction (the one that records the fact).

What is billable: a WhatsApp message when Meta's status webhook says ``pricing.billable`` (its
category is Meta's, not guessed; ``sent`` and ``delivered`` both carry it, the wamid keys it once);
an SMS when Twilio accepts it, per segment; an email when the SMTP server accepts it. A failed or
never-sent attempt is not billed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
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


async def record(conn: Connection, tenant_id: UUID, events: list[Billable]) -> None:
    """Price and store the events; an event whose key is already stored changes nothing."""
    if not events:
        return
    card = await repository.rate_card(conn, tenant_id)
    now = datetime.now(UTC)
    rows = []
    for event in {e.key: e for e in reversed(events)}.values():  # one per key (the first given)
        priced = price(card, event.channel, event.category, event.country, event.units)
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
                event.occurred_at or now,
            )
        )
    await repository.insert_events(conn, tenant_id, rows)
    await budgets.record_alerts(conn, tenant_id)
