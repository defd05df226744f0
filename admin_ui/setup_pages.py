"""What the tenant has set up: provider credentials (health and fingerprints, never secrets),
sender numbers, and templates."""

from __future__ import annotations

import re
from typing import Annotated

import httpx
import msgspec
from litestar import Controller, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from admin_ui.roles import Can
from admin_ui.web import AdminRequest, db, render, require_session, tenant_of
from kernel.db import unit_of_work
from kernel.errors import InvalidInput, SwitchboardError, parse_id, schema_violation
from tenants import service as tenants
from tenants import templates
from tenants.connection_check import check_credential
from tenants.schemas import NewCredential, NewTemplate

__all__ = ["SetupPages"]

_NAME = re.compile(r"^[a-z0-9_]{1,512}$")


def _reason(error: Exception) -> str:
    return error.detail if isinstance(error, SwitchboardError) else f"could not reach Meta ({type(error).__name__})"


class TemplateForm(msgspec.Struct):
    """The console's simple template form: an optional text header, the body and an optional
    footer (richer templates go through the API's full component list)."""

    name: str = ""
    language: str = "en_US"
    category: str = "UTILITY"
    header: str = ""
    body: str = ""
    footer: str = ""

    def to_new_template(self) -> NewTemplate:
        if not _NAME.match(self.name):
            raise InvalidInput("name", "pattern", "lowercase letters, digits and underscores")
        if not self.body.strip():
            raise InvalidInput("body", "required", "the body text is required")
        components: list[dict[str, object]] = []
        if self.header.strip():
            components.append({"type": "HEADER", "format": "TEXT", "text": self.header.strip()})
        components.append({"type": "BODY", "text": self.body.strip()})
        if self.footer.strip():
            components.append({"type": "FOOTER", "text": self.footer.strip()})
        try:
            return msgspec.convert(
                {"name": self.name, "language": self.language, "category": self.category, "components": components},
                NewTemplate,
            )
        except msgspec.ValidationError as error:
            raise InvalidInput("category", "enum", str(error)) from None


class SetupPages(Controller):
    path = "/admin"
    guards = [require_session]
    include_in_schema = False
    opt = {"can": Can.SEE_SETUP}

    @get("/credentials")
    async def credentials(self, request: AdminRequest) -> Template:
        return await self._credentials(request, notice=request.query_params.get("notice"))

    async def _credentials(self, request: AdminRequest, status_code: int = 200, **context: object) -> Template:
        async with unit_of_work(db(request)) as conn:
            found = await tenants.list_credentials(conn, tenant_of(request))
        return render(request, "credentials.html", status_code=status_code, credentials=found.data, **context)

    @post("/credentials", opt={"can": Can.MANAGE_SETUP}, status_code=303)
    async def add_credential(self, request: AdminRequest) -> Template | Redirect:
        # Only filled fields are kept, so an optional secret left blank is absent, not empty.
        form = {k: v for k, v in (await request.form()).items() if k != "_csrf_token" and str(v).strip()}
        if "port" in form:
            form["port"] = int(form["port"]) if str(form["port"]).isdigit() else form["port"]
        try:
            new = msgspec.convert(form, NewCredential)
            async with unit_of_work(db(request)) as conn:
                added = await tenants.add_credential(conn, request.app.state.vault, tenant_of(request), new)
        except msgspec.ValidationError as error:
            violation = schema_violation(str(error))
            return await self._credentials(request, 422, error=f"{violation.field}: {violation.description}")
        except InvalidInput as invalid:
            return await self._credentials(request, 422, error=invalid.detail)
        notice = f"{added.kind} credential {added.name or added.id} added"
        return Redirect("/admin/credentials", status_code=303, query_params={"notice": notice})

    @post("/credentials/{credential_id:str}/test", opt={"can": Can.MANAGE_SETUP}, status_code=200)
    async def test_credential(self, request: AdminRequest, credential_id: str) -> Template:
        ident = parse_id(credential_id, "credential")
        async with db(request).acquire() as conn:
            result = await check_credential(
                conn, request.app.state.vault, tenant_of(request), ident, **request.app.state.provider_urls
            )
        return await self._credentials(request, checked=ident, check=result)

    @get("/senders")
    async def senders(self, request: AdminRequest) -> Template:
        async with unit_of_work(db(request)) as conn:
            found = await tenants.list_senders(conn, tenant_of(request))
        return render(request, "senders.html", senders=found)

    @get("/templates")
    async def templates(self, request: AdminRequest) -> Template:
        return await self._templates(request, notice=request.query_params.get("notice"))

    async def _templates(self, request: AdminRequest, status_code: int = 200, **context: object) -> Template:
        async with unit_of_work(db(request)) as conn:
            found = await tenants.list_templates(conn, tenant_of(request))
        return render(request, "templates.html", status_code=status_code, templates=found, **context)

    @post("/templates/sync", opt={"can": Can.MANAGE_SETUP}, status_code=303)
    async def sync(self, request: AdminRequest) -> Template | Redirect:
        try:
            done = await templates.sync_templates(
                db(request), request.app.state.vault, request.app.state.graph_templates, tenant_of(request)
            )
        except (SwitchboardError, httpx.HTTPError) as error:
            return await self._templates(request, 502, error=f"Meta refused the sync: {_reason(error)}")
        notice = f"synced: {done.listed} templates listed by Meta, {done.retired} no longer there"
        return Redirect("/admin/templates", status_code=303, query_params={"notice": notice})

    @post("/templates", opt={"can": Can.MANAGE_SETUP}, status_code=303)
    async def submit(
        self,
        request: AdminRequest,
        data: Annotated[TemplateForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        try:
            new = data.to_new_template()
            created = await templates.create_template(
                db(request), request.app.state.vault, request.app.state.graph_templates, tenant_of(request), new
            )
        except (SwitchboardError, httpx.HTTPError) as error:
            return await self._templates(request, 422, error=_reason(error), form=data)
        return Redirect(f"/admin/templates/{created.id}", status_code=303)

    @get("/templates/{template_id:str}")
    async def template(self, request: AdminRequest, template_id: str) -> Template:
        async with unit_of_work(db(request)) as conn:
            found = await tenants.get_template(conn, tenant_of(request), parse_id(template_id, "template"))
        return render(request, "template.html", template=found)
