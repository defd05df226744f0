"""The relay's dispatcher: due partner webhook deliveries become outbox rows for the workers.

A due delivery is leased (its next attempt pushed :data:`LEASE` ahead) in the transaction that
writes its outbox row, so a delivery whose worker died is picked up again once the lease runs
out; a task that arrives after its delivery moved on does nothing (see the sender).
"""

from __future__ import annotations

from kernel.db import Pool, unit_of_work
from kernel.outbox import CHANNEL

__all__ = ["LEASE_SECONDS", "TOPIC", "dispatch_due"]

TOPIC = "webhooks.deliver_partner"
LEASE_SECONDS = 120  # well past the 15 s timeout and a busy queue's wait
BATCH = 1000

_LEASE = f"""
WITH due AS (
    SELECT id FROM webhook_deliveries
    WHERE status = 'pending' AND next_attempt_at <= now()
    ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED
), leased AS (
    UPDATE webhook_deliveries d SET next_attempt_at = now() + make_interval(secs => {LEASE_SECONDS})
    FROM due WHERE d.id = due.id
    RETURNING d.id, d.tenant_id, d.attempts
), o AS (
    INSERT INTO outbox (topic, payload, priority, tenant_id)
    SELECT '{TOPIC}', jsonb_build_object('delivery_id', id, 'attempt', attempts), 0, tenant_id FROM leased
)
SELECT count(*) FROM leased
"""


async def dispatch_due(pool: Pool, rounds: int = 10) -> int:
    """Lease every due delivery (up to ``rounds`` batches); how many."""
    total = 0
    for _ in range(rounds):
        async with unit_of_work(pool) as conn:
            count: int = await conn.fetchval(_LEASE, BATCH)
            if count:
                await conn.execute(f"SELECT pg_notify('{CHANNEL}', '')")
        total += count
        if count < BATCH:
            break
    return total
