"""gRPC adapter for ``switchboard.webhooks.v1.WebhookEndpointService`` over the REST's service."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any, TypeAlias

import grpc
from switchboard.webhooks.v1 import webhooks_pb2 as pb
from switchboard.webhooks.v1 import webhooks_pb2_grpc as pb_grpc

from edge.rpc import authenticated, timestamp, translate_errors
from kernel.db import Pool, unit_of_work
from kernel.errors import InvalidInput, parse_id
from kernel.pagination import DEFAULT_PAGE, MAX_PAGE
from tenants.vault import Vault
from webhooks.outbound import service
from webhooks.outbound.schemas import DeliveryView, EndpointUpdate, EndpointView, NewEndpoint, RotateSecret

__all__ = ["WebhookEndpointServicer"]

Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"


def _endpoint(view: EndpointView) -> pb.WebhookEndpoint:
    return pb.WebhookEndpoint(
        id=str(view.id),
        url=view.url,
        description=view.description,
        event_types=view.event_types,
        status=view.status,
        disabled_reason=view.disabled_reason or "",
        failing_since_time=timestamp(view.failing_since),
        previous_secret_expire_time=timestamp(view.previous_secret_expires_at),
        create_time=timestamp(view.created_at),
    )


def _delivery(view: DeliveryView) -> pb.WebhookDelivery:
    return pb.WebhookDelivery(
        id=view.id,
        event_id=view.event_id,
        event_type=view.event_type,
        status=view.status,
        attempts=view.attempts,
        next_attempt_time=timestamp(view.next_attempt_at),
        last_response_status=view.last_response_status,
        last_error=view.last_error or "",
        create_time=timestamp(view.created_at),
        attempt_log=[
            pb.WebhookAttempt(
                attempt=a.attempt,
                response_status=a.response_status,
                response_body=a.response_body or "",
                error=a.error or "",
                duration_ms=a.duration_ms,
                start_time=timestamp(a.started_at),
            )
            for a in view.attempt_log
        ],
    )


class WebhookEndpointServicer(pb_grpc.WebhookEndpointServiceServicer):
    def __init__(self, pool: Pool, vault: Vault, *, allow_private: bool) -> None:
        self._pool = pool
        self._vault = vault
        self._allow_private = allow_private

    @translate_errors
    async def CreateWebhookEndpoint(  # noqa: N802 (gRPC method names)
        self, request: pb.CreateWebhookEndpointRequest, context: Context
    ) -> pb.CreateWebhookEndpointResponse:
        principal = await authenticated(self._pool, context)
        new = NewEndpoint(url=request.url, description=request.description, event_types=list(request.event_types))
        async with unit_of_work(self._pool) as conn:
            endpoint, secret = await service.create_endpoint(
                conn, self._vault, principal.tenant_id, new, allow_private=self._allow_private
            )
        return pb.CreateWebhookEndpointResponse(endpoint=_endpoint(endpoint), secret=secret)

    @translate_errors
    async def ListWebhookEndpoints(  # noqa: N802
        self, request: pb.ListWebhookEndpointsRequest, context: Context
    ) -> pb.ListWebhookEndpointsResponse:
        principal = await authenticated(self._pool, context)
        async with self._pool.acquire() as conn:
            found = await service.list_endpoints(conn, principal.tenant_id)
        return pb.ListWebhookEndpointsResponse(endpoints=[_endpoint(e) for e in found])

    @translate_errors
    async def GetWebhookEndpoint(  # noqa: N802
        self, request: pb.GetWebhookEndpointRequest, context: Context
    ) -> pb.GetWebhookEndpointResponse:
        principal = await authenticated(self._pool, context)
        async with self._pool.acquire() as conn:
            found = await service.get_endpoint(conn, principal.tenant_id, parse_id(request.id, "endpoint"))
        return pb.GetWebhookEndpointResponse(endpoint=_endpoint(found))

    @translate_errors
    async def UpdateWebhookEndpoint(  # noqa: N802
        self, request: pb.UpdateWebhookEndpointRequest, context: Context
    ) -> pb.UpdateWebhookEndpointResponse:
        principal = await authenticated(self._pool, context)
        change = EndpointUpdate(
            url=request.url if request.HasField("url") else None,
            description=request.description if request.HasField("description") else None,
            event_types=list(request.event_types) if request.replace_event_types else None,
            enabled=request.enabled if request.HasField("enabled") else None,
        )
        async with unit_of_work(self._pool) as conn:
            updated = await service.update_endpoint(
                conn, principal.tenant_id, parse_id(request.id, "endpoint"), change, allow_private=self._allow_private
            )
        return pb.UpdateWebhookEndpointResponse(endpoint=_endpoint(updated))

    @translate_errors
    async def DeleteWebhookEndpoint(  # noqa: N802
        self, request: pb.DeleteWebhookEndpointRequest, context: Context
    ) -> pb.DeleteWebhookEndpointResponse:
        principal = await authenticated(self._pool, context)
        async with unit_of_work(self._pool) as conn:
            await service.delete_endpoint(conn, principal.tenant_id, parse_id(request.id, "endpoint"))
        return pb.DeleteWebhookEndpointResponse()

    @translate_errors
    async def RotateWebhookEndpointSecret(  # noqa: N802
        self, request: pb.RotateWebhookEndpointSecretRequest, context: Context
    ) -> pb.RotateWebhookEndpointSecretResponse:
        principal = await authenticated(self._pool, context)
        hours = request.overlap_hours if request.HasField("overlap_hours") else RotateSecret().overlap_hours
        async with unit_of_work(self._pool) as conn:
            rotated = await service.rotate_secret(
                conn, self._vault, principal.tenant_id, parse_id(request.id, "endpoint"), timedelta(hours=hours)
            )
        return pb.RotateWebhookEndpointSecretResponse(
            secret=rotated.secret, previous_secret_expire_time=timestamp(rotated.previous_secret_expires_at)
        )

    @translate_errors
    async def ListWebhookDeliveries(  # noqa: N802
        self, request: pb.ListWebhookDeliveriesRequest, context: Context
    ) -> pb.ListWebhookDeliveriesResponse:
        principal = await authenticated(self._pool, context)
        if request.page_size and not 1 <= request.page_size <= MAX_PAGE:
            raise InvalidInput("page_size", "range", f"between 1 and {MAX_PAGE}")
        async with self._pool.acquire() as conn:
            found = await service.list_deliveries(
                conn,
                principal.tenant_id,
                parse_id(request.id, "endpoint"),
                status=request.status or None,
                cursor=request.page_token or None,
                limit=request.page_size or DEFAULT_PAGE,
            )
        return pb.ListWebhookDeliveriesResponse(
            deliveries=[_delivery(d) for d in found.data], next_page_token=found.next_cursor or ""
        )

    @translate_errors
    async def ResendWebhookEvent(  # noqa: N802
        self, request: pb.ResendWebhookEventRequest, context: Context
    ) -> pb.ResendWebhookEventResponse:
        principal = await authenticated(self._pool, context)
        async with unit_of_work(self._pool) as conn:
            await service.resend(conn, principal.tenant_id, parse_id(request.id, "endpoint"), request.event_id)
        return pb.ResendWebhookEventResponse()

    @translate_errors
    async def RecoverWebhookDeliveries(  # noqa: N802
        self, request: pb.RecoverWebhookDeliveriesRequest, context: Context
    ) -> pb.RecoverWebhookDeliveriesResponse:
        principal = await authenticated(self._pool, context)
        if not request.HasField("since_time"):
            raise InvalidInput("since_time", "required", "every failed delivery since then is sent again")
        since = request.since_time.ToDatetime(tzinfo=UTC)
        async with unit_of_work(self._pool) as conn:
            count = await service.recover(conn, principal.tenant_id, parse_id(request.id, "endpoint"), since)
        return pb.RecoverWebhookDeliveriesResponse(requeued=count)

    @translate_errors
    async def SendTestWebhookEvent(  # noqa: N802
        self, request: pb.SendTestWebhookEventRequest, context: Context
    ) -> pb.SendTestWebhookEventResponse:
        principal = await authenticated(self._pool, context)
        async with unit_of_work(self._pool) as conn:
            event_id = await service.send_test_event(conn, principal.tenant_id, parse_id(request.id, "endpoint"))
        return pb.SendTestWebhookEventResponse(event_id=event_id)
