"""Phone numbers in E.164, the one form Switchboard stores and compares."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata, PhoneNumberDesc

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
        regions = COUNTRY_CODE_TO_REGION_CODE.get(country_code)
        if regions is not None:
            national = number[1 + length :]
            if not national or national[0] == "0":  # Italian-style leading zeros: the parser's case
                return False
            return _is_valid(country_code, regions, national)
    return False


@dataclass(frozen=True, slots=True)
class _Rules:
    """One region's metadata as :func:`phonenumbers.is_valid_number` reads it, compiled once."""

    leading_digits: re.Pattern[str] | None
    general: tuple[frozenset[int], re.Pattern[str]] | None
    # The number types' descriptions; a number is valid when it fits the general one and any of these.
    types: tuple[tuple[frozenset[int], re.Pattern[str]], ...]

    def valid(self, national: str) -> bool:
        return _fits(self.general, national) and any(_fits(t, national) for t in self.types)


def _fits(desc: tuple[frozenset[int], re.Pattern[str]] | None, national: str) -> bool:
    if desc is None:
        return False
    lengths, pattern = desc
    return (not lengths or len(national) in lengths) and pattern.fullmatch(national) is not None


def _desc(desc: PhoneNumberDesc | None) -> tuple[frozenset[int], re.Pattern[str]] | None:
    if desc is None or not desc.national_number_pattern:
        return None
    return frozenset(desc.possible_length), re.compile(desc.national_number_pattern)


@functools.cache
def _rules(country_code: int, region: str) -> _Rules | None:
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    if metadata is None or metadata.country_code != country_code:
        return None
    # Fixed line and mobile first: most recipients are one or the other, and any match will do.
    kinds = [metadata.fixed_line]
    # The library looks at the mobile pattern only when it differs from the fixed-line one.
    if not metadata.same_mobile_and_fixed_line_pattern:
        kinds.append(metadata.mobile)
    kinds += [
        metadata.premium_rate,
        metadata.toll_free,
        metadata.shared_cost,
        metadata.voip,
        metadata.personal_number,
        metadata.pager,
        metadata.uan,
        metadata.voicemail,
    ]
    return _Rules(
        re.compile(metadata.leading_digits) if metadata.leading_digits is not None else None,
        _desc(metadata.general_desc),
        tuple(d for d in map(_desc, kinds) if d is not None),
    )


def _is_valid(country_code: int, regions: tuple[str, ...], national: str) -> bool:
    """``phonenumbers.is_valid_number`` for this number, in one pass: the library finds the region
    by validating against each in turn, then validates again against the one it found."""
    if len(regions) == 1:
        rules = _rules(country_code, regions[0])
        return rules is not None and rules.valid(national)
    for region in regions:
        rules = _rules(country_code, region)
        if rules is None:
            continue
        if rules.leading_digits is not None:
            if rules.leading_digits.match(national):
                return rules.valid(national)
        elif rules.valid(national):
            return True
    return False
