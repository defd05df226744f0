"""Webhook actors (thin shells; the logic is in :mod:`webhooks.reconcile`)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from kernel.worker import bulk_task, resources
from webhooks import reconcile as reconciliation

__all__ = ["reconcile"]


@bulk_task("webhooks.reconcile", queue="webhooks", max_batch=100)
async def reconcile(items: list[dict[str, Any]]) -> dict[int, int]:
    """Items are ``{"raw_event_id": ..., "tenant_id": ...}`` (the outbox payload)."""
    keys = [(UUID(item["tenant_id"]), int(item["raw_event_id"])) for item in items]
    done = await reconciliation.reconcile_batch(await resources().pool(), keys)
    # Statuses that name a message we do not know yet: its send may still be committing.
    return {
        index: int(result.retry_in.total_seconds() * 1000)
        for index, (_, raw_event_id) in enumerate(keys)
        if (result := done.get(raw_event_id)) is not None and result.retry_in is not None
    }
