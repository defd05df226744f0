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
from messaging import channels_repository
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


async def fall_back(
    conn: Connection, tenant_id: UUID, message_id: UUID, failed: str, reason: str, *, source: str
) -> str | None:
    """Start the channel after ``failed`` in the message's route, unless something already did or
    the message is delivered. Returns the channel started, or None."""
    message = await channels_repository.route_facts(conn, tenant_id, message_id)
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
        started = await channels_repository.start_channel(
            conn,
            tenant_id,
            message_id,
            channel=channel,
            position=position,
            status="skipped" if skip else "queued",
            recipient=recipient,
            reason=reason,
            skip=skip,
            message_status=message["status"],
            source=source,
            topic=topic,
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
    async with unit_of_work(pool) as conn:
        due = await channels_repository.due_timers(conn, limit)
        for timer in due:
            message = await channels_repository.current_channel(conn, timer["tenant_id"], timer["message_id"])
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
                await channels_repository.arm_timer(conn, timer["tenant_id"], timer["message_id"], after)
    return len(due)
