"""REST adapter for billing: usage and the cost preview. No rules live here."""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import State

from billing import service
from billing.schemas import Estimate, Usage
from edge.rest import pool, principal, require_api_key
from messaging import estimate
from messaging.schemas import SendMessage

__all__ = ["BillingController"]

AnyRequest = Request[Any, Any, State]


class BillingController(Controller):
    path = "/v1"
    tags = ["billing"]
    guards = [require_api_key]
    security = [{"apiKey": []}]

    @post(
        "/messages:estimate",
        status_code=200,
        summary="What a message would cost, without sending it",
        description=(
            "Takes the body of `POST /v1/messages`, validates it as a send would, and prices each "
            "channel of its route with the tenant's rate card (WhatsApp by the template's category and "
            "the recipient's country; SMS per segment; email per message). Nothing is stored or sent. "
            "The same prices bill the message once sent."
        ),
    )
    async def estimate_message(self, request: AnyRequest, data: SendMessage) -> Estimate:
        async with pool(request).acquire() as conn:
            caller = principal(request)
            return await estimate.estimate(conn, caller.tenant_id, data, config_version=caller.config_version)

    @get(
        "/usage",
        summary="Billed usage per day",
        description=(
            "Billable events per UTC day, channel, category and country for `since` (inclusive) to "
            "`until` (exclusive), with totals per currency. Amounts are minor units of the currency."
        ),
    )
    async def usage(self, request: AnyRequest, since: date, until: date) -> Usage:
        async with pool(request).acquire() as conn:
            return await service.usage(conn, principal(request).tenant_id, since, until)
