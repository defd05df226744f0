"""Invoices: a draft while a month is open, then finalized once and never changed.

A month's invoice holds the billable events that no invoice has taken by the time the month is
closed (``switchboard billing close-month``): normally those of the month, plus any event of an
earlier, already closed month that arrived late (a webhook may come after the month ended). A
draft shows what closing would take now. Lines group events by channel, category, country and
unit price; the total is the sum of the lines. Exports: JSON, CSV, and printable HTML.
"""

from __future__ import annotations

import csv
import html
import io
import logging
from collections import defaultdict
from datetime import UTC, date, datetime
from uuid import UUID

import asyncpg

from billing import repository
from billing.schemas import Invoice, InvoiceLine, InvoiceList
from kernel.db import Connection, Pool, unit_of_work
from kernel.errors import InvalidInput

__all__ = ["close_month", "get_invoice", "list_invoices", "money", "month_of", "printable", "to_csv", "to_html"]

log = logging.getLogger("switchboard.billing")


def month_of(value: str) -> date:
    """``YYYY-MM`` → the month's first day."""
    try:
        return datetime.strptime(value, "%Y-%m").replace(tzinfo=UTC).date()
    except ValueError:
        raise InvalidInput("month", "invalid_month", f"expected a month as YYYY-MM, got {value!r}") from None


def _end(month: date) -> datetime:
    """The first instant after the month (UTC)."""
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return datetime(following.year, following.month, 1, tzinfo=UTC)


def _invoices(month: date, status: str, rows: list[asyncpg.Record], finalized: dict[str, datetime]) -> list[Invoice]:
    by_currency: dict[str, list[InvoiceLine]] = defaultdict(list)
    for row in rows:
        by_currency[row["currency"]].append(
            InvoiceLine(
                channel=row["channel"],
                category=row["category"],
                country=row["country"],
                events=row["events"],
                quantity=row["quantity"],
                unit_price=row["unit_price"],
                amount=row["amount"],
            )
        )
    return [
        Invoice(
            month=f"{month:%Y-%m}",
            status=status,
            currency=currency,
            lines=lines,
            total=sum(line.amount for line in lines),
            finalized_at=finalized.get(currency),
        )
        for currency, lines in sorted(by_currency.items())
    ]


async def get_invoice(conn: Connection, tenant_id: UUID, month: date) -> list[Invoice]:
    """The month's invoice (one per currency billed; a month with nothing billed has an empty one)."""
    final = await repository.final_invoices(conn, tenant_id, month)
    if final:
        lines = await repository.final_lines(conn, tenant_id, month)
        return _invoices(month, "final", lines, {r["currency"]: r["finalized_at"] for r in final})
    drafts = _invoices(month, "draft", await repository.draft_lines(conn, tenant_id, _end(month)), {})
    if drafts:
        return drafts
    card = await repository.rate_card(conn, tenant_id)
    return [Invoice(month=f"{month:%Y-%m}", status="draft", currency=card.currency, lines=[], total=0)]


async def list_invoices(conn: Connection, tenant_id: UUID, now: datetime | None = None) -> InvoiceList:
    """The current month's draft, then the finalized invoices, newest first."""
    today = (now or datetime.now(UTC)).date()
    this_month = today.replace(day=1)
    invoices = await get_invoice(conn, tenant_id, this_month)
    months = sorted({r["month"] for r in await repository.final_invoices(conn, tenant_id)} - {this_month}, reverse=True)
    for month in months:
        invoices.extend(await get_invoice(conn, tenant_id, month))
    return InvoiceList(data=invoices)


async def close_month(pool: Pool, month: date, now: datetime | None = None) -> tuple[int, int]:
    """Finalize every tenant's invoice of ``month`` (which must have ended). Returns (finalized,
    already final): running it again finalizes nothing more and changes nothing."""
    end = _end(month)
    if end > (now or datetime.now(UTC)):
        raise InvalidInput(
            "month", "not_ended", f"{month:%Y-%m} has not ended yet: it can be closed from {end:%Y-%m-%d}"
        )
    async with pool.acquire() as conn:
        tenants = await repository.tenants_to_invoice(conn, end)
    finalized = skipped = 0
    for tenant_id in tenants:
        async with unit_of_work(pool) as conn:
            if await repository.finalize(conn, tenant_id, month, end):
                finalized += 1
                log.info(
                    "invoice finalized", extra={"fields": {"tenant_id": str(tenant_id), "month": f"{month:%Y-%m}"}}
                )
            else:
                skipped += 1
    return finalized, skipped


def to_csv(invoices: list[Invoice]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["month", "status", "currency", "channel", "category", "country", "events", "quantity", "unit_price", "amount"]
    )
    for invoice in invoices:
        for line in invoice.lines:
            writer.writerow(
                [
                    invoice.month,
                    invoice.status,
                    invoice.currency,
                    line.channel,
                    line.category,
                    line.country,
                    line.events,
                    line.quantity,
                    line.unit_price,
                    line.amount,
                ]
            )
        writer.writerow([invoice.month, invoice.status, invoice.currency, "total", "", "", "", "", "", invoice.total])
    return out.getvalue()


# Currencies shown with two decimals on the printable page (minor units are cents); others raw.
_TWO_DECIMALS = frozenset({"USD", "EUR", "GBP", "BRL", "INR", "MXN", "CAD", "AUD"})


def money(amount: int, currency: str) -> str:
    """An amount in minor units as people read it (the printable invoice and the console)."""
    return f"{amount / 100:,.2f} {currency}" if currency in _TWO_DECIMALS else f"{amount:,} {currency} (minor units)"


async def printable(conn: Connection, tenant_id: UUID, invoices: list[Invoice]) -> str:
    """The invoices as a printable page headed by the tenant's name."""
    return to_html(invoices, await repository.tenant_name(conn, tenant_id) or str(tenant_id))


def to_html(invoices: list[Invoice], tenant_name: str) -> str:
    """A printable page (no script, no external resource)."""
    parts = [
        "<!doctype html><html lang=en><meta charset=utf-8>",
        f"<title>Invoice {html.escape(invoices[0].month)}</title>",
        "<style>body{font:14px system-ui;margin:2em}table{border-collapse:collapse;width:100%}"
        "td,th{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:left}td.n,th.n{text-align:right}"
        "@media print{body{margin:0}}</style>",
        f"<h1>Invoice {html.escape(invoices[0].month)}</h1><p>{html.escape(tenant_name)}</p>",
    ]
    for invoice in invoices:
        parts.append(f"<h2>{html.escape(invoice.currency)} — {html.escape(invoice.status)}</h2><table>")
        parts.append(
            "<tr><th>Channel</th><th>Category</th><th>Country</th><th class=n>Messages</th>"
            "<th class=n>Quantity</th><th class=n>Unit price</th><th class=n>Amount</th></tr>"
        )
        for line in invoice.lines:
            cells = [line.channel, line.category, line.country]
            numbers = [
                f"{line.events:,}",
                f"{line.quantity:,}",
                money(line.unit_price, invoice.currency),
                money(line.amount, invoice.currency),
            ]
            parts.append(
                "<tr>"
                + "".join(f"<td>{html.escape(c)}</td>" for c in cells)
                + "".join(f"<td class=n>{html.escape(n)}</td>" for n in numbers)
                + "</tr>"
            )
        parts.append(
            f"<tr><th colspan=6>Total</th><th class=n>{html.escape(money(invoice.total, invoice.currency))}</th></tr>"
            "</table>"
        )
    return "".join(parts)
