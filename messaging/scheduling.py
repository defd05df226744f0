"""Scheduled messages (``send_at``) and cancellation.

A scheduled message is stored like any other (``queued``, with its audit event) but its delivery
outbox row waits in ``scheduled_messages``; the relay moves due rows to the outbox every second
(:func:`fire_due`), so a schedule survives any restart.

A message can be canceled while nothing of it may have reached the provider: it is ``queued`` and
no attempt is pending, accepted or of unknown outcome. Cancelling takes the next attempt number
for WhatsApp with a ``skipped`` attempt, so a worker that claims the message at the same moment
finds that number taken and sends nothing (the attempts' unique key decides the race). The message
becomes ``failed`` with reason ``canceled``, off the dead letters, audited with source ``api``.
"""

from __future__ import annotations

from uuid import UUID

from kernel.db import Connection, Pool, unit_of_work
from kernel.errors import FailedPrecondition, NotFound
from kernel.outbox import CHANNEL
from messaging.schemas import MessageView
from messaging.service import get_message

__all__ = ["cancel", "fire_due"]

_FIRE = f"""
WITH due AS (
    DELETE FROM scheduled_messages WHERE message_id IN (
        SELECT message_id FROM scheduled_messages WHERE due_at <= now()
        ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED)
    RETURNING tenant_id, topic, priority, payload
), o AS (
    INSERT INTO outbox (topic, payload, priority, tenant_id) SELECT topic, payload, priority, tenant_id FROM due
)
SELECT count(*) FROM due, pg_notify('{CHANNEL}', '')
"""


async def fire_due(pool: Pool, limit: int = 1000) -> int:
    """Publish every scheduled message that is due (the relay runs this every second)."""
    async with unit_of_work(pool) as conn:
        count: int = await conn.fetchval(_FIRE, limit)
    return count


_LOCK = """
SELECT m.status, a.attempt_number, a.state
FROM messages m
LEFT JOIN LATERAL (
    SELECT attempt_number, state FROM delivery_attempts
    WHERE message_id = m.id AND channel = 'whatsapp' ORDER BY attempt_number DESC LIMIT 1
) a ON true
WHERE m.tenant_id = $1 AND m.id = $2
FOR UPDATE OF m
"""

_CANCEL = """
WITH blocked AS (
    INSERT INTO delivery_attempts (tenant_id, message_id, channel, attempt_number, state, error_detail, finished_at)
    VALUES ($1, $2, 'whatsapp', $3, 'skipped', 'canceled', now())
    ON CONFLICT (message_id, channel, attempt_number) DO NOTHING
    RETURNING message_id
), u AS (
    UPDATE messages SET status = 'failed', error_reason = 'canceled', discarded_at = now(), updated_at = now()
    WHERE id IN (SELECT message_id FROM blocked)
    RETURNING id
), e AS (
    INSERT INTO message_events (tenant_id, message_id, reported_status, from_status, to_status, applied, outcome,
                                source, detail)
    SELECT $1, id, 'failed', 'queued', 'failed', true, 'canceled', 'api', 'canceled by the tenant' FROM u
), s AS (
    DELETE FROM scheduled_messages WHERE message_id IN (SELECT id FROM u)
), f AS (
    DELETE FROM fallback_timers WHERE message_id IN (SELECT id FROM u)
)
SELECT count(*) FROM u
"""

# Attempt states after which the provider may have the message.
_MAYBE_SENT = frozenset({"pending", "accepted", "ambiguous"})


async def cancel(conn: Connection, tenant_id: UUID, message_id: UUID) -> MessageView:
    async with conn.transaction():
        row = await conn.fetchrow(_LOCK, tenant_id, message_id)
        if row is None:
            raise NotFound(f"message {message_id} not found")
        if row["status"] != "queued" or row["state"] in _MAYBE_SENT:
            state = row["status"] if row["status"] != "queued" else "being sent"
            raise FailedPrecondition(
                f"only a message not yet sent can be canceled; this one is {state}", reason="NOT_CANCELABLE"
            )
        if not await conn.fetchval(_CANCEL, tenant_id, message_id, (row["attempt_number"] or 0) + 1):
            raise FailedPrecondition(
                "only a message not yet sent can be canceled; this one is being sent", reason="NOT_CANCELABLE"
            )
    return await get_message(conn, tenant_id, message_id)
