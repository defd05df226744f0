"""Phone numbers in E.164, the one form Switchboard stores and compares."""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneNumber

__all__ = ["normalize_e164"]

# Already E.164: "+", a country code and a national number, digits only.
_CANONICAL = re.compile(r"\+[1-9][0-9]{1,14}")


def normalize_e164(number: str, *, assigned: bool = True) -> str | None:
    """The number in E.164, or None when it is not one. ``assigned``: the number must be a valid,
    assigned number (a recipient); otherwise a number of a possible shape is enough (a sender's
    display number, which may be a test or sandbox number)."""
    if not number.startswith("+"):
        return None
    if assigned and _valid_as_given(number):
        return number
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None
    fits = phonenumbers.is_valid_number(parsed) if assigned else phonenumbers.is_possible_number(parsed)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) if fits else None


def _valid_as_given(number: str) -> bool:
    """Whether a number already in E.164 is a valid one, without the general parser (half the cost
    of a recipient check, which every message pays). False sends the number to the parser, which
    knows the rest: national prefixes, leading zeros, punctuation."""
    if not _CANONICAL.fullmatch(number):
        return False
    # Country codes are prefix-free: the first of 1, 2 or 3 digits that is one is the one.
    for length in (1, 2, 3):
        country_code = int(number[1 : 1 + length])
        if country_code in COUNTRY_CODE_TO_REGION_CODE:
            national = number[1 + length :]
            if not national or national[0] == "0":  # Italian-style leading zeros: the parser's case
                return False
            return bool(
                phonenumbers.is_valid_number(PhoneNumber(country_code=country_code, national_number=int(national)))
            )
    return False
