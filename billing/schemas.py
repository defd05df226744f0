"""Billing shapes shared by both edges."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import msgspec
from msgspec import Meta

__all__ = [
    "Budget",
    "BudgetAlert",
    "BudgetIn",
    "CostLine",
    "Estimate",
    "Invoice",
    "InvoiceLine",
    "InvoiceList",
    "Usage",
    "UsageRow",
    "UsageTotal",
]


class CostLine(msgspec.Struct):
    channel: str
    category: Annotated[str, Meta(description="WhatsApp's pricing category; `message` for SMS and email.")]
    country: Annotated[str, Meta(description="Destination country (ISO 3166 alpha-2); `*` for email.")]
    units: Annotated[int, Meta(description="Messages, or SMS segments.")]
    unit_price: Annotated[int, Meta(description="Minor units of `currency` per unit.")]
    amount: Annotated[int, Meta(description="units times unit_price, in minor units.")]
    currency: str


class Estimate(msgspec.Struct):
    lines: Annotated[
        list[CostLine],
        Meta(
            description="The price on each channel of the message's route, in route order, if that channel "
            "delivers it (0 while the plan's included messages for the month last)."
        ),
    ]
    currency: str
    first: Annotated[int, Meta(description="What the message costs if its first channel delivers it.")]
    most: Annotated[int, Meta(description="What it costs at most: every channel of its route billed.")]


class BatchEstimate(msgspec.Struct):
    estimates: Annotated[list[Estimate], Meta(description="Each message's estimate, in the order given.")]
    currency: str
    first: Annotated[int, Meta(description="The sum of the messages' `first`.")]
    most: Annotated[int, Meta(description="The sum of the messages' `most`.")]


class UsageRow(msgspec.Struct):
    day: date
    channel: str
    category: str
    country: str
    currency: str
    events: Annotated[int, Meta(description="Billable events (messages billed).")]
    units: int
    amount: Annotated[int, Meta(description="Minor units of `currency`.")]


class UsageTotal(msgspec.Struct):
    currency: str
    events: int
    amount: int


class Usage(msgspec.Struct):
    since: date
    until: Annotated[date, Meta(description="Exclusive.")]
    data: list[UsageRow]
    totals: list[UsageTotal]


class InvoiceLine(msgspec.Struct):
    channel: str
    category: str
    country: str
    events: Annotated[int, Meta(description="Billable events (messages).")]
    quantity: Annotated[int, Meta(description="Units billed: messages, or SMS segments.")]
    unit_price: Annotated[int, Meta(description="Minor units of the invoice's currency per unit.")]
    amount: Annotated[int, Meta(description="quantity times unit_price.")]


class Invoice(msgspec.Struct):
    month: Annotated[str, Meta(description="YYYY-MM (UTC).")]
    status: Annotated[
        str, Meta(description="`draft` while the month is open or not yet closed; `final` once closed (immutable).")
    ]
    currency: str
    lines: list[InvoiceLine]
    total: Annotated[int, Meta(description="The sum of the lines, in minor units.")]
    finalized_at: datetime | None = None


class InvoiceList(msgspec.Struct):
    data: list[Invoice]


class BudgetAlert(msgspec.Struct):
    threshold: Annotated[int, Meta(description="Percent of the budget: 80 or 100.")]
    spent: int
    budget: int
    created_at: datetime


class Budget(msgspec.Struct):
    monthly_budget: Annotated[int | None, Meta(description="The cap on a month's spend in minor units; null: no cap.")]
    currency: str
    month: Annotated[str, Meta(description="The current month, YYYY-MM (UTC).")]
    spent: Annotated[int, Meta(description="What this month has billed so far.")]
    alerts: list[BudgetAlert]


class BudgetIn(msgspec.Struct, forbid_unknown_fields=True):
    monthly_budget: Annotated[
        int | None, Meta(description="Minor units of the plan's currency (US cents); null removes the cap.")
    ]


class PlanPrice(msgspec.Struct, forbid_unknown_fields=True):
    channel: Annotated[str, Meta(description="whatsapp, sms or email.")]
    unit_price: Annotated[int, Meta(description="Minor units per message (per segment for SMS).")]
    category: Annotated[str, Meta(description="WhatsApp pricing category, or `*` for any.")] = "*"
    country: Annotated[str, Meta(description="ISO 3166 alpha-2 destination, or `*` for any.")] = "*"


class PlanIn(msgspec.Struct, forbid_unknown_fields=True):
    """A plan's limits (as `switchboard plans set` takes them) and its rate card (replaced whole)."""

    rate_per_second: Annotated[float, Meta(description="Submissions per second, sustained.")]
    burst: Annotated[int, Meta(description="Submissions allowed at once.")]
    monthly_messages: Annotated[int | None, Meta(description="Messages per calendar month; null: unlimited.")] = None
    monthly_by_channel: dict[str, int] = {}
    max_batch: int = 100
    tier_policy: Annotated[str, Meta(description="wait or fail.")] = "wait"
    included_messages: Annotated[int, Meta(description="Billable messages a month billed at 0.")] = 0
    currency: Annotated[str, Meta(description="ISO 4217; one per plan.")] = "USD"
    prices: list[PlanPrice] = []


class PlanView(msgspec.Struct):
    id: str
    rate_per_second: float
    burst: int
    monthly_messages: int | None
    monthly_by_channel: dict[str, int]
    max_batch: int
    tier_policy: str
    included_messages: int
    currency: str
    prices: list[PlanPrice]
    tenants: Annotated[int, Meta(description="Tenants on this plan.")]


class PlanList(msgspec.Struct):
    data: list[PlanView]
