"""Messaging actors (thin shells; the logic is in :mod:`messaging.delivery`)."""

from __future__ import annotations

from uuid import UUID

from kernel.worker import batch_task, resources
from messaging import delivery

__all__ = ["deliver"]


@batch_task("messaging.deliver", queue="messaging")
async def deliver(message_id: str, tenant_id: str) -> None:
    await delivery.deliver(resources(), UUID(tenant_id), UUID(message_id))
