"""Fallback: when a channel cannot deliver, the next one in the message's route takes over, once.

A message's route is WhatsApp, then each channel it has fallback content for, in the order
WhatsApp → SMS → email. When a channel fails for good (a failure that another channel may fix, or
its retries used up), :func:`fall_back` starts the channel after it: it inserts that channel's row
in ``message_channels`` and, only if the insert happened, the outbox row that delivers it.

The table's primary key (message, channel) is the exactly-once guarantee: a synchronous error, a
``failed`` status webhook and a timer may all fire for the same failure, in any order and at the
same time, and one of them starts the next channel; the others find it there and do nothing. A
message already delivered (on any channel) starts nothing more.

A channel that cannot be used (no recipient for it, no content, no credential, the recipient
opted out) is recorded as ``skipped`` with the reason, and the route moves past it.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from kernel.db import Connection, Pool, unit_of_work
from kernel.outbox import CHANNEL as OUTBOX_CHANNEL
from messaging.states import Status

__all__ = ["EMAIL_TOPIC", "ORDER", "SMS_TOPIC", "fall_back", "fire_due_timers", "route"]

log = logging.getLogger("switchboard.fallback")

ORDER = ("whatsapp", "sms", "email")
SMS_TOPIC = "messaging.deliver_sms"
EMAIL_TOPIC = "messaging.deliver_email"
_TOPICS = {"sms": SMS_TOPIC, "email": EMAIL_TOPIC}
_DONE = frozenset({Status.DELIVERED, Status.READ})


def route(content: dict[str, Any]) -> list[str]:
    """The channels a message may use, in order: its ``channels`` if it gave them, else WhatsApp
    then those it has fallback content for."""
    fallback = content.get("fallback") or {}
    order = content.get("channels") or ORDER
    return [c for c in order if c == "whatsapp" or fallback.get(c)]


def _recipient(channel: str, message: Any) -> str | None:
    if channel == "email":
        email: dict[str, Any] = message["content"]["fallback"]["email"]
        return email.get("to")
    return str(message["to_number"])


# The next channel's row and, when this call is the one that created it, its delivery outbox row
# (transactional: someone is waiting for this message) and its audit event, in one statement.
_START = f"""
WITH c AS (
    INSERT INTO message_channels (message_id, channel, tenant_id, position, status, recipient, reason, detail)
    VALUES ($2, $3, $1, $4, $5, $6, $7, $8)
    ON CONFLICT (message_id, channel) DO NOTHING
    RETURNING message_id, channel, status
), e AS (
    INSERT INTO message_events (tenant_id, message_id, reported_status, from_status, to_status, applied, outcome,
                                source, detail)
    SELECT $1, message_id, $9, $9, $9, false, 'fallback', $10,
           CASE WHEN status = 'skipped' THEN 'skipped ' || channel || ': ' || $8
                ELSE 'falling back to ' || channel || ': ' || $7 END
    FROM c
), o AS (
    INSERT INTO outbox (topic, payload, priority, tenant_id)
    SELECT $11::text, jsonb_build_object('message_id', message_id, 'tenant_id', $1::uuid), 0, $1
    FROM c WHERE status = 'queued' AND $11::text IS NOT NULL
)
SELECT count(*) FROM c, pg_notify('{OUTBOX_CHANNEL}', '')
"""


async def fall_back(
    conn: Connection, tenant_id: UUID, message_id: UUID, failed: str, reason: str, *, source: str
) -> str | None:
    """Start the channel after ``failed`` in the message's route, unless something already did or
    the message is delivered. Returns the channel started, or None."""
    message = await conn.fetchrow(
        "SELECT status, content, to_number FROM messages WHERE tenant_id = $1 AND id = $2", tenant_id, message_id
    )
    if message is None or message["status"] in _DONE:
        return None
    channels = route(message["content"])
    if failed not in channels:
        return None
    for position, channel in enumerate(channels[channels.index(failed) + 1 :], start=channels.index(failed) + 1):
        recipient = _recipient(channel, message)
        topic = _TOPICS.get(channel)
        skip = None
        if topic is None:
            skip = f"{channel} delivery is not available"
        elif not recipient:
            skip = f"no {channel} recipient"
        started = await conn.fetchval(
            _START,
            tenant_id,
            message_id,
            channel,
            position,
            "skipped" if skip else "queued",
            recipient,
            reason,
            skip,
            message["status"],
            source,
            topic,
        )
        if not started:
            return None  # another trigger took this step (and, if it was a skip, the ones after it)
        if skip is None:
            log.info("falling back", extra={"fields": {"channel": channel, "reason": reason}})
            return channel
    return None


async def fire_due_timers(pool: Pool, limit: int = 500) -> int:
    """``fallback_after``: each due timer moves its undelivered message on from the channel it is
    on now (the last one started) to the next, and is set again for the step after that. A
    delivered message's timer just goes. Returns how many timers fired."""
    from messaging import repository

    async with unit_of_work(pool) as conn:
        due = await repository.due_timers(conn, limit)
        for timer in due:
            message = await conn.fetchrow(
                "SELECT m.content, coalesce((SELECT channel FROM message_channels c WHERE c.message_id = m.id "
                "ORDER BY position DESC LIMIT 1), 'whatsapp') AS current FROM messages m "
                "WHERE m.tenant_id = $1 AND m.id = $2",
                timer["tenant_id"],
                timer["message_id"],
            )
            if message is None:
                continue
            after = int(message["content"].get("fallback_after") or 0)
            started = await fall_back(
                conn,
                timer["tenant_id"],
                timer["message_id"],
                message["current"],
                f"not delivered within {after} s",
                source="timer",
            )
            channels = route(message["content"])
            if started is not None and channels.index(started) + 1 < len(channels):
                await conn.execute(
                    "INSERT INTO fallback_timers (message_id, tenant_id, due_at) "
                    "VALUES ($1, $2, now() + make_interval(secs => $3::int)) ON CONFLICT DO NOTHING",
                    timer["message_id"],
                    timer["tenant_id"],
                    after,
                )
    return len(due)
