"""One stored callback → what it says, provider by provider: status reports about our messages,
customer messages, and notes on whatever could not be used. Pure: routing to messages happens in
:mod:`webhooks.reconcile`.

Only the tenant's own numbers count: a WhatsApp change for a phone_number_id the tenant does not
own yields nothing but a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs
from uuid import UUID

import msgspec

from messaging.inbox import Inbound
from messaging.states import Status
from messaging.status_reports import Report
from webhooks import mail_events, meta, twilio

__all__ = ["Complaint", "NumberUpdate", "Parsed", "TemplateStatus", "Unparseable", "parse"]

_REPORTABLE = {s.value: s for s in (Status.SENT, Status.DELIVERED, Status.READ, Status.FAILED)}


class Unparseable(ValueError):
    """Signed correctly, but not a body this provider sends."""


@dataclass(frozen=True, slots=True)
class TemplateStatus:
    """Meta changed a template's status (approved, rejected, paused, disabled, ...)."""

    waba_id: str
    name: str
    language: str
    status: str
    reason: str | None
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class NumberUpdate:
    """Meta changed one of the tenant's numbers: its quality, its daily tier, its throughput."""

    waba_id: str
    display_digits: str
    quality_rating: str | None  # FLAGGED → RED, UNFLAGGED → GREEN; None: unchanged
    messaging_tier: str | None  # e.g. TIER_10K; None: unchanged
    throughput_mps: int | None  # THROUGHPUT_UPGRADE → 1,000; None: unchanged


_QUALITY_EVENTS = {"FLAGGED": "RED", "UNFLAGGED": "GREEN"}
HIGH_THROUGHPUT_MPS = 1000

# Meta's events → the status kept; REINSTATED lifts a pause. Anything else is kept as Meta names it,
# and only APPROVED templates can be sent.
_TEMPLATE_EVENTS = {"REINSTATED": "APPROVED"}


@dataclass(frozen=True, slots=True)
class Complaint:
    """The recipient of one of our emails reported it as spam: no more email to them."""

    provider_message_id: str  # the Message-ID we gave the email
    raw_event_id: int


@dataclass(slots=True)
class Parsed:
    reports: list[Report] = field(default_factory=list)
    inbound: list[Inbound] = field(default_factory=list)
    templates: list[TemplateStatus] = field(default_factory=list)
    numbers: list[NumberUpdate] = field(default_factory=list)
    complaints: list[Complaint] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def parse(provider: str, body: bytes, raw_event_id: int, senders: dict[str, UUID], query: str = "") -> Parsed:
    """``senders``: the tenant's WhatsApp numbers, phone_number_id → sender id; ``query``: the
    callback URL's query string."""
    if provider == "whatsapp":
        try:
            return _whatsapp(meta.decode(body), raw_event_id, senders)
        except msgspec.MsgspecError as error:
            raise Unparseable(str(error)) from None
    if provider == "twilio":
        try:
            return _twilio(twilio.form(body), raw_event_id, query)
        except ValueError as error:
            raise Unparseable(str(error)) from None
    if provider == "email":
        try:
            return _email(mail_events.decode(body), raw_event_id)
        except msgspec.MsgspecError as error:
            raise Unparseable(str(error)) from None
    raise Unparseable(f"no parser for provider {provider!r}")


def _our_id(value: str | None) -> UUID | None:
    try:
        return UUID(value) if value else None
    except ValueError:
        return None


def _billable(pricing: dict[str, Any] | None) -> str | None:
    """Meta's pricing category when it says the message is billable (``sent`` and one of
    ``delivered``/``read`` carry pricing; free service messages say ``billable: false``)."""
    if not pricing or pricing.get("billable") is not True:
        return None
    category = pricing.get("category")
    return str(category).lower() if category else "unknown"


def _pricing_model(pricing: dict[str, Any] | None) -> str | None:
    model = pricing.get("pricing_model") if pricing else None
    return str(model).upper() if model else None


def _whatsapp(body: meta.Notification, raw_event_id: int, senders: dict[str, UUID]) -> Parsed:
    parsed = Parsed()
    for entry in body.entry:
        for change in entry.changes:
            value = change.value
            if change.field == "message_template_status_update":
                _template_status(parsed, entry, value)
                continue
            if change.field == "phone_number_quality_update":
                _number_update(parsed, entry, value)
                continue
            if change.field != "messages":
                continue
            phone_number_id = value.metadata.phone_number_id if value.metadata else None
            sender_id = senders.get(phone_number_id) if phone_number_id else None
            if sender_id is None:
                parsed.notes.append(f"unknown phone_number_id {phone_number_id}")
                continue
            for status in value.statuses:
                reported = _REPORTABLE.get(status.status)
                if reported is None:
                    parsed.notes.append(f"status {status.status!r} of {status.id} not tracked")
                    continue
                error = status.errors[0] if status.errors else None
                parsed.reports.append(
                    Report(
                        message_id=_our_id(status.biz_opaque_callback_data),
                        provider_message_id=status.id,
                        status=reported,
                        source="webhook:whatsapp",
                        dedupe_key=status.dedupe_key,
                        detail=error.describe() if error else None,
                        error_code=error.code if error else None,
                        raw_event_id=raw_event_id,
                        occurred_at=status.occurred_at,
                        billable_category=_billable(status.pricing),
                        pricing_model=_pricing_model(status.pricing),
                    )
                )
            parsed.inbound.extend(meta.inbound(value, sender_id, raw_event_id))
    return parsed


