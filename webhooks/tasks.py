"""Webhook actors (thin shells; the logic is in :mod:`webhooks.reconcile`)."""

from __future__ import annotations

from uuid import UUID

from kernel.worker import resources, task
from webhooks import reconcile as reconciliation

__all__ = ["reconcile"]


@task("webhooks.reconcile", queue="webhooks")
async def reconcile(raw_event_id: int, tenant_id: str) -> None:
    await reconciliation.reconcile(await resources().pool(), UUID(tenant_id), raw_event_id)
