"""The tenant's event stream (gRPC ``WatchMessageEvents``): every message event and inbound message,
resumable from a cursor without gaps or duplicates.

Rows are read in (writing transaction, id) order and only from transactions older than the current
snapshot's xmin (migration 0029): every such transaction has ended, so no row can later appear
before the cursor. A row written a moment ago waits until its transaction and every older one have
ended, usually milliseconds; a transaction left open elsewhere in the database holds the stream
back until it ends.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from uuid import UUID

import msgspec

from kernel.db import Connection, Pool
from kernel.errors import InvalidInput
from messaging.inbox import inbound_view
from messaging.schemas import EventView, InboundMessageView

__all__ = ["Cursor", "Page", "decode", "encode", "read", "start"]

_NIL = UUID(int=0)
_STABLE = "(pg_snapshot_xmin(pg_current_snapshot())::text)::bigint"

_EVENTS = f"""
SELECT id, message_id, reported_status, from_status, to_status, applied, outcome, source, detail, error_code,
       raw_event_id, occurred_at, recorded_at, xact_id
FROM message_events
WHERE tenant_id = $1 AND (xact_id, id) > ($2, $3) AND xact_id < {_STABLE}
ORDER BY xact_id, id LIMIT $4
"""

_INBOUND = f"""
SELECT i.id, s.phone_number_id AS sender, i.from_number, i.type, i.text, i.media_id, i.reply_to,
       i.provider_message_id, i.payload, i.occurred_at, i.received_at, i.xact_id
FROM inbound_messages i JOIN senders s ON s.id = i.sender_id
WHERE i.tenant_id = $1 AND (i.xact_id, i.id) > ($2, $3::uuid) AND i.xact_id < {_STABLE}
ORDER BY i.xact_id, i.id LIMIT $4
"""


@dataclass(frozen=True, slots=True)
class Cursor:
    event_xact: int
    event_id: int
    inbound_xact: int
    inbound_id: UUID


@dataclass(frozen=True, slots=True)
class Page:
    # Each item with the cursor that resumes right after it.
    items: list[tuple[EventView | InboundMessageView, Cursor]]
    cursor: Cursor


def encode(cursor: Cursor) -> str:
    raw = msgspec.json.encode([cursor.event_xact, cursor.event_id, cursor.inbound_xact, str(cursor.inbound_id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        event_xact, event_id, inbound_xact, inbound_id = msgspec.json.decode(raw, type=tuple[int, int, int, str])
        return Cursor(event_xact, event_id, inbound_xact, UUID(inbound_id))
    except (binascii.Error, msgspec.DecodeError, msgspec.ValidationError, ValueError):
        raise InvalidInput("cursor", "cursor", "not a cursor this stream gave") from None


async def start(pool: Pool | Connection) -> Cursor:
    """A cursor at "now": what is written from here on."""
    xmin: int = await pool.fetchval(f"SELECT {_STABLE}")
    return Cursor(xmin, 0, xmin, _NIL)


async def read(conn: Connection, tenant_id: UUID, cursor: Cursor, limit: int = 500) -> Page:
    events = await conn.fetch(_EVENTS, tenant_id, cursor.event_xact, cursor.event_id, limit)
    inbound = await conn.fetch(_INBOUND, tenant_id, cursor.inbound_xact, cursor.inbound_id, limit)
    items: list[tuple[EventView | InboundMessageView, Cursor]] = []
    for r in events:
        cursor = Cursor(r["xact_id"], r["id"], cursor.inbound_xact, cursor.inbound_id)
        fields = {k: r[k] for k in r.keys() if k != "xact_id"}  # noqa: SIM118 - a Record
        items.append((EventView(**fields), cursor))
    for r in inbound:
        cursor = Cursor(cursor.event_xact, cursor.event_id, r["xact_id"], r["id"])
        items.append((inbound_view(r), cursor))
    return Page(items, cursor)