def _template_status(parsed: Parsed, entry: meta.Entry, value: meta.Value) -> None:
    if not (entry.id and value.event and value.message_template_name and value.message_template_language):
        parsed.notes.append("template status update without WABA, event, name or language")
        return
    parsed.templates.append(
        TemplateStatus(
            waba_id=entry.id,
            name=value.message_template_name,
            # Webhooks have been seen with en-US where sends and listings use en_US.
            language=value.message_template_language.replace("-", "_"),
            status=_TEMPLATE_EVENTS.get(value.event.upper(), value.event.upper()),
            reason=value.reason if value.reason and value.reason.upper() != "NONE" else None,
            changed_at=datetime.fromtimestamp(entry.time, UTC) if entry.time else datetime.now(UTC),
        )
    )


def _number_update(parsed: Parsed, entry: meta.Entry, value: meta.Value) -> None:
    digits = "".join(ch for ch in value.display_phone_number or "" if ch.isdigit())
    if not (entry.id and digits and value.event):
        parsed.notes.append("phone number update without WABA, number or event")
        return
    event = value.event.upper()
    parsed.numbers.append(
        NumberUpdate(
            waba_id=entry.id,
            display_digits=digits,
            quality_rating=_QUALITY_EVENTS.get(event),
            messaging_tier=value.current_limit.upper() if value.current_limit else None,
            throughput_mps=HIGH_THROUGHPUT_MPS if event == "THROUGHPUT_UPGRADE" else None,
        )
    )


def _twilio(params: dict[str, list[str]], raw_event_id: int, query: str) -> Parsed:
    parsed = Parsed()
    # Our message id rides in the StatusCallback URL (Twilio's callbacks carry nothing of ours): it
    # matches the SMS even when the worker died before it could record the SID.
    ours = parse_qs(query).get("message_id", [None])[0]
    sid = (params.get("MessageSid") or params.get("SmsSid") or [""])[0]
    status = (params.get("MessageStatus") or params.get("SmsStatus") or [""])[0]
    if not sid or not status:
        raise Unparseable("a Twilio status callback names MessageSid and MessageStatus")
    tracked = twilio.STATUSES.get(status)
    if tracked is None:
        parsed.notes.append(f"status {status!r} of {sid} not tracked")
        return parsed
    code = (params.get("ErrorCode") or [""])[0]
    parsed.reports.append(
        Report(
            message_id=_our_id(ours),
            provider_message_id=sid,
            status=Status(tracked),
            source="webhook:twilio",
            # Twilio's callbacks carry no timestamp: one status per message is one fact.
            dedupe_key=f"twilio:{sid}:{status}",
            detail=f"({code}) {status}" if code else None,
            error_code=int(code) if code.isdigit() else None,
            raw_event_id=raw_event_id,
        )
    )
    return parsed


def _email(event: mail_events.Event, raw_event_id: int) -> Parsed:
    parsed = Parsed()
    header = event.data.message_id
    if event.type == mail_events.COMPLAINED:
        parsed.complaints.append(Complaint(header, raw_event_id))
        return parsed
    if event.type == mail_events.DELIVERED:
        status, code, detail = Status.DELIVERED, None, None
    elif event.type == mail_events.BOUNCED:
        bounce = event.data.bounce or mail_events.Bounce(type="hard")
        status, code = Status.FAILED, mail_events.bounce_code(bounce)
        detail = f"{bounce.type} bounce" + (f": {bounce.message}" if bounce.message else "")
    else:
        parsed.notes.append(f"event {event.type!r} of {header} not tracked")
        return parsed
    parsed.reports.append(
        Report(
            # Our Message-ID is <message id@sender's domain>.
            message_id=_our_id(header.strip("<>").partition("@")[0]),
            provider_message_id=header,
            status=status,
            source="webhook:email",
            dedupe_key=f"email:{header}:{event.type}",
            detail=detail,
            error_code=code,
            raw_event_id=raw_event_id,
            occurred_at=event.created_at,
        )
    )
    return parsed
