"""The platform operator's pages: every tenant, suspending and reactivating one, system health."""

from __future__ import annotations

import time

from litestar import Controller, get, post
from litestar.response import Redirect, Template

from admin_ui.roles import Can
from admin_ui.web import AdminRequest, db, render, require_session
from kernel import outbox
from kernel.db import unit_of_work
from kernel.errors import parse_id
from messaging import dead_letters
from tenants import service as tenants

__all__ = ["OperatorPages"]


class OperatorPages(Controller):
    path = "/admin/operator"
    guards = [require_session]
    include_in_schema = False
    opt = {"can": Can.OPERATE}

    @get("/tenants")
    async def tenants_page(self, request: AdminRequest) -> Template:
        async with unit_of_work(db(request)) as conn:
            found = await tenants.list_tenants(conn)
        return render(request, "operator_tenants.html", tenants=found, notice=request.query_params.get("notice"))

    @post("/tenants/{tenant_id:str}/suspend", status_code=303)
    async def suspend(self, request: AdminRequest, tenant_id: str) -> Redirect:
        return await self._set(request, tenant_id, tenants.SUSPENDED)

    @post("/tenants/{tenant_id:str}/reactivate", status_code=303)
    async def reactivate(self, request: AdminRequest, tenant_id: str) -> Redirect:
        return await self._set(request, tenant_id, tenants.ACTIVE)

    async def _set(self, request: AdminRequest, tenant_id: str, status: str) -> Redirect:
        ident = parse_id(tenant_id, "tenant")
        async with unit_of_work(db(request)) as conn:
            await tenants.set_tenant_status(conn, ident, status)
        return Redirect("/admin/operator/tenants", status_code=303, query_params={"notice": f"{ident} is {status}"})

    @get("/health")
    async def health(self, request: AdminRequest) -> Template:
        checks: list[tuple[str, bool, str]] = []
        started = time.perf_counter()
        async with unit_of_work(db(request)) as conn:
            backlog = await outbox.backlog(conn)
            dead = await dead_letters.count_all_tenants(conn)
        checks.append(("PostgreSQL", True, f"answered in {1000 * (time.perf_counter() - started):.1f} ms"))
        try:
            started = time.perf_counter()
            await request.app.state.redis.ping()
            checks.append(("Redis", True, f"answered in {1000 * (time.perf_counter() - started):.1f} ms"))
        except Exception as error:
            checks.append(("Redis", False, type(error).__name__))
        return render(request, "operator_health.html", checks=checks, backlog=backlog, dead=dead)
