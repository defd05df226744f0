"""Plans as operators see them: the limits (:mod:`tenants.plans`) and the rate card, together.

``put_plan`` replaces a plan's limits, included messages and whole rate card in the caller's
transaction, with the rules ``switchboard plans set`` and ``switchboard billing price`` apply.
"""

from __future__ import annotations

from billing import rate_cards
from billing.schemas import PlanIn, PlanList, PlanPrice, PlanView
from kernel.db import Connection
from kernel.errors import FieldViolation, InvalidInput, NotFound, SwitchboardError
from tenants import plans as tenant_plans
from tenants.domain import Plan

__all__ = ["get_plan", "list_plans", "put_plan"]


async def list_plans(conn: Connection) -> PlanList:
    cards: dict[str, list[PlanPrice]] = {}
    included: dict[str, int] = {}
    currency: dict[str, str] = {}
    for row in await rate_cards.list_prices(conn):
        included[row["plan_id"]] = row["included_messages"]
        cards.setdefault(row["plan_id"], [])
        if row["channel"] is not None:
            cards[row["plan_id"]].append(PlanPrice(row["channel"], row["unit_price"], row["category"], row["country"]))
            currency[row["plan_id"]] = row["currency"]
    return PlanList(
        data=[
            PlanView(
                id=plan.id,
                rate_per_second=plan.rate_per_second,
                burst=plan.burst,
                monthly_messages=plan.monthly_messages,
                monthly_by_channel=plan.monthly_by_channel,
                max_batch=plan.max_batch,
                tier_policy=plan.tier_policy,
                included_messages=included.get(plan.id, 0),
                currency=currency.get(plan.id, "USD"),
                prices=cards.get(plan.id, []),
                tenants=tenants,
            )
            for plan, tenants in await tenant_plans.list_plans(conn)
        ]
    )


async def get_plan(conn: Connection, plan_id: str) -> PlanView:
    for plan in (await list_plans(conn)).data:
        if plan.id == plan_id:
            return plan
    raise NotFound(f"plan {plan_id} not found")


async def put_plan(conn: Connection, plan_id: str, data: PlanIn) -> PlanView:
    """Create or replace a plan (the caller's transaction makes it all or nothing)."""
    await tenant_plans.put_plan(
        conn,
        Plan(
            id=plan_id,
            rate_per_second=data.rate_per_second,
            burst=data.burst,
            monthly_messages=data.monthly_messages,
            monthly_by_channel=data.monthly_by_channel,
            max_batch=data.max_batch,
            tier_policy=data.tier_policy,
        ),
    )
    await conn.execute("DELETE FROM rate_cards WHERE plan_id = $1", plan_id)
    problems: list[FieldViolation] = []
    for i, row in enumerate(data.prices):
        try:
            await rate_cards.set_price(
                conn, plan_id, row.channel, row.category, row.country, row.unit_price, data.currency
            )
        except SwitchboardError as error:
            if not error.violations:
                raise
            problems.extend(
                FieldViolation(v.field if v.field == "currency" else f"prices.{i}.{v.field}", v.rule, v.description)
                for v in error.violations
            )
    try:
        await rate_cards.set_included(conn, plan_id, data.included_messages)
    except InvalidInput as error:
        problems.extend(FieldViolation("included_messages", v.rule, v.description) for v in error.violations)
    if problems:
        raise InvalidInput.many(problems)
    return await get_plan(conn, plan_id)
