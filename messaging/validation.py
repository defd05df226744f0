"""Input rules for a message, checked before anything is stored (pure: no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kernel.errors import FieldViolation
from kernel.phones import normalize_e164
from messaging.schemas import MAX_TEXT, SendMessage

__all__ = [
    "CHANNELS",
    "MAX_IDEMPOTENCY_KEY",
    "fallback_after_problems",
    "normalize_e164",
    "order_problems",
    "validate",
]

MAX_IDEMPOTENCY_KEY = 255
MAX_FALLBACK_AFTER = 86_400
CHANNELS = ("whatsapp", "sms", "email")


def validate(request: SendMessage, idempotency_key: str | None) -> tuple[str | None, list[FieldViolation]]:
    """The recipient in E.164 (None when invalid) and every rule the request breaks."""
    problems: list[FieldViolation] = []
    to_number = normalize_e164(request.to)
    if to_number is None:
        problems.append(
            FieldViolation("to", "e164", f"{request.to!r} is not a valid phone number in E.164 form (+14155550123)")
        )
    if (request.text is None) == (request.template is None):
        problems.append(FieldViolation("text", "one_of", "give exactly one of text or template"))
    if request.text is not None:
        length = len(request.text.body)
        if not request.text.body.strip():
            problems.append(FieldViolation("text.body", "required", "must not be empty"))
        elif length > MAX_TEXT:
            problems.append(FieldViolation("text.body", "max_length", f"at most {MAX_TEXT} characters, got {length}"))
    if request.template is not None:
        if not request.template.name.strip():
            problems.append(FieldViolation("template.name", "required", "must not be empty"))
        if not request.template.language.strip():
            problems.append(FieldViolation("template.language", "required", "must not be empty"))
    problems.extend(_route_problems(request))
    problems.extend(_schedule_problems(request.send_at))
    if idempotency_key is not None and not (
        0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY and idempotency_key.isprintable()
    ):
        problems.append(FieldViolation("Idempotency-Key", "format", f"1 to {MAX_IDEMPOTENCY_KEY} printable characters"))
    return to_number, problems


MAX_SCHEDULE = timedelta(days=30)
# A send_at this far in the past is a mistake (a wrong offset, a stale job), not "now".
PAST_TOLERANCE = timedelta(minutes=5)


def _schedule_problems(send_at: datetime | None) -> list[FieldViolation]:
    if send_at is None:
        return []
    if send_at.tzinfo is None:
        return [FieldViolation("send_at", "timezone", "give the time with its offset, e.g. 2026-12-24T09:00:00Z")]
    now = datetime.now(UTC)
    if send_at > now + MAX_SCHEDULE:
        return [FieldViolation("send_at", "max_ahead", "at most 30 days ahead")]
    if send_at < now - PAST_TOLERANCE:
        return [FieldViolation("send_at", "past", "is in the past; omit it to send now")]
    return []


def order_problems(channels: list[str], field: str = "channels") -> list[FieldViolation]:
    """A route's order: WhatsApp first, known channels, each once."""
    problems: list[FieldViolation] = []
    if not channels or channels[0] != "whatsapp":
        problems.append(FieldViolation(field, "whatsapp_first", "the route starts with whatsapp"))
    if len(set(channels)) != len(channels):
        problems.append(FieldViolation(field, "unique", "each channel at most once"))
    if any(c not in CHANNELS for c in channels):
        problems.append(FieldViolation(field, "enum", "each one of whatsapp, sms, email"))
    return problems


def fallback_after_problems(seconds: int, field: str = "fallback_after") -> list[FieldViolation]:
    if not 1 <= seconds <= MAX_FALLBACK_AFTER:
        return [FieldViolation(field, "range", f"1 to {MAX_FALLBACK_AFTER} seconds")]
    return []


def _route_problems(request: SendMessage) -> list[FieldViolation]:
    """``channels`` and ``fallback_after`` against the fallback content they need."""
    fallback = request.fallback
    has = {"whatsapp": True, "sms": bool(fallback and fallback.sms), "email": bool(fallback and fallback.email)}
    problems: list[FieldViolation] = []
    if request.channels is not None:
        problems.extend(order_problems(list(request.channels)))
        for channel in request.channels:
            if channel in has and not has[channel]:
                problems.append(FieldViolation(f"fallback.{channel}", "required", f"{channel} is in channels"))
    if request.fallback_after is not None:
        range_problems = fallback_after_problems(request.fallback_after)
        problems.extend(range_problems)
        if not range_problems and not (has["sms"] or has["email"]):
            problems.append(FieldViolation("fallback_after", "requires_fallback", "give fallback content too"))
    return problems
