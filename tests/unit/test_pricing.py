"""The rate card's rules: the most specific price wins, money stays whole minor units."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from billing.pricing import ANY, RateCard, country_of, price

CARD = RateCard(
    "USD",
    {
        ("whatsapp", "marketing", ANY): 3,
        ("whatsapp", "marketing", "IN"): 1,
        ("whatsapp", ANY, ANY): 2,
        ("sms", ANY, ANY): 5,
        ("sms", ANY, "US"): 1,
    },
)


def test_the_most_specific_row_wins() -> None:
    assert price(CARD, "whatsapp", "marketing", "IN").unit_price == 1  # category and country
    assert price(CARD, "whatsapp", "marketing", "US").unit_price == 3  # category
    assert price(CARD, "sms", "message", "US").unit_price == 1  # country
    assert price(CARD, "whatsapp", "utility", "US").unit_price == 2  # neither
    assert price(CARD, "email", "message", ANY).unit_price == 0  # a channel the plan does not price


@given(units=st.integers(1, 20), country=st.sampled_from(["US", "GB", "IN", "ZZ"]))
def test_an_sms_costs_its_segments_times_the_unit_price(units: int, country: str) -> None:
    cost = price(CARD, "sms", "message", country, units)
    assert cost.amount == units * cost.unit_price and isinstance(cost.amount, int)
    assert cost.currency == "USD"


def test_the_country_comes_from_the_number() -> None:
    assert country_of("+14155550123") == "US"
    assert country_of("+447700900123") == "GB"
    assert country_of("+919812345678") == "IN"
    assert country_of("not a number") == "ZZ"
    assert country_of(None) == "ZZ"
