"""Usage and invoices: a month's usage by channel, category and country; invoices with their
printable form and CSV."""

from __future__ import annotations

from datetime import UTC, date, datetime

from litestar import Controller, Response, get
from litestar.enums import MediaType
from litestar.response import Template

from admin_ui.roles import Can
from admin_ui.web import AdminRequest, db, render, require_session, tenant_of
from billing import invoices
from billing import service as billing
from kernel.db import unit_of_work

__all__ = ["BillingPages"]


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


class BillingPages(Controller):
    path = "/admin"
    guards = [require_session]
    include_in_schema = False
    opt = {"can": Can.SEE_BILLING}

    @get("/usage")
    async def usage(self, request: AdminRequest, month: str = "") -> Template:
        chosen = month or datetime.now(UTC).strftime("%Y-%m")
        start = invoices.month_of(chosen)  # a bad month is the error page's INVALID
        tenant_id = tenant_of(request)
        async with unit_of_work(db(request)) as conn:
            used = await billing.usage(conn, tenant_id, start, _next_month(start))
            listed = await invoices.list_invoices(conn, tenant_id)
        return render(
            request,
            "usage.html",
            month=chosen,
            usage=used,
            groups={by: billing.breakdown(used, by) for by in billing.BREAKDOWNS},
            invoices=listed.data,
        )

    @get("/invoices/{month:str}", media_type=MediaType.HTML)
    async def invoice(self, request: AdminRequest, month: str) -> Response[str]:
        tenant_id = tenant_of(request)
        async with unit_of_work(db(request)) as conn:
            found = await invoices.get_invoice(conn, tenant_id, invoices.month_of(month))
            html = await invoices.printable(conn, tenant_id, found)
        return Response(html, media_type=MediaType.HTML)

    @get("/invoices/{month:str}/csv", media_type="text/csv")
    async def invoice_csv(self, request: AdminRequest, month: str) -> Response[str]:
        async with unit_of_work(db(request)) as conn:
            found = await invoices.get_invoice(conn, tenant_of(request), invoices.month_of(month))
        disposition = f'attachment; filename="invoice-{month}.csv"'
        return Response(invoices.to_csv(found), media_type="text/csv", headers={"Content-Disposition": disposition})
