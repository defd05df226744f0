"""Pricing: one function prices both the cost preview and the billable events it later bills, so
the two cannot disagree.

A rate card is a plan's prices: per channel, by category (WhatsApp's pricing categories; ``*`` for
any) and destination country (``*`` for any). The most specific row wins: category and country,
then category, then country, then neither. Money is integer minor units of the card's currency.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import phonenumbers

__all__ = ["ANY", "Price", "RateCard", "country_of", "price", "whatsapp_category"]

ANY = "*"
UNKNOWN_COUNTRY = "ZZ"  # what phonenumbers calls a number of no known region


@dataclass(frozen=True, slots=True)
class Price:
    unit_price: int  # minor units per unit (a message; an SMS segment)
    units: int
    currency: str

    @property
    def amount(self) -> int:
        return self.unit_price * self.units


@dataclass(frozen=True, slots=True)
class RateCard:
    currency: str
    prices: Mapping[tuple[str, str, str], int]  # (channel, category, country) -> unit price
    included: int = 0  # billable messages a month the plan covers: billed at 0

    @classmethod
    def from_rows(cls, rows: Iterable[Any], included: int = 0, default_currency: str = "USD") -> RateCard:
        """From rate_cards rows (anything with the columns by name)."""
        prices: dict[tuple[str, str, str], int] = {}
        currency = default_currency
        for row in rows:
            prices[(str(row["channel"]), str(row["category"]), str(row["country"]))] = int(row["unit_price"])
            currency = str(row["currency"])
        return cls(currency, prices, included)


def whatsapp_category(template_category: str | None) -> str:
    """The pricing category a WhatsApp message is billed in: its template's category, or service
    for free-form text (allowed only within 24 hours of the customer's message, and free there)."""
    return template_category.lower() if template_category else "service"


def country_of(phone: str | None) -> str:
    """The destination country of an E.164 number (``ZZ`` if unknown or not a phone number)."""
    if not phone:
        return UNKNOWN_COUNTRY
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return UNKNOWN_COUNTRY
    # A number outside every known range still has a calling code: its main country prices it.
    region = phonenumbers.region_code_for_number(number) or phonenumbers.region_code_for_country_code(
        number.country_code or 0
    )
    return region or UNKNOWN_COUNTRY


def price(
    card: RateCard, channel: str, category: str, country: str, units: int = 1, *, included: bool = False
) -> Price:
    """The price of ``units`` of a message on ``channel``; a channel the card does not list is free
    (an operator prices what the plan sells). ``included``: the message is within the plan's
    included volume this month, so it costs nothing."""
    if included:
        return Price(0, units, card.currency)
    for key in ((channel, category, country), (channel, category, ANY), (channel, ANY, country), (channel, ANY, ANY)):
        unit_price = card.prices.get(key)
        if unit_price is not None:
            return Price(unit_price, units, card.currency)
    return Price(0, units, card.currency)
