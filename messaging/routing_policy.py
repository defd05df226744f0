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

__all__ = ["apply", "get_policy", "set_policy"]


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


async def apply(conn: Connection, tenant_id: UUID, request: SendMessage) -> SendMessage:
    """The request with the tenant's defaults filled in where it has fallback content and is silent."""
    fallback = request.fallback
    if fallback is None or not (fallback.sms or fallback.email):
        return request
    if request.channels is not None and request.fallback_after is not None:
        return request
    policy = await get_policy(conn, tenant_id)
    return msgspec.structs.replace(
        request,
        channels=request.channels if request.channels is not None else policy.channels,
        fallback_after=request.fallback_after if request.fallback_after is not None else policy.fallback_after,
    )
