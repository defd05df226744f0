"""Batch submission: up to the plan's ``max_batch`` messages in one call, each with its own result.

Each message goes through :func:`messaging.service.submit` exactly as a single send would (its own
validation, quota, budget and idempotency), so one bad message does not refuse the others: its
result carries the error, the rest are stored. With a batch ``Idempotency-Key``, message ``i``
uses ``<key>:<i>``, so retrying the whole batch replays each message instead of sending it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from kernel.db import Connection
from kernel.errors import InvalidInput, SwitchboardError
from messaging import service
from messaging.schemas import MessageView, SendMessage
from tenants.quotas import TenantQuota

__all__ = ["MAX_BATCH", "Item", "submit_batch"]

MAX_BATCH = 1000


@dataclass(frozen=True, slots=True)
class Item:
    index: int
    message: MessageView | None = None
    created: bool = False
    error: SwitchboardError | None = None


async def submit_batch(
    conn: Connection,
    tenant_id: UUID,
    requests: list[SendMessage],
    *,
    max_batch: int = MAX_BATCH,
    idempotency_key: str | None = None,
    idempotency_keys: list[str | None] | None = None,
    config_version: int | None = None,
    quota: TenantQuota | None = None,
    budget: int | None = None,
) -> list[Item]:
    """Submit each message; ``idempotency_keys`` (gRPC) gives each its own key instead."""
    if not requests:
        raise InvalidInput("messages", "empty", "give at least one message")
    limit = min(max_batch, MAX_BATCH)
    if len(requests) > limit:
        raise InvalidInput(
            "messages", "too_many", f"at most {limit} messages per batch on this plan, not {len(requests)}"
        )
    items = []
    for index, request in enumerate(requests):
        key = idempotency_keys[index] if idempotency_keys else None
        if idempotency_key is not None:
            key = f"{idempotency_key}:{index}"
        try:
            message, created = await service.submit(
                conn, tenant_id, request, key, config_version=config_version, quota=quota, budget=budget
            )
        except SwitchboardError as error:
            items.append(Item(index, error=error))
            continue
        items.append(Item(index, message=message, created=created))
    return items
