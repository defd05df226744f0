"""Billing shapes shared by both edges."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import msgspec
from msgspec import Meta

__all__ = ["CostLine", "Estimate", "Usage", "UsageRow", "UsageTotal"]


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
        list[CostLine], Meta(description="The price on each channel of the message's route, in route order.")
    ]
    currency: str
    first: Annotated[int, Meta(description="What the message costs if its first channel delivers it.")]
    most: Annotated[int, Meta(description="What it costs at most: every channel of its route billed.")]


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
