"""The cost preview: what a message would cost on each channel of its route, without sending it.

It validates and resolves the message exactly as a send does (so a message that could not be sent
cannot be priced either), and prices each channel with :func:`billing.pricing.price`, the function
that prices the billable events of messages actually sent: preview and bill cannot disagree.
"""

from __future__ import annotations

from uuid import UUID

from billing import repository as billing_repository
from billing.pricing import ANY, RateCard, country_of, price, whatsapp_category
from billing.schemas import BatchEstimate, CostLine, Estimate
from kernel.db import Connection
from kernel.errors import FieldViolation, InvalidInput, SwitchboardError
from messaging import fallback, routing_policy, validation
from messaging.schemas import SendMessage
from messaging.service import content_of, resolve
from messaging.sms_text import encode_info

__all__ = ["MAX_BATCH", "estimate", "estimate_batch"]

MAX_BATCH = 1000


async def estimate(
    conn: Connection, tenant_id: UUID, request: SendMessage, *, config_version: int | None = None
) -> Estimate:
    card = await billing_repository.rate_card(conn, tenant_id)
    left = await billing_repository.included_left(conn, tenant_id, card)
    return await _estimate(conn, tenant_id, request, card, left, config_version)


async def estimate_batch(
    conn: Connection,
    tenant_id: UUID,
    requests: list[SendMessage],
    *,
    config_version: int | None = None,
    max_batch: int = MAX_BATCH,
) -> BatchEstimate:
    """Each message's estimate, as if the batch were sent in order (the included messages left this
    month go to the first ones), and the sums. A bad message names itself: ``messages.3.to``."""
    if not requests:
        raise InvalidInput("messages", "empty", "give at least one message")
    if len(requests) > max_batch:
        raise InvalidInput("messages", "too_many", f"at most {max_batch} messages per batch, not {len(requests)}")
    card = await billing_repository.rate_card(conn, tenant_id)
    left = await billing_repository.included_left(conn, tenant_id, card)
    estimates: list[Estimate] = []
    problems: list[FieldViolation] = []
    for i, request in enumerate(requests):
        try:
            estimates.append(await _estimate(conn, tenant_id, request, card, max(0, left - i), config_version))
        except SwitchboardError as error:
            if not error.violations:
                raise
            problems.extend(FieldViolation(f"messages.{i}.{v.field}", v.rule, v.description) for v in error.violations)
    if problems:
        raise InvalidInput.many(problems)
    return BatchEstimate(
        estimates=estimates,
        currency=card.currency,
        first=sum(e.first for e in estimates),
        most=sum(e.most for e in estimates),
    )


async def _estimate(
    conn: Connection, tenant_id: UUID, request: SendMessage, card: RateCard, left: int, config_version: int | None
) -> Estimate:
    to_number, problems = validation.validate(request, None)
    if problems:
        raise InvalidInput.many(problems)
    assert to_number is not None
    _, components, _, category = await resolve(conn, tenant_id, request, config_version)
    routed = await routing_policy.apply(conn, tenant_id, request)
    # While the month has included messages left, a message costs nothing on whichever channel
    # delivers it; at most, each channel billed takes one of them.
    country = country_of(to_number)
    lines, most = [], 0
    for n, channel in enumerate(fallback.route(content_of(routed, components, category))):
        if channel == "whatsapp":
            kind, where, units = whatsapp_category(category), country, 1
        elif channel == "sms":
            assert routed.fallback is not None and routed.fallback.sms is not None
            kind, where, units = "message", country, encode_info(routed.fallback.sms.text).segments
        else:
            kind, where, units = "message", ANY, 1
        cost = price(card, channel, kind, where, units, included=left > 0)
        lines.append(CostLine(channel, kind, where, units, cost.unit_price, cost.amount, cost.currency))
        most += 0 if n < left else price(card, channel, kind, where, units).amount
    return Estimate(lines=lines, currency=card.currency, first=lines[0].amount, most=most)
