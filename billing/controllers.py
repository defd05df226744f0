"""REST adapter for billing: usage and the cost preview. No rules live here."""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Controller, MediaType, Request, Response, get, post, put
from litestar.datastructures import State

from billing import budgets, invoices, service
from billing.schemas import BatchEstimate, Budget, BudgetIn, Estimate, Invoice, InvoiceList, Usage
from edge.rest import pool, principal, require_api_key
from messaging import estimate
from messaging.schemas import MessageBatch, SendMessage

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

    @post(
        "/messages:batchEstimate",
        status_code=200,
        summary="What a batch of messages would cost, without sending them",
        description=(
            '`{"messages": [...]}` with 1 to 1,000 message bodies: each message\'s estimate (as '
            "`/v1/messages:estimate` gives it, the month's included messages going to the first ones) and "
            "the sums. Any invalid message refuses the whole batch, naming it (`messages.3.to`)."
        ),
    )
    async def estimate_batch(self, request: AnyRequest, data: MessageBatch) -> BatchEstimate:
        async with pool(request).acquire() as conn:
            caller = principal(request)
            return await estimate.estimate_batch(
                conn, caller.tenant_id, data.messages, config_version=caller.config_version
            )

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

    @get(
        "/invoices",
        summary="The tenant's invoices",
        description="This month's draft first, then the finalized invoices, newest first.",
    )
    async def list_invoices(self, request: AnyRequest) -> InvoiceList:
        async with pool(request).acquire() as conn:
            return await invoices.list_invoices(conn, principal(request).tenant_id)

    @get(
        "/invoices/{month:str}",
        summary="One month's invoice",
        description=(
            "`month` is YYYY-MM. A list: one invoice per currency billed (one, in practice). `draft` until "
            "the month is closed, then `final` and never changed. Also as `/csv` and printable `/html`."
        ),
    )
    async def get_invoice(self, request: AnyRequest, month: str) -> list[Invoice]:
        async with pool(request).acquire() as conn:
            return await invoices.get_invoice(conn, principal(request).tenant_id, invoices.month_of(month))

    @get("/invoices/{month:str}/csv", summary="One month's invoice as CSV", media_type="text/csv")
    async def get_invoice_csv(self, request: AnyRequest, month: str) -> Response[str]:
        """One line per channel, category and country, with units, unit price and amount; `month` is YYYY-MM."""
        async with pool(request).acquire() as conn:
            found = await invoices.get_invoice(conn, principal(request).tenant_id, invoices.month_of(month))
        disposition = f'attachment; filename="invoice-{month}.csv"'
        return Response(invoices.to_csv(found), media_type="text/csv", headers={"Content-Disposition": disposition})

    @get("/invoices/{month:str}/html", summary="One month's invoice, printable", media_type=MediaType.HTML)
    async def get_invoice_html(self, request: AnyRequest, month: str) -> Response[str]:
        """The same invoice as HTML, for printing or saving as PDF from the browser."""
        tenant_id = principal(request).tenant_id
        async with pool(request).acquire() as conn:
            found = await invoices.get_invoice(conn, tenant_id, invoices.month_of(month))
            page = await invoices.printable(conn, tenant_id, found)
        return Response(page, media_type=MediaType.HTML)

    @get("/budget", summary="The tenant's monthly budget, this month's spend and its alerts")
    async def get_budget(self, request: AnyRequest) -> Budget:
        """The cap (null: none), what the month has billed so far, and the 80% and 100% alerts it has raised."""
        async with pool(request).acquire() as conn:
            return await budgets.get_budget(conn, principal(request).tenant_id)

    @put(
        "/budget",
        summary="Set or remove the monthly budget",
        description=(
            "A message that would take the month's billed spend past the budget is refused with 402, "
            "problem type `budget-exceeded`; alerts are recorded at 80% and 100%. Takes effect for new "
            "API requests at once."
        ),
    )
    async def set_budget(self, request: AnyRequest, data: BudgetIn) -> Budget:
        async with pool(request).acquire() as conn:
            return await budgets.set_budget(conn, principal(request).tenant_id, data.monthly_budget)
