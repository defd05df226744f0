"""A tenant's default fallback route: the channel order and ``fallback_after`` that apply to its
messages that carry fallback content but do not say these themselves.

A message's own ``channels`` and ``fallback_after`` win. The policy's order may name channels a
message has no content for: those are simply not on that message's route.
"""

from __future__ import annotations

from uuid import UUID

import msgspec

from kernel.db import Connection
from kernel.errors import InvalidInput, NotFound
from messaging.schemas import RoutingPolicy, SendMessage
from messaging.validation import fallback_after_problems, order_problems
from tenants import repository as tenants_repository

__all__ = ["apply", "get_policy", "needs_policy", "set_policy"]


async def get_policy(conn: Connection, tenant_id: UUID) -> RoutingPolicy:
    stored = await tenants_repository.routing_policy(conn, tenant_id)
    if stored is None:
        raise NotFound(f"tenant {tenant_id} not found")
    return msgspec.convert(stored, RoutingPolicy)


async def set_policy(conn: Connection, tenant_id: UUID, policy: RoutingPolicy) -> RoutingPolicy:
    problems = []
    if policy.channels is not None:
        problems.extend(order_problems(list(policy.channels)))
    if policy.fallback_after is not None:
        problems.extend(fallback_after_problems(policy.fallback_after))
    if problems:
        raise InvalidInput.many(problems)
    stored = {k: v for k, v in msgspec.to_builtins(policy).items() if v is not None}
    if not await tenants_repository.set_routing_policy(conn, tenant_id, stored):
        raise NotFound(f"tenant {tenant_id} not found")
    return policy


def needs_policy(request: SendMessage) -> bool:
    """Whether the tenant's policy fills anything in: fallback content, and an order or a delay unsaid."""
    fallback = request.fallback
    if fallback is None or not (fallback.sms or fallback.email):
        return False
    return request.channels is None or request.fallback_after is None


async def apply(
    conn: Connection, tenant_id: UUID, request: SendMessage, policy: RoutingPolicy | None = None
) -> SendMessage:
    """The request with the tenant's defaults filled in where it has fallback content and is silent
    (``policy``: the tenant's, when the caller has already read it)."""
    if not needs_policy(request):
        return request
    if policy is None:
        policy = await get_policy(conn, tenant_id)
    return msgspec.structs.replace(
        request,
        channels=request.channels if request.channels is not None else policy.channels,
        fallback_after=request.fallback_after if request.fallback_after is not None else policy.fallback_after,
    )
