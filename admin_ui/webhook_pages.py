"""Partner webhook endpoints: add (the secret is shown once), event filters, rotate the secret,
send a test event, the delivery log with each attempt, resend one event, recover failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec
from litestar import Controller, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from admin_ui.roles import Can
from admin_ui.web import AdminRequest, db, render, require_session, tenant_of
from kernel.db import unit_of_work
from kernel.errors import InvalidInput, parse_id
from webhooks.outbound import service
from webhooks.outbound.models import EVENT_TYPES
from webhooks.outbound.schemas import EndpointUpdate, NewEndpoint

__all__ = ["WebhookPages"]


class EndpointForm(msgspec.Struct):
    url: str = ""
    description: str = ""
    event_types: list[str] | str = msgspec.field(default_factory=list)

    @property
    def types(self) -> list[str]:
        return [self.event_types] if isinstance(self.event_types, str) else list(self.event_types)


class RecoverForm(msgspec.Struct):
    since: str = ""


def _allow_private(request: AdminRequest) -> bool:
    return bool(request.app.state.webhook_allow_private)


class WebhookPages(Controller):
    path = "/admin/webhooks"
    guards = [require_session]
    include_in_schema = False
    opt = {"can": Can.MANAGE_WEBHOOKS}

    async def _list(self, request: AdminRequest, status_code: int = 200, **context: Any) -> Template:
        async with unit_of_work(db(request)) as conn:
            endpoints = await service.list_endpoints(conn, tenant_of(request))
        return render(
            request, "webhooks.html", status_code=status_code, endpoints=endpoints, event_types=EVENT_TYPES, **context
        )

    @get("/")
    async def endpoints(self, request: AdminRequest) -> Template:
        return await self._list(request)

    @post("/", status_code=201)
    async def create(
        self, request: AdminRequest, data: Annotated[EndpointForm, Body(media_type=RequestEncodingType.URL_ENCODED)]
    ) -> Template:
        new = NewEndpoint(url=data.url, description=data.description, event_types=data.types)
        try:
            async with unit_of_work(db(request)) as conn:
                endpoint, secret = await service.create_endpoint(
                    conn, request.app.state.vault, tenant_of(request), new, allow_private=_allow_private(request)
                )
        except InvalidInput as invalid:
            return await self._list(request, 422, error=invalid.detail, form=data)
        page = await self._list(request, 201, created=endpoint, secret=secret)
        page.headers["Cache-Control"] = "no-store"
        return page

    async def _page(self, request: AdminRequest, endpoint_id: str, status_code: int = 200, **context: Any) -> Template:
        tenant_id, ident = tenant_of(request), parse_id(endpoint_id, "endpoint")
        async with unit_of_work(db(request)) as conn:
            endpoint = await service.get_endpoint(conn, tenant_id, ident)
            deliveries = await service.list_deliveries(
                conn, tenant_id, ident, status=request.query_params.get("status") or None, limit=50
            )
        return render(
            request,
            "webhook.html",
            status_code=status_code,
            endpoint=endpoint,
            deliveries=deliveries,
            event_types=EVENT_TYPES,
            notice=request.query_params.get("notice"),
            **context,
        )

    @get("/{endpoint_id:str}")
    async def endpoint(self, request: AdminRequest, endpoint_id: str) -> Template:
        return await self._page(request, endpoint_id)

    def _back(self, endpoint_id: str, notice: str) -> Redirect:
        return Redirect(f"/admin/webhooks/{endpoint_id}", status_code=303, query_params={"notice": notice})

    @post("/{endpoint_id:str}/filters", status_code=303)
    async def filters(
        self,
        request: AdminRequest,
        endpoint_id: str,
        data: Annotated[EndpointForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Redirect:
        change = EndpointUpdate(event_types=data.types)
        async with unit_of_work(db(request)) as conn:
            await service.update_endpoint(
                conn,
                tenant_of(request),
                parse_id(endpoint_id, "endpoint"),
                change,
                allow_private=_allow_private(request),
            )
        return self._back(endpoint_id, "event types saved")

    @post("/{endpoint_id:str}/enable", status_code=303)
    async def enable(self, request: AdminRequest, endpoint_id: str) -> Redirect:
        return await self._switch(request, endpoint_id, enabled=True)

    @post("/{endpoint_id:str}/disable", status_code=303)
    async def disable(self, request: AdminRequest, endpoint_id: str) -> Redirect:
        return await self._switch(request, endpoint_id, enabled=False)

    async def _switch(self, request: AdminRequest, endpoint_id: str, *, enabled: bool) -> Redirect:
        async with unit_of_work(db(request)) as conn:
            await service.update_endpoint(
                conn,
                tenant_of(request),
                parse_id(endpoint_id, "endpoint"),
                EndpointUpdate(enabled=enabled),
                allow_private=_allow_private(request),
            )
        return self._back(endpoint_id, "enabled" if enabled else "disabled")

    @post("/{endpoint_id:str}/rotate-secret", status_code=200)
    async def rotate(self, request: AdminRequest, endpoint_id: str) -> Template:
        async with unit_of_work(db(request)) as conn:
            rotated = await service.rotate_secret(
                conn,
                request.app.state.vault,
                tenant_of(request),
                parse_id(endpoint_id, "endpoint"),
                timedelta(hours=24),
            )
        page = await self._page(request, endpoint_id, rotated=rotated)
        page.headers["Cache-Control"] = "no-store"
        return page

    @post("/{endpoint_id:str}/test", status_code=303)
    async def test(self, request: AdminRequest, endpoint_id: str) -> Redirect:
        async with unit_of_work(db(request)) as conn:
            event_id = await service.send_test_event(conn, tenant_of(request), parse_id(endpoint_id, "endpoint"))
        return self._back(endpoint_id, f"test event {event_id} sent")

    @post("/{endpoint_id:str}/events/{event_id:str}/resend", status_code=303)
    async def resend(self, request: AdminRequest, endpoint_id: str, event_id: str) -> Redirect:
        async with unit_of_work(db(request)) as conn:
            await service.resend(conn, tenant_of(request), parse_id(endpoint_id, "endpoint"), event_id)
        return self._back(endpoint_id, f"{event_id} will be sent again")

    @post("/{endpoint_id:str}/recover", status_code=303)
    async def recover(
        self,
        request: AdminRequest,
        endpoint_id: str,
        data: Annotated[RecoverForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        try:
            since = datetime.fromisoformat(data.since).replace(tzinfo=UTC)  # the form's time is UTC
        except ValueError:
            return await self._page(request, endpoint_id, 422, error="since: a date and time")
        async with unit_of_work(db(request)) as conn:
            count = await service.recover(conn, tenant_of(request), parse_id(endpoint_id, "endpoint"), since)
        return self._back(endpoint_id, f"{count} failed deliveries will be sent again")

    @post("/{endpoint_id:str}/delete", status_code=303)
    async def remove(self, request: AdminRequest, endpoint_id: str) -> Redirect:
        async with unit_of_work(db(request)) as conn:
            await service.delete_endpoint(conn, tenant_of(request), parse_id(endpoint_id, "endpoint"))
        return Redirect("/admin/webhooks", status_code=303)
