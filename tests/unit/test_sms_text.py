"""SMS encoding and segment counts, as carriers bill them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from messaging.sms_text import encode_info


@pytest.mark.parametrize(
    ("body", "encoding", "segments"),
    [
        ("Hi Ada, order #1042 shipped.", "GSM-7", 1),
        ("x" * 160, "GSM-7", 1),
        ("x" * 161, "GSM-7", 2),
        ("x" * 306, "GSM-7", 2),
        ("x" * 307, "GSM-7", 3),
        ("€" * 80, "GSM-7", 1),  # two septets each: exactly 160
        ("€" * 81, "GSM-7", 2),
        ("Grüße aus Köln", "GSM-7", 1),  # ü, ö are in the GSM alphabet
        ("Hi Ada 👋", "UCS-2", 1),
        ("ç" * 70, "UCS-2", 1),  # lower-case ç is not in the GSM alphabet (only Ç is)
        ("ç" * 71, "UCS-2", 2),
        ("“quoted”", "UCS-2", 1),
    ],
)
def test_encoding_and_segments(body: str, encoding: str, segments: int) -> None:
    info = encode_info(body)
    assert (info.encoding, info.segments) == (encoding, segments)


@given(st.text(max_size=500))
def test_segments_cover_the_body(body: str) -> None:
    info = encode_info(body)
    per = (160, 153) if info.encoding == "GSM-7" else (70, 67)
    assert info.segments >= 1
    assert info.units <= (per[0] if info.segments == 1 else per[1] * info.segments)
