"""Webhook actors (thin shells; the logic is in :mod:`webhooks.reconcile`)."""

from __future__ import annotations

from uuid import UUID

import dramatiq

from kernel.worker import batch_task, resources
from webhooks import reconcile as reconciliation

__all__ = ["reconcile"]


@batch_task("webhooks.reconcile", queue="webhooks", max_batch=50)
async def reconcile(raw_event_id: int, tenant_id: str) -> None:
    done = await reconciliation.reconcile(await resources().pool(), UUID(tenant_id), raw_event_id)
    if done.retry_in is not None:
        # Some status names a message we do not know yet: its send may still be committing.
        raise dramatiq.Retry(delay=int(done.retry_in.total_seconds() * 1000))
