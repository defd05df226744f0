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
    channel: Annotated[str, Meta(description="whatsapp, sms or email.")]
    category: Annotated[str, Meta(description="WhatsApp's pricing category; `message` for SMS and email.")]
    country: Annotated[str, Meta(description="Destination country (ISO 3166 alpha-2); `*` for email.")]
    units: Annotated[int, Meta(description="Messages, or SMS segments.")]
    unit_price: Annotated[int, Meta(description="Minor units of `currency` per unit.")]
    amount: Annotated[int, Meta(description="units times unit_price, in minor units.")]
    currency: Annotated[str, Meta(description="ISO 4217 currency code of the amounts, e.g. USD.")]


class Estimate(msgspec.Struct):
    lines: Annotated[
        list[CostLine],
        Meta(
            description="The price on each channel of the message's route, in route order, if that channel "
            "delivers it (0 while the plan's included messages for the month last)."
        ),
    ]
    currency: Annotated[str, Meta(description="ISO 4217 currency code of the amounts, e.g. USD.")]
    first: Annotated[int, Meta(description="What the message costs if its first channel delivers it.")]
    most: Annotated[int, Meta(description="What it costs at most: every channel of its route billed.")]


class BatchEstimate(msgspec.Struct):
    estimates: Annotated[list[Estimate], Meta(description="Each message's estimate, in the order given.")]
    currency: Annotated[str, Meta(description="ISO 4217 currency code of the amounts, e.g. USD.")]
    first: Annotated[int, Meta(description="The sum of the messages' `first`.")]
    most: Annotated[int, Meta(description="The sum of the messages' `most`.")]


class UsageRow(msgspec.Struct):
    day: Annotated[date, Meta(description="The day (UTC).")]
    channel: Annotated[str, Meta(description="whatsapp, sms or email.")]
    category: Annotated[str, Meta(description="MARKETING, UTILITY, AUTHENTICATION, SERVICE, or the channel's own.")]
    country: Annotated[str, Meta(description="ISO 3166-1 alpha-2 code of the recipients' country.")]
    currency: Annotated[str, Meta(description="ISO 4217 currency code of the amounts, e.g. USD.")]
    events: Annotated[int, Meta(description="Billable events (messages billed).")]
    units: Annotated[int, Meta(description="Billable units: messages, or SMS segments.")]
    amount: Annotated[int, Meta(description="Minor units of `currency`.")]


class UsageTotal(msgspec.Struct):
    currency: Annotated[str, Meta(description="ISO 4217 currency code of the amounts, e.g. USD.")]
    events: Annotated[int, Meta(description="Billable events counted.")]
    amount: Annotated[int, Meta(description="The amount, in minor units of the currency.")]


class Usage(msgspec.Struct):
    since: Annotated[date, Meta(description="The first day counted.")]
    until: Annotated[date, Meta(description="Exclusive.")]
    data: Annotated[list[UsageRow], Meta(description="Usage per day, channel, category and country.")]
    totals: Annotated[list[UsageTotal], Meta(description="Totals per currency.")]


class InvoiceLine(msgspec.Struct):
    channel: Annotated[str, Meta(description="whatsapp, sms or email.")]
    category: Annotated[str, Meta(description="MARKETING, UTILITY, AUTHENTICATION, SERVICE, or the channel's own.")]
    country: Annotated[str, Meta(description="ISO 3166-1 alpha-2 code of the recipients' country.")]
    events: Annotated[int, Meta(description="Billable events (messages).")]
    quantity: Annotated[int, Meta(description="Units billed: messages, or SMS segments.")]
    unit_price: Annotated[int, Meta(description="Minor units of the invoice's currency per unit.")]
    amount: Annotated[int, Meta(description="quantity times unit_price.")]


class Invoice(msgspec.Struct):
    month: Annotated[str, Meta(description="YYYY-MM (UTC).")]
    status: Annotated[
        str, Meta(description="`draft` while the month is open or not yet closed; `final` once closed (immutable).")
    ]
    currency: Annotated[str, Meta(description="ISO 4217 currency code of the amounts, e.g. USD.")]
    lines: Annotated[list[InvoiceLine], Meta(description="One line per channel, category and country.")]
    total: Annotated[int, Meta(description="The sum of the lines, in minor units.")]
    finalized_at: Annotated[datetime | None, Meta(description="When the month was closed; null while it is open.")] = (
        None
    )


class InvoiceList(msgspec.Struct):
    data: Annotated[list[Invoice], Meta(description="Invoices, the most recent month first.")]


class BudgetAlert(msgspec.Struct):
    threshold: Annotated[int, Meta(description="Percent of the budget: 80 or 100.")]
    spent: Annotated[int, Meta(description="The month's spend when the threshold was crossed, in minor units.")]
    budget: Annotated[int, Meta(description="The budget then, in minor units.")]
    created_at: Annotated[datetime, Meta(description="When the threshold was crossed.")]


class Budget(msgspec.Struct):
    monthly_budget: Annotated[int | None, Meta(description="The cap on a month's spend in minor units; null: no cap.")]
    currency: Annotated[str, Meta(description="ISO 4217 currency code of the amounts, e.g. USD.")]
    month: Annotated[str, Meta(description="The current month, YYYY-MM (UTC).")]
    spent: Annotated[int, Meta(description="What this month has billed so far.")]
    alerts: Annotated[
        list[BudgetAlert], Meta(description="This month's alerts: each threshold (80 and 100 percent) at most once.")
    ]


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
    monthly_by_channel: Annotated[
        dict[str, int], Meta(description='A monthly cap per channel, e.g. {"sms": 1000}; channels not named have none.')
    ] = {}
    max_batch: Annotated[int, Meta(description="The most messages one batch may carry (1 to 1,000).")] = 100
    tier_policy: Annotated[str, Meta(description="wait or fail.")] = "wait"
    included_messages: Annotated[int, Meta(description="Billable messages a month billed at 0.")] = 0
    currency: Annotated[str, Meta(description="ISO 4217; one per plan.")] = "USD"
    prices: Annotated[
        list[PlanPrice],
        Meta(
            description="The plan's prices per channel, category and country; the "
            "rate card's defaults where none is given."
        ),
    ] = []


class PlanView(msgspec.Struct):
    id: Annotated[str, Meta(description="The plan's name.")]
    rate_per_second: Annotated[float, Meta(description="Sustained messages per second a tenant may submit.")]
    burst: Annotated[int, Meta(description="Messages a tenant may submit at once above the rate.")]
    monthly_messages: Annotated[int | None, Meta(description="Messages a month; null for no cap.")]
    monthly_by_channel: Annotated[dict[str, int], Meta(description="A monthly cap per channel.")]
    max_batch: Annotated[int, Meta(description="The most messages one batch may carry.")]
    tier_policy: Annotated[
        str, Meta(description="What happens when a sender's Meta messaging tier is reached: wait or fail.")
    ]
    included_messages: Annotated[
        int, Meta(description="Messages a month included in the plan's fee, not billed one by one.")
    ]
    currency: Annotated[str, Meta(description="ISO 4217 currency code of the amounts, e.g. USD.")]
    prices: Annotated[list[PlanPrice], Meta(description="Prices per channel, category and country, in minor units.")]
    tenants: Annotated[int, Meta(description="Tenants on this plan.")]


class PlanList(msgspec.Struct):
    data: Annotated[list[PlanView], Meta(description="Every plan.")]
