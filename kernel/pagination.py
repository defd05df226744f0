"""Opaque keyset cursors for lists ordered newest first by (timestamp, id)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import datetime
from typing import Any

from kernel.errors import InvalidInput

__all__ = ["decode_cursor", "encode_cursor"]


def encode_cursor(at: datetime, *key: object) -> str:
    """The position just after a row: its timestamp and the parts of its unique key."""
    raw = "|".join([at.isoformat(), *map(str, key)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *key: Callable[[str], Any]) -> tuple[datetime, tuple[Any, ...]]:
    """Undo :func:`encode_cursor`, parsing each key part with the given converter."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, *parts = raw.split("|")
        if len(parts) != len(key):
            raise ValueError("wrong number of parts")
        return datetime.fromisoformat(at), tuple(parse(part) for parse, part in zip(key, parts, strict=True))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("cursor", "format", "not a cursor returned by this API") from None
