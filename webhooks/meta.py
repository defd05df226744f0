"""Meta webhook notification shapes, decoded tolerantly (unknown fields are ignored).

pywa dispatches only ``statuses[0]`` of the first change of a batched notification, so we decode
every ``entry[].changes[].value.statuses[]`` ourselves.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec

from messaging.inbox import Inbound

__all__ = ["MetaStatus", "Notification", "decode", "inbound"]


class MetaError(msgspec.Struct):
    code: int | None = None
    title: str | None = None
    message: str | None = None
    error_data: dict[str, Any] | None = None

    def describe(self) -> str:
        details = (self.error_data or {}).get("details")
        return f"({self.code}) {self.title or self.message or 'error'}" + (f": {details}" if details else "")


def _timestamp(value: str | int | None) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), UTC) if value is not None else None
    except (TypeError, ValueError, OverflowError):
        return None


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
        return _timestamp(self.timestamp)

    @property
    def dedupe_key(self) -> str:
        return f"whatsapp:{self.id}:{self.status}:{self.timestamp}"


class Metadata(msgspec.Struct):
    phone_number_id: str
    display_phone_number: str | None = None


class Profile(msgspec.Struct):
    name: str | None = None


class Contact(msgspec.Struct):
    wa_id: str | None = None
    profile: Profile | None = None


class Value(msgspec.Struct):
    # field "message_template_status_update"
    event: str | None = None
    message_template_id: int | str | None = None
    message_template_name: str | None = None
    message_template_language: str | None = None
    reason: str | None = None
    # field "phone_number_quality_update" (event is shared with the template field)
    display_phone_number: str | None = None
    current_limit: str | None = None
    # field "messages"
    messaging_product: str | None = None
    metadata: Metadata | None = None
    statuses: list[MetaStatus] = []
    # Kept as received: each is stored whole (its payload) beside the fields read from it.
    messages: list[dict[str, Any]] = []
    contacts: list[Contact] = []


class Change(msgspec.Struct):
    field: str
    value: Value


class Entry(msgspec.Struct):
    id: str | None = None  # the WhatsApp Business Account
    time: int | None = None
    changes: list[Change] = []


class Notification(msgspec.Struct):
    object: str | None = None
    entry: list[Entry] = []


def decode(body: bytes) -> Notification:
    """Raises ``msgspec.DecodeError`` (a ``msgspec.MsgspecError``) when the body is not a notification."""
    return msgspec.json.decode(body, type=Notification)


_MEDIA = ("image", "audio", "video", "document", "sticker")


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(kind: str, m: dict[str, Any]) -> str | None:
    """What reads as the message's text, by type (Meta's shapes)."""
    body = _object(m.get(kind))
    if kind == "text":
        return body.get("body")
    if kind in _MEDIA:
        return body.get("caption")
    if kind == "interactive":
        reply = body.get("button_reply") or body.get("list_reply") or body.get("nfm_reply") or {}
        return reply.get("title") or reply.get("body")
    if kind == "button":
        return body.get("text")
    if kind == "reaction":
        return body.get("emoji")
    if kind == "location":
        return body.get("name") or body.get("address")
    if kind == "contacts":
        people = m.get("contacts") or []
        return ", ".join(p.get("name", {}).get("formatted_name", "") for p in people if isinstance(p, dict)) or None
    return None


def inbound(value: Value, sender_id: UUID, raw_event_id: int | None) -> list[Inbound]:
    """The customer messages in one change, provider-neutral. Malformed entries (no id or sender)
    are skipped; anything of a type we do not read is kept with its payload."""
    names = {c.wa_id: c.profile.name if c.profile else None for c in value.contacts}
    found: list[Inbound] = []
    for m in value.messages:
        provider_id, sender = m.get("id"), m.get("from")
        if not isinstance(provider_id, str) or not isinstance(sender, str) or not sender:
            continue
        kind = str(m.get("type") or "unknown")
        body = _object(m.get(kind))
        context = _object(m.get("context"))
        found.append(
            Inbound(
                sender_id=sender_id,
                provider_message_id=provider_id,
                from_number=sender if sender.startswith("+") else "+" + sender,
                type=kind,
                occurred_at=_timestamp(m.get("timestamp")) or datetime.now(UTC),
                payload=m,
                text=_text(kind, m),
                media_id=body.get("id") if kind in _MEDIA else None,
                reply_to=body.get("message_id") if kind == "reaction" else context.get("id"),
                profile_name=names.get(sender),
                wa_id=sender,
                raw_event_id=raw_event_id,
            )
        )
    return found
