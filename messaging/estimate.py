"""The cost preview: what a message would cost on each channel of its route, without sending it.

It validates and resolves the message exactly as a send does (so a message that could not be sent
cannot be priced either), and prices each channel with :func:`billing.pricing.price`, the function
that prices the billable events of messages actually sent: preview and bill cannot disagree.
"""

from __future__ import annotations

from uuid import UUID

from billing import repository as billing_repository
from billing.pricing import ANY, country_of, price
from billing.schemas import CostLine, Estimate
from kernel.db import Connection
from kernel.errors import InvalidInput
from messaging import fallback, routing_policy, validation
from messaging.schemas import SendMessage
from messaging.service import content_of, resolve
from messaging.sms_text import encode_info

__all__ = ["estimate"]

# Free-form text goes only to someone who wrote within 24 hours: Meta prices it as service.
TEXT_CATEGORY = "service"


async def estimate(
    conn: Connection, tenant_id: UUID, request: SendMessage, *, config_version: int | None = None
) -> Estimate:
    to_number, problems = validation.validate(request, None)
    if problems:
        raise InvalidInput.many(problems)
    assert to_number is not None
    _, components, _, category = await resolve(conn, tenant_id, request, config_version)
    routed = await routing_policy.apply(conn, tenant_id, request)
    card = await billing_repository.rate_card(conn, tenant_id)
    country = country_of(to_number)
    lines = []
    for channel in fallback.route(content_of(routed, components, category)):
        if channel == "whatsapp":
            kind = category.lower() if category else TEXT_CATEGORY
            cost = price(card, channel, kind, country)
            lines.append(CostLine(channel, kind, country, cost.units, cost.unit_price, cost.amount, cost.currency))
        elif channel == "sms":
            assert routed.fallback is not None and routed.fallback.sms is not None
            segments = encode_info(routed.fallback.sms.text).segments
            cost = price(card, channel, "message", country, segments)
            lines.append(CostLine(channel, "message", country, segments, cost.unit_price, cost.amount, cost.currency))
        else:
            cost = price(card, channel, "message", ANY)
            lines.append(CostLine(channel, "message", ANY, 1, cost.unit_price, cost.amount, cost.currency))
    return Estimate(lines=lines, currency=card.currency, first=lines[0].amount, most=sum(line.amount for line in lines))
