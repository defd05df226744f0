"""Input rules for a message (pure)."""

from __future__ import annotations

import pytest

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
