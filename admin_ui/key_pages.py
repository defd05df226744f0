"""API keys: list, create (the key is shown once), revoke."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from admin_ui.roles import Can
from admin_ui.web import AdminRequest, db, render, require_session, tenant_of
from kernel.db import unit_of_work
from kernel.errors import parse_id
from tenants import service as tenants

__all__ = ["KeyPages"]

MAX_NAME = 100


class NewKeyForm(msgspec.Struct):
    name: str = ""


class KeyPages(Controller):
    path = "/admin/keys"
    guards = [require_session]
    include_in_schema = False
    opt = {"can": Can.MANAGE_KEYS}

    async def _page(self, request: AdminRequest, status_code: int = 200, **context: object) -> Template:
        async with unit_of_work(db(request)) as conn:
            keys = await tenants.list_api_keys(conn, tenant_of(request))
        return render(request, "keys.html", status_code=status_code, keys=keys, **context)

    @get("/")
    async def keys(self, request: AdminRequest) -> Template:
        return await self._page(request, revoked=request.query_params.get("revoked"))

    @post("/", status_code=201)
    async def create(
        self,
        request: AdminRequest,
        data: Annotated[NewKeyForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template:
        name = data.name.strip()
        if len(name) > MAX_NAME:
            return await self._page(request, 422, error=f"name: at most {MAX_NAME} characters")
        async with unit_of_work(db(request)) as conn:
            created, key = await tenants.create_api_key(conn, tenant_of(request), name)
        # Shown on this response only: the key is not stored, and the page is not cached.
        page = await self._page(request, 201, created=created, new_key=key)
        page.headers["Cache-Control"] = "no-store"
        return page

    @post("/{key_id:str}/revoke", status_code=303)
    async def revoke(self, request: AdminRequest, key_id: str) -> Redirect:
        ident = parse_id(key_id, "API key")
        async with unit_of_work(db(request)) as conn:
            await tenants.revoke_api_key(conn, tenant_of(request), ident)
        return Redirect("/admin/keys", status_code=303, query_params={"revoked": str(ident)})
