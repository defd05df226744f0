"""Plans: a tenant's submission rate, burst, monthly quotas and batch size (operator use cases).

A change applies from the next request in every process: authentication reads the plan in the
query it already makes (see tenants.repository.find_api_key_by_prefix).
"""

from __future__ import annotations

import re
from uuid import UUID

import asyncpg

from kernel.db import Connection
from kernel.errors import FieldViolation, InvalidInput, NotFound
from tenants import repository
from tenants.domain import Plan

__all__ = ["CHANNELS", "assign", "list_plans", "plan_from_row", "put_plan"]

CHANNELS = ("whatsapp", "sms", "email")
_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


def plan_from_row(row: asyncpg.Record, id_column: str = "id") -> Plan:
    return Plan(
        id=row[id_column],
        rate_per_second=row["rate_per_second"],
        burst=row["burst"],
        monthly_messages=row["monthly_messages"],
        monthly_by_channel=row["monthly_by_channel"],
        max_batch=row["max_batch"],
        tier_policy=row["tier_policy"],
    )


async def put_plan(conn: Connection, plan: Plan) -> Plan:
    """Create or change a plan."""
    problems = []
    if not _ID.fullmatch(plan.id):
        problems.append(FieldViolation("id", "format", "lowercase letters, digits, - and _; at most 63"))
    if not 0 < plan.rate_per_second <= 100_000:
        problems.append(FieldViolation("rate_per_second", "range", "above 0 and at most 100000"))
    if not 1 <= plan.burst <= 1_000_000:
        problems.append(FieldViolation("burst", "range", "between 1 and 1000000"))
    if plan.monthly_messages is not None and plan.monthly_messages < 0:
        problems.append(FieldViolation("monthly_messages", "range", "0 or more (omit for unlimited)"))
    for channel, limit in plan.monthly_by_channel.items():
        if channel not in CHANNELS or limit < 0:
            problems.append(
                FieldViolation(f"monthly_by_channel.{channel}", "range", f"one of {', '.join(CHANNELS)}, 0 or more")
            )
    if plan.tier_policy not in ("wait", "fail"):
        problems.append(FieldViolation("tier_policy", "enum", "wait or fail"))
    if not 1 <= plan.max_batch <= 10_000:
        problems.append(FieldViolation("max_batch", "range", "between 1 and 10000"))
    if problems:
        raise InvalidInput.many(problems)
    row = await repository.upsert_plan(conn, plan)
    return plan_from_row(row)


async def list_plans(conn: Connection) -> list[tuple[Plan, int]]:
    """Every plan with how many tenants are on it."""
    return [(plan_from_row(row), row["tenants"]) for row in await repository.list_plans(conn)]


async def assign(conn: Connection, tenant_id: UUID, plan_id: str) -> None:
    if plan_id not in {plan.id for plan, _ in await list_plans(conn)}:
        raise InvalidInput("plan", "unknown_plan", f"no plan {plan_id!r}")
    if not await repository.set_tenant_plan(conn, tenant_id, plan_id):
        raise NotFound(f"tenant {tenant_id} not found")
