"""REST for partner webhook endpoints: ``/v1/webhook-endpoints``."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.datastructures import State
from litestar.params import Parameter

from edge.idempotency import IdempotentCreate
from edge.rest import pool, principal, require_api_key, vault
from kernel.db import unit_of_work
from kernel.errors import parse_id
from kernel.pagination import DEFAULT_PAGE, MAX_PAGE
from webhooks.outbound import service
from webhooks.outbound.schemas import (
    DeliveryList,
    EndpointCreated,
    EndpointList,
    EndpointUpdate,
    EndpointView,
    NewEndpoint,
    Recover,
    Recovered,
    RotateSecret,
    SecretRotated,
    TestEventSent,
)

__all__ = ["WebhookEndpointController"]

AnyRequest = Request[Any, Any, State]


def _allow_private(request: AnyRequest) -> bool:
    return bool(request.app.state.webhook_allow_private)


class WebhookEndpointController(Controller):
    path = "/v1/webhook-endpoints"
    tags = ["webhook endpoints"]
    guards = [require_api_key]
    security = [{"apiKey": []}]

    @post(
        "/",
        status_code=201,
        middleware=[IdempotentCreate()],
        summary="Register an endpoint for partner webhooks (Standard Webhooks v1)",
        description="The answer carries the endpoint's signing secret (whsec_...) once. Every event is POSTed "
        "with webhook-id, webhook-timestamp and webhook-signature headers; retried with backoff for about 3 days.",
    )
    async def create(self, request: AnyRequest, data: NewEndpoint) -> EndpointCreated:
        async with unit_of_work(pool(request)) as conn:
            endpoint, secret = await service.create_endpoint(
                conn, vault(request), principal(request).tenant_id, data, allow_private=_allow_private(request)
            )
        return EndpointCreated(endpoint=endpoint, secret=secret)

    @get("/", summary="List the tenant's webhook endpoints (never their secrets)")
    async def list_endpoints(self, request: AnyRequest) -> EndpointList:
        """Each endpoint with its event filter and, when disabled, why. Secrets are shown once, at
        creation and rotation."""
        async with pool(request).acquire() as conn:
            return EndpointList(data=await service.list_endpoints(conn, principal(request).tenant_id))

    @get("/{endpoint_id:str}", summary="Get one webhook endpoint")
    async def get_endpoint(self, request: AnyRequest, endpoint_id: str) -> EndpointView:
        """Its URL, event filter and state; never its secret."""
        async with pool(request).acquire() as conn:
            return await service.get_endpoint(conn, principal(request).tenant_id, parse_id(endpoint_id, "endpoint"))

    @patch("/{endpoint_id:str}", summary="Change an endpoint's URL, description, event types, or enable it")
    async def update(self, request: AnyRequest, endpoint_id: str, data: EndpointUpdate) -> EndpointView:
        """A new URL is checked as at creation (https, public addresses). `enabled: true` restarts
        deliveries to a disabled endpoint."""
        async with unit_of_work(pool(request)) as conn:
            return await service.update_endpoint(
                conn,
                principal(request).tenant_id,
                parse_id(endpoint_id, "endpoint"),
                data,
                allow_private=_allow_private(request),
            )

    @delete("/{endpoint_id:str}", summary="Delete an endpoint and its delivery log")
    async def remove(self, request: AnyRequest, endpoint_id: str) -> None:
        """Pending deliveries are dropped; nothing more is sent to it."""
        async with unit_of_work(pool(request)) as conn:
            await service.delete_endpoint(conn, principal(request).tenant_id, parse_id(endpoint_id, "endpoint"))

    @post(
        "/{endpoint_id:str}/rotate-secret",
        status_code=200,
        summary="Rotate the signing secret; the old one keeps signing alongside for the overlap",
    )
    async def rotate(self, request: AnyRequest, endpoint_id: str, data: RotateSecret | None = None) -> SecretRotated:
        """The new secret is shown once. During the overlap both secrets sign each delivery (two
        signatures in webhook-signature), so receivers can switch without losing any."""
        overlap = timedelta(hours=(data or RotateSecret()).overlap_hours)
        async with unit_of_work(pool(request)) as conn:
            return await service.rotate_secret(
                conn, vault(request), principal(request).tenant_id, parse_id(endpoint_id, "endpoint"), overlap
            )

    @get("/{endpoint_id:str}/deliveries", summary="The endpoint's delivery log, newest first, with every attempt")
    async def deliveries(
        self,
        request: AnyRequest,
        endpoint_id: str,
        status: Annotated[str | None, Parameter(description="pending, succeeded or failed")] = None,
        cursor: str | None = None,
        limit: Annotated[int, Parameter(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    ) -> DeliveryList:
        """Each event sent to the endpoint with its status, attempts (status, first KiB of the
        answer, duration) and next attempt. Pages follow `next_cursor`."""
        async with pool(request).acquire() as conn:
            return await service.list_deliveries(
                conn,
                principal(request).tenant_id,
                parse_id(endpoint_id, "endpoint"),
                status=status,
                cursor=cursor,
                limit=limit,
            )

    @post(
        "/{endpoint_id:str}/events/{event_id:str}/resend",
        status_code=202,
        summary="Send one event to the endpoint again (a fresh round of retries)",
    )
    async def resend(self, request: AnyRequest, endpoint_id: str, event_id: str) -> None:
        """The event goes out again with the same webhook-id, so a receiver that already has it can tell."""
        async with unit_of_work(pool(request)) as conn:
            await service.resend(conn, principal(request).tenant_id, parse_id(endpoint_id, "endpoint"), event_id)

    @post(
        "/{endpoint_id:str}/recover",
        status_code=202,
        summary="Send again every delivery to the endpoint that failed since a time",
    )
    async def recover(self, request: AnyRequest, endpoint_id: str, data: Recover) -> Recovered:
        """Every delivery that used up its retries since `since` gets a new round of retries, with
        the same webhook-id."""
        async with unit_of_work(pool(request)) as conn:
            count = await service.recover(
                conn, principal(request).tenant_id, parse_id(endpoint_id, "endpoint"), data.since
            )
        return Recovered(requeued=count)

    @post("/{endpoint_id:str}/test", status_code=202, summary="Send a webhook.test event to the endpoint")
    async def test(self, request: AnyRequest, endpoint_id: str) -> TestEventSent:
        """A signed webhook.test event, sent like any other: it shows in the delivery log."""
        async with unit_of_work(pool(request)) as conn:
            event_id = await service.send_test_event(
                conn, principal(request).tenant_id, parse_id(endpoint_id, "endpoint")
            )
        return TestEventSent(event_id=event_id)
