"""The dashboard: today's and this month's messages, the delivery rate, failures by reason, the
chart, and the health of the provider credentials."""

from __future__ import annotations

from litestar import Controller, get
from litestar.response import Redirect, Template
from markupsafe import Markup

from admin_ui.chart import volume_chart
from admin_ui.roles import GRANTS, Can, home_of
from admin_ui.web import AdminRequest, admin, db, render, require_session, tenant_of
from kernel.db import unit_of_work
from messaging import stats
from tenants import service as tenants

__all__ = ["DashboardPages"]


class DashboardPages(Controller):
    path = "/admin"
    guards = [require_session]
    include_in_schema = False

    @get("/")
    async def dashboard(self, request: AdminRequest) -> Template | Redirect:
        role = admin(request).role
        if Can.SEE_DASHBOARD not in GRANTS[role]:
            # The console's root is every role's way in; it leads where the role may look.
            return Redirect(home_of(role), status_code=303)
        tenant_id = tenant_of(request)
        async with unit_of_work(db(request)) as conn:
            overview = await stats.overview(conn, tenant_id)
            credentials = (await tenants.list_credentials(conn, tenant_id)).data
        return render(
            request,
            "dashboard.html",
            overview=overview,
            # Built from numbers and dates only (chart.py escapes its one text label).
            chart=Markup(volume_chart(overview.days)),  # noqa: S704
            credentials=credentials,
        )
