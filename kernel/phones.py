"""Phone numbers in E.164, the one form Switchboard stores and compares."""

from __future__ import annotations

import phonenumbers

__all__ = ["normalize_e164"]


def normalize_e164(number: str, *, assigned: bool = True) -> str | None:
    """The number in E.164, or None when it is not one. ``assigned``: the number must be a valid,
    assigned number (a recipient); otherwise a number of a possible shape is enough (a sender's
    display number, which may be a test or sandbox number)."""
    if not number.startswith("+"):
        return None
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None
    fits = phonenumbers.is_valid_number(parsed) if assigned else phonenumbers.is_possible_number(parsed)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) if fits else None
