"""Messaging actors (thin shells; the logic is in :mod:`messaging.delivery`)."""

from __future__ import annotations

from uuid import UUID

from kernel.worker import batch_task, resources, task
from messaging import channel_delivery, delivery
from messaging.email import EmailSender
from messaging.sms import SmsSender

__all__ = ["deliver", "deliver_bulk", "deliver_email", "deliver_sms"]

BULK_PRIORITY = 100  # Dramatiq runs lower numbers first


@batch_task("messaging.deliver", queue="messaging")
async def deliver(message_id: str, tenant_id: str, sender: str | None = None, to: str | None = None) -> None:
    # sender and to (present since migration 0009's release) let the send be paced before it is claimed.
    await delivery.deliver(resources(), UUID(tenant_id), UUID(message_id), sender=sender, to=to)


# Bulk work has its own queue (its own consumer and prefetch in every worker), so a backlog of it
# never stands in front of transactional messages in Redis; and a lower priority, so a worker
# holding both runs the transactional first (Dramatiq orders work by priority only within a worker).
# Bulk items are counted in their tenant's in-flight ledger, which the relay reads to share
# dispatch fairly among tenants (kernel.inflight).
@batch_task("messaging.deliver_bulk", queue="messaging-bulk", priority=BULK_PRIORITY, in_flight="message_id")
async def deliver_bulk(message_id: str, tenant_id: str, sender: str | None = None, to: str | None = None) -> None:
    await delivery.deliver(resources(), UUID(tenant_id), UUID(message_id), sender=sender, to=to)


@task("messaging.deliver_sms", queue="messaging")
async def deliver_sms(message_id: str, tenant_id: str) -> None:
    """A message's SMS fallback (messaging.fallback starts it, at most once)."""
    await channel_delivery.deliver(resources(), SmsSender(), UUID(tenant_id), UUID(message_id))


@task("messaging.deliver_email", queue="messaging")
async def deliver_email(message_id: str, tenant_id: str) -> None:
    """A message's email fallback."""
    await channel_delivery.deliver(resources(), EmailSender(), UUID(tenant_id), UUID(message_id))
