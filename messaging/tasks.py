"""Messaging actors (thin shells; the logic is in :mod:`messaging.delivery`)."""

from __future__ import annotations

from uuid import UUID

from kernel.worker import batch_task, resources
from messaging import delivery

__all__ = ["deliver"]


@batch_task("messaging.deliver", queue="messaging")
async def deliver(message_id: str, tenant_id: str, sender: str | None = None, to: str | None = None) -> None:
    # sender and to (present since migration 0009's release) let the send be paced before it is claimed.
    await delivery.deliver(resources(), UUID(tenant_id), UUID(message_id), sender=sender, to=to)
