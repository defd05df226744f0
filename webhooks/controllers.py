"""REST adapter for provider webhooks (Meta's verification handshake and notifications)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.enums import MediaType
from litestar.params import Parameter

from edge.rest import pool, vault
from webhooks import ingest

__all__ = ["WhatsAppWebhookController"]


class WhatsAppWebhookController(Controller):
    path = "/webhooks/whatsapp"
    tags = ["webhooks"]

    @get("/{channel_key:str}", media_type=MediaType.TEXT, summary="Meta's subscription handshake")
    async def verify(
        self,
        channel_key: str,
        request: Request[Any, Any, State],
        mode: Annotated[str | None, Parameter(query="hub.mode", required=False)] = None,
        token: Annotated[str | None, Parameter(query="hub.verify_token", required=False)] = None,
        challenge: Annotated[str | None, Parameter(query="hub.challenge", required=False)] = None,
    ) -> str:
        return await ingest.verify_subscription(pool(request), vault(request), channel_key, mode, token, challenge)

    @post(
        "/{channel_key:str}",
        status_code=200,
        request_max_body_size=ingest.MAX_BODY,
        summary="Meta's event notifications (signed with X-Hub-Signature-256)",
    )
    async def receive(self, channel_key: str, request: Request[Any, Any, State]) -> Response[dict[str, Any]]:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        raw_event_id = await ingest.receive_whatsapp(pool(request), vault(request), channel_key, body, headers)
        return Response({"received": raw_event_id})
