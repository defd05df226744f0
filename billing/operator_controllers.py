"""REST adapter for operators: plans and their rate cards (an operator key, never a tenant's)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, put
from litestar.datastructures import State

from billing import plans
from billing.schemas import PlanIn, PlanList, PlanView
from edge.rest import pool, require_operator_key
from kernel.db import unit_of_work

__all__ = ["OperatorPlanController"]

AnyRequest = Request[Any, Any, State]


class OperatorPlanController(Controller):
    path = "/v1/operator/plans"
    tags = ["operator"]
    guards = [require_operator_key]
    security = [{"apiKey": []}]

    @get("/", summary="Every plan, with its rate card and how many tenants are on it")
    async def list_plans(self, request: AnyRequest) -> PlanList:
        """Operator key only."""
        async with pool(request).acquire() as conn:
            return await plans.list_plans(conn)

    @get("/{plan_id:str}", summary="One plan")
    async def get_plan(self, request: AnyRequest, plan_id: str) -> PlanView:
        """The plan's limits and rate card. Operator key only."""
        async with pool(request).acquire() as conn:
            return await plans.get_plan(conn, plan_id)

    @put(
        "/{plan_id:str}",
        summary="Create or replace a plan",
        description=(
            "Its limits (as `switchboard plans set`), included messages and whole rate card, all or nothing. "
            "Tenants on the plan see the change from their next request."
        ),
    )
    async def put_plan(self, request: AnyRequest, plan_id: str, data: PlanIn) -> PlanView:
        async with unit_of_work(pool(request)) as conn:
            return await plans.put_plan(conn, plan_id, data)
