"""Opaque keyset cursors for lists ordered newest first by (timestamp, id)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from kernel.errors import InvalidInput

__all__ = ["DEFAULT_PAGE", "MAX_PAGE", "Params", "decode_cursor", "encode_cursor", "page", "page_size"]


DEFAULT_PAGE = 50
MAX_PAGE = 100


def page_size(requested: int, field: str = "page_size") -> int:
    """A page size from a request where 0 means the default (gRPC's convention)."""
    if requested == 0:
        return DEFAULT_PAGE
    if not 1 <= requested <= MAX_PAGE:
        raise InvalidInput(field, "range", f"must be between 1 and {MAX_PAGE}")
    return requested


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


R = TypeVar("R")


def page(rows: Sequence[R], limit: int, position: Callable[[R], tuple[Any, ...]]) -> tuple[Sequence[R], str | None]:
    """Cut ``limit + 1`` fetched rows to a page, with the cursor of the next page (None: last page).
    ``position`` gives a row's (timestamp, *key) as :func:`encode_cursor` takes them."""
    shown = rows[:limit]
    return shown, encode_cursor(*position(shown[-1])) if len(rows) > limit else None


class Params:
    """Positional parameters (``$1``, ``$2``…) collected while a query's filters are built."""

    def __init__(self, *values: Any) -> None:
        self.values: list[Any] = list(values)

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"
