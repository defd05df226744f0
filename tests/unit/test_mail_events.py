"""A mail provider's events, as parsed for reconciliation."""

from __future__ import annotations

import uuid

import pytest

from messaging.states import Status
from webhooks import mail_events
from webhooks.parsing import Unparseable, parse

MESSAGE_ID = uuid.uuid4()
HEADER = f"<{MESSAGE_ID}@shop.example>"


def event(kind: str, bounce: mail_events.Bounce | None = None) -> bytes:
    return mail_events.encode(mail_events.Event(kind, mail_events.Data(HEADER, ["ada@example.com"], bounce)))


def test_a_delivery_names_our_message_by_its_message_id() -> None:
    [report] = parse("email", event(mail_events.DELIVERED), 7, {}).reports
    assert (report.message_id, report.provider_message_id, report.status) == (MESSAGE_ID, HEADER, Status.DELIVERED)
    assert (report.source, report.raw_event_id) == ("webhook:email", 7)


@pytest.mark.parametrize(
    ("bounce", "code"),
    [
        (mail_events.Bounce(type="hard"), 550),
        (mail_events.Bounce(type="hard", code=551), 551),
        (mail_events.Bounce(type="hard", code=452), 550),  # the type decides the class
        (mail_events.Bounce(type="soft"), 450),
        (mail_events.Bounce(type="soft", code=552), 450),
    ],
)
def test_a_bounce_is_a_failure_with_the_reply_code_it_stands_for(bounce: mail_events.Bounce, code: int) -> None:
    [report] = parse("email", event(mail_events.BOUNCED, bounce), 1, {}).reports
    assert (report.status, report.error_code) == (Status.FAILED, code)
    assert report.detail is not None and report.detail.startswith(f"{bounce.type} bounce")


def test_a_complaint_is_not_a_status_but_a_suppression() -> None:
    parsed = parse("email", event(mail_events.COMPLAINED), 3, {})
    assert parsed.reports == [] and [(c.provider_message_id, c.raw_event_id) for c in parsed.complaints] == [
        (HEADER, 3)
    ]


def test_a_repeated_event_is_one_fact() -> None:
    first = parse("email", event(mail_events.DELIVERED), 1, {}).reports[0]
    again = parse("email", event(mail_events.DELIVERED), 2, {}).reports[0]
    assert first.dedupe_key == again.dedupe_key


def test_events_we_do_not_track_leave_a_note() -> None:
    parsed = parse("email", event("email.opened"), 1, {})
    assert parsed.reports == [] and "not tracked" in parsed.notes[0]


@pytest.mark.parametrize("body", [b"not json", b"{}", b'{"type": "email.delivered", "data": {"to": []}}'])
def test_anything_else_is_unparseable(body: bytes) -> None:
    with pytest.raises(Unparseable):
        parse("email", body, 1, {})
