"""Input rules for a message (pure)."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from messaging.schemas import SendMessage, TemplateContent, TextContent
from messaging.validation import normalize_e164, validate


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+14155550123", "+14155550123"),
        ("+44 20 7946 0958", "+442079460958"),
        ("14155550123", None),
        ("+1415", None),
        ("+999123456789", None),
        ("", None),
        ("+1 (415) 555-0123", "+14155550123"),
    ],
)
def test_recipients_must_be_valid_e164(raw: str, expected: str | None) -> None:
    assert normalize_e164(raw) == expected


def _parsed(raw: str) -> str | None:
    """What the general parser alone says (the path before the E.164 shortcut)."""
    try:
        parsed = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        return None
    return (
        phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        if phonenumbers.is_valid_number(parsed)
        else None
    )


_TYPES = [t for t in vars(phonenumbers.PhoneNumberType).values() if isinstance(t, int)]
# An example of every type of number in every region (toll-free, premium, pager...), and of the
# non-geographic country codes (+800, +882...): the shortcut must agree on each.
_EXAMPLES = sorted(
    {
        phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)
        for n in [
            *(phonenumbers.example_number_for_type(r, t) for r in phonenumbers.SUPPORTED_REGIONS for t in _TYPES),
            *(
                phonenumbers.example_number_for_non_geo_entity(c)
                for c in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS
            ),
        ]
        if n is not None
    }
)


def test_every_example_number_is_judged_as_the_parser_judges_it() -> None:
    assert len(_EXAMPLES) > 1000
    assert [normalize_e164(e) for e in _EXAMPLES] == [_parsed(e) for e in _EXAMPLES]


@settings(max_examples=3000)
@given(
    st.one_of(
        st.from_regex(r"\+[0-9]{1,16}", fullmatch=True),
        # near real numbers of every region, so valid ones are common, not only noise
        st.tuples(st.sampled_from(_EXAMPLES), st.from_regex(r"[0-9]{0,4}", fullmatch=True)).map(
            lambda t: t[0][: len(t[0]) - len(t[1])] + t[1]
        ),
    )
)
def test_the_e164_shortcut_agrees_with_the_parser(raw: str) -> None:
    assert normalize_e164(raw) == _parsed(raw)


def test_a_message_needs_exactly_one_content() -> None:
    assert {v.field for v in validate(SendMessage(to="+14155550123"), None)[1]} == {"text"}
    both = SendMessage(to="+14155550123", text=TextContent(body="a"), template=TemplateContent(name="t", language="en"))
    assert {v.rule for v in validate(both, None)[1]} == {"one_of"}


def test_text_length_is_bounded_by_4096() -> None:
    assert validate(SendMessage(to="+14155550123", text=TextContent(body="x" * 4096)), None) == ("+14155550123", [])
    [violation] = validate(SendMessage(to="+14155550123", text=TextContent(body="x" * 4097)), None)[1]
    assert (violation.field, violation.rule) == ("text.body", "max_length")


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there"])
def test_idempotency_keys_are_printable_and_bounded(key: str) -> None:
    [violation] = validate(SendMessage(to="+14155550123", text=TextContent(body="a")), key)[1]
    assert violation.field == "Idempotency-Key"
