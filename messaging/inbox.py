"""Inbound messages (customers writing to a tenant's numbers) and the conversations they open.

The reconciler hands over provider-neutral :class:`Inbound` values; each provider message is stored
once per tenant however often it is delivered, and each new one opens (or extends) the 24-hour
customer service window for its (sender, contact) pair.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from kernel.db import Connection
from kernel.pagination import decode_cursor, page
from messaging import inbox_repository as repository
from messaging.schemas import ConversationList, ConversationView, InboundMessageList, InboundMessageView

__all__ = ["WINDOW", "Inbound", "inbound_view", "list_conversations", "list_inbound", "record", "window_open"]

# Meta's customer service window: free-form messages only within 24 h of the last inbound message.
WINDOW = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Inbound:
    sender_id: UUID
    provider_message_id: str
    from_number: str  # E.164
    type: str
    occurred_at: datetime
    payload: dict[str, Any] = field(repr=False)
    text: str | None = None
    media_id: str | None = None
    reply_to: str | None = None
    profile_name: str | None = None
    wa_id: str | None = None
    raw_event_id: int | None = None


async def record(conn: Connection, tenant_id: UUID, messages: list[Inbound]) -> int:
    """Store what is new; returns how many were new. Duplicates (in this list or stored earlier)
    change nothing."""
    unique = {m.provider_message_id: m for m in messages}
    rows = [
        (
            uuid.uuid4(),
            m.sender_id,
            m.provider_message_id,
            m.from_number,
            m.type,
            m.text,
            m.media_id,
            m.reply_to,
            msgspec.json.encode(m.payload).decode(),
            m.occurred_at,
            m.raw_event_id,
            m.profile_name,
            m.wa_id,
        )
        for m in unique.values()
    ]
    return await repository.insert_inbound(conn, tenant_id, rows)


def inbound_view(r: asyncpg.Record) -> InboundMessageView:
    """An inbound_messages row, with its sender's phone_number_id as ``sender``."""
    return InboundMessageView(
        id=r["id"],
        sender=r["sender"],
        from_=r["from_number"],
        type=r["type"],
        text=r["text"],
        media_id=r["media_id"],
        reply_to=r["reply_to"],
        provider_message_id=r["provider_message_id"],
        payload=r["payload"],
        occurred_at=r["occurred_at"],
        received_at=r["received_at"],
    )


async def list_inbound(
    conn: Connection,
    tenant_id: UUID,
    *,
    from_number: str | None = None,
    since: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> InboundMessageList:
    before = None
    if cursor:
        at, (ident,) = decode_cursor(cursor, UUID)
        before = (at, ident)
    rows = await repository.list_inbound(
        conn, tenant_id, from_number=from_number, since=since, before=before, limit=limit + 1
    )
    shown, next_cursor = page(rows, limit, lambda r: (r["occurred_at"], r["id"]))
    return InboundMessageList(data=[inbound_view(r) for r in shown], next_cursor=next_cursor)


async def list_conversations(
    conn: Connection, tenant_id: UUID, *, cursor: str | None = None, limit: int = 50, now: datetime | None = None
) -> ConversationList:
    before = None
    if cursor:
        at, (sender_id, contact) = decode_cursor(cursor, UUID, str)
        before = (at, sender_id, contact)
    rows = await repository.list_conversations(conn, tenant_id, before=before, limit=limit + 1)
    shown, next_cursor = page(rows, limit, lambda r: (r["last_inbound_at"], r["sender_id"], r["contact"]))
    now = now or datetime.now(UTC)
    return ConversationList(
        data=[
            ConversationView(
                sender=r["sender"],
                contact=r["contact"],
                profile_name=r["profile_name"],
                first_inbound_at=r["first_inbound_at"],
                last_inbound_at=r["last_inbound_at"],
                inbound_count=r["inbound_count"],
                window_open=now < r["last_inbound_at"] + WINDOW,
                window_expires_at=r["last_inbound_at"] + WINDOW,
            )
            for r in shown
        ],
        next_cursor=next_cursor,
    )


async def window_open(
    conn: Connection, tenant_id: UUID, sender_id: UUID, contact: str, now: datetime | None = None
) -> bool:
    """Whether a free-form message from ``sender_id`` to ``contact`` is allowed now."""
    last = await repository.window(conn, tenant_id, sender_id, contact)
    return last is not None and (now or datetime.now(UTC)) < last + WINDOW
