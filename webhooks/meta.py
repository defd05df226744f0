"""Meta webhook notification shapes, decoded tolerantly (unknown fields are ignored).

pywa dispatches only ``statuses[0]`` of the first change of a batched notification, so we decode
every ``entry[].changes[].value.statuses[]`` ourselves.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

__all__ = ["MetaStatus", "Notification", "decode"]


class MetaError(msgspec.Struct):
    code: int | None = None
    title: str | None = None
    message: str | None = None
    error_data: dict[str, Any] | None = None

    def describe(self) -> str:
        details = (self.error_data or {}).get("details")
        return f"({self.code}) {self.title or self.message or 'error'}" + (f": {details}" if details else "")


class MetaStatus(msgspec.Struct):
    id: str
    status: str
    timestamp: str | int | None = None
    recipient_id: str | None = None
    biz_opaque_callback_data: str | None = None
    errors: list[MetaError] = []
    pricing: dict[str, Any] | None = None

    @property
    def occurred_at(self) -> datetime | None:
        try:
            return datetime.fromtimestamp(int(self.timestamp), UTC) if self.timestamp is not None else None
        except (TypeError, ValueError, OverflowError):
            return None

    @property
    def dedupe_key(self) -> str:
        return f"whatsapp:{self.id}:{self.status}:{self.timestamp}"


class Metadata(msgspec.Struct):
    phone_number_id: str
    display_phone_number: str | None = None


class Value(msgspec.Struct):
    messaging_product: str | None = None
    metadata: Metadata | None = None
    statuses: list[MetaStatus] = []
    messages: list[dict[str, Any]] = []
    contacts: list[dict[str, Any]] = []


class Change(msgspec.Struct):
    field: str
    value: Value


class Entry(msgspec.Struct):
    id: str | None = None
    changes: list[Change] = []


class Notification(msgspec.Struct):
    object: str | None = None
    entry: list[Entry] = []


def decode(body: bytes) -> Notification:
    """Raises ``msgspec.DecodeError`` (a ``msgspec.MsgspecError``) when the body is not a notification."""
    return msgspec.json.decode(body, type=Notification)
