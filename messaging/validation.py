"""Input rules for a message, checked before anything is stored (pure: no I/O)."""

from __future__ import annotations

from kernel.errors import FieldViolation
from kernel.phones import normalize_e164
from messaging.schemas import MAX_TEXT, SendMessage

__all__ = ["MAX_IDEMPOTENCY_KEY", "normalize_e164", "validate"]

MAX_IDEMPOTENCY_KEY = 255


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
    if idempotency_key is not None and not (
        0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY and idempotency_key.isprintable()
    ):
        problems.append(FieldViolation("Idempotency-Key", "format", f"1 to {MAX_IDEMPOTENCY_KEY} printable characters"))
    return to_number, problems
