"""SMS text: which encoding a body needs and how many segments it costs (what carriers bill).

A body whose every character is in the GSM 03.38 alphabet goes as GSM-7: 160 septets in one
segment, 153 per segment once it is split (the rest carries the concatenation header). Characters
of the extension table (``^{}\\[~]|€`` and form feed) take two septets. Anything else (emoji,
most non-Latin scripts, even a curly quote) makes the whole body UCS-2: 70 UTF-16 code units in one
segment, 67 per segment when split.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EncodeInfo", "encode_info"]

_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True, slots=True)
class EncodeInfo:
    encoding: str  # GSM-7 | UCS-2
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def encode_info(body: str) -> EncodeInfo:
    if all(c in _GSM7_BASIC or c in _GSM7_EXTENSION for c in body):
        units = sum(2 if c in _GSM7_EXTENSION else 1 for c in body)
        return EncodeInfo("GSM-7", units, 1 if units <= 160 else -(-units // 153))
    units = len(body.encode("utf-16-le")) // 2
    return EncodeInfo("UCS-2", units, 1 if units <= 70 else -(-units // 67))
