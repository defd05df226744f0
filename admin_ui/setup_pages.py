"""What the tenant has set up: provider credentials (health and fingerprints, never secrets),
sender numbers, and templates."""

from __future__ import annotations

from litestar import Controller, get
from litestar.response import Template

from admin_ui.roles import Can
from admin_ui.web import AdminRequest, db, render, require_session, tenant_of
from kernel.db import unit_of_work
from kernel.errors import parse_id
from tenants import service as tenants

__all__ = ["SetupPages"]


class SetupPages(Controller):
    path = "/admin"
    guards = [require_session]
    include_in_schema = False
    opt = {"can": Can.SEE_SETUP}

    @get("/credentials")
    async def credentials(self, request: AdminRequest) -> Template:
        async with unit_of_work(db(request)) as conn:
            found = await tenants.list_credentials(conn, tenant_of(request))
        return render(request, "credentials.html", credentials=found.data)

    @get("/senders")
    async def senders(self, request: AdminRequest) -> Template:
        async with unit_of_work(db(request)) as conn:
            found = await tenants.list_senders(conn, tenant_of(request))
        return render(request, "senders.html", senders=found)

    @get("/templates")
    async def templates(self, request: AdminRequest) -> Template:
        async with unit_of_work(db(request)) as conn:
            found = await tenants.list_templates(conn, tenant_of(request))
        return render(request, "templates.html", templates=found)

    @get("/templates/{template_id:str}")
    async def template(self, request: AdminRequest, template_id: str) -> Template:
        async with unit_of_work(db(request)) as conn:
            found = await tenants.get_template(conn, tenant_of(request), parse_id(template_id, "template"))
        return render(request, "template.html", template=found)
