"""gRPC adapter for ``switchboard.billing.v1.BillingService`` over the same service layer."""

from __future__ import annotations

from datetime import date
from typing import Any

import grpc
from switchboard.billing.v1 import billing_pb2 as pb
from switchboard.billing.v1 import billing_pb2_grpc as pb_grpc

from billing import budgets, invoices, plans, service
from billing.schemas import Budget, CostLine, Invoice, PlanIn, PlanView
from edge.rpc import authenticated, authenticated_operator, from_proto, to_proto, translate_errors
from kernel.db import Pool, unit_of_work
from kernel.errors import InvalidInput
from messaging import estimate
from messaging.servicer import to_send_message

__all__ = ["BillingServicer", "PlanServicer"]


def _day(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(field, "invalid_date", f"expected a date as YYYY-MM-DD, got {value!r}") from None


def _line(line: CostLine) -> pb.CostLine:
    return pb.CostLine(
        channel=line.channel,
        category=line.category,
        country=line.country,
        units=line.units,
        unit_price=line.unit_price,
        amount=line.amount,
        currency=line.currency,
    )


_INVOICE_STATUS = {"draft": pb.INVOICE_STATUS_DRAFT, "final": pb.INVOICE_STATUS_FINAL}


def _invoice(invoice: Invoice) -> pb.Invoice:
    return pb.Invoice(
        month=invoice.month,
        status=_INVOICE_STATUS[invoice.status],
        currency=invoice.currency,
        total=invoice.total,
        lines=[
            pb.InvoiceLine(
                channel=line.channel,
                category=line.category,
                country=line.country,
                events=line.events,
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount=line.amount,
            )
            for line in invoice.lines
        ],
    )


def _budget(budget: Budget) -> pb.Budget:
    return pb.Budget(
        monthly_budget=budget.monthly_budget,
        currency=budget.currency,
        month=budget.month,
        spent=budget.spent,
        alerts=[pb.BudgetAlert(threshold=a.threshold, spent=a.spent, budget=a.budget) for a in budget.alerts],
    )


class BillingServicer(pb_grpc.BillingServiceServicer):
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    @translate_errors
    async def EstimateMessageCost(  # noqa: N802 (gRPC method names)
        self, request: pb.EstimateMessageCostRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.EstimateMessageCostResponse:
        principal = await authenticated(self._pool, context)
        message = to_send_message(request.message)
        async with self._pool.acquire() as conn:
            found = await estimate.estimate(conn, principal.tenant_id, message, config_version=principal.config_version)
        return pb.EstimateMessageCostResponse(
            lines=[_line(line) for line in found.lines], currency=found.currency, first=found.first, most=found.most
        )

    @translate_errors
    async def BatchEstimateMessageCost(  # noqa: N802
        self, request: pb.BatchEstimateMessageCostRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.BatchEstimateMessageCostResponse:
        principal = await authenticated(self._pool, context)
        messages = [to_send_message(m) for m in request.messages]
        async with self._pool.acquire() as conn:
            found = await estimate.estimate_batch(
                conn, principal.tenant_id, messages, config_version=principal.config_version
            )
        return pb.BatchEstimateMessageCostResponse(
            estimates=[
                pb.MessageCost(lines=[_line(line) for line in e.lines], currency=e.currency, first=e.first, most=e.most)
                for e in found.estimates
            ],
            currency=found.currency,
            first=found.first,
            most=found.most,
        )

    @translate_errors
    async def GetUsage(  # noqa: N802
        self, request: pb.GetUsageRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetUsageResponse:
        principal = await authenticated(self._pool, context)
        since, until = _day(request.since, "since"), _day(request.until, "until")
        async with self._pool.acquire() as conn:
            found = await service.usage(conn, principal.tenant_id, since, until)
        return pb.GetUsageResponse(
            rows=[
                pb.UsageRow(
                    day=row.day.isoformat(),
                    channel=row.channel,
                    category=row.category,
                    country=row.country,
                    currency=row.currency,
                    events=row.events,
                    units=row.units,
                    amount=row.amount,
                )
                for row in found.data
            ],
            totals=[pb.UsageTotal(currency=t.currency, events=t.events, amount=t.amount) for t in found.totals],
        )

    @translate_errors
    async def GetInvoice(  # noqa: N802
        self, request: pb.GetInvoiceRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetInvoiceResponse:
        principal = await authenticated(self._pool, context)
        month = invoices.month_of(request.month)
        async with self._pool.acquire() as conn:
            found = await invoices.get_invoice(conn, principal.tenant_id, month)
        return pb.GetInvoiceResponse(invoices=[_invoice(i) for i in found])

    @translate_errors
    async def ListInvoices(  # noqa: N802
        self, request: pb.ListInvoicesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListInvoicesResponse:
        principal = await authenticated(self._pool, context)
        async with self._pool.acquire() as conn:
            found = await invoices.list_invoices(conn, principal.tenant_id)
        return pb.ListInvoicesResponse(invoices=[_invoice(i) for i in found.data])

    @translate_errors
    async def GetBudget(  # noqa: N802
        self, request: pb.GetBudgetRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetBudgetResponse:
        principal = await authenticated(self._pool, context)
        async with self._pool.acquire() as conn:
            return pb.GetBudgetResponse(budget=_budget(await budgets.get_budget(conn, principal.tenant_id)))

    @translate_errors
    async def UpdateBudget(  # noqa: N802
        self, request: pb.UpdateBudgetRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.UpdateBudgetResponse:
        principal = await authenticated(self._pool, context)
        amount = request.monthly_budget if request.HasField("monthly_budget") else None
        async with self._pool.acquire() as conn:
            budget = await budgets.set_budget(conn, principal.tenant_id, amount)
        return pb.UpdateBudgetResponse(budget=_budget(budget))


def _plan(view: PlanView) -> pb.Plan:
    return pb.Plan(id=view.id, spec=to_proto(view, pb.PlanSpec), tenants=view.tenants)


class PlanServicer(pb_grpc.PlanServiceServicer):
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    @translate_errors
    async def ListPlans(  # noqa: N802
        self, request: pb.ListPlansRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListPlansResponse:
        await authenticated_operator(self._pool, context)
        async with self._pool.acquire() as conn:
            found = await plans.list_plans(conn)
        return pb.ListPlansResponse(plans=[_plan(p) for p in found.data])

    @translate_errors
    async def GetPlan(  # noqa: N802
        self, request: pb.GetPlanRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetPlanResponse:
        await authenticated_operator(self._pool, context)
        async with self._pool.acquire() as conn:
            return pb.GetPlanResponse(plan=_plan(await plans.get_plan(conn, request.id)))

    @translate_errors
    async def UpdatePlan(  # noqa: N802
        self, request: pb.UpdatePlanRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.UpdatePlanResponse:
        await authenticated_operator(self._pool, context)
        spec = from_proto(request.spec, PlanIn)
        async with unit_of_work(self._pool) as conn:
            return pb.UpdatePlanResponse(plan=_plan(await plans.put_plan(conn, request.id, spec)))
