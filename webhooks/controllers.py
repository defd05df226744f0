"""REST adapter for provider webhooks (Meta's verification handshake and notifications)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.enums import MediaType
from litestar.params import Parameter

from webhooks.ingest import MAX_BODY, Ingestor

__all__ = ["TwilioWebhookController", "WhatsAppWebhookController", "ingestor"]


def ingestor(request: Request[Any, Any, State]) -> Ingestor:
    """The process's ingestor (created in the app's lifespan)."""
    found: Ingestor = request.app.state.ingestor
    return found


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
        return await ingestor(request).verify_subscription(channel_key, mode, token, challenge)

    @post(
        "/{channel_key:str}",
        status_code=200,
        request_max_body_size=MAX_BODY,
        summary="Meta's event notifications (signed with X-Hub-Signature-256)",
        description="Verified over the raw bytes, stored raw, answered 200; reconciled later. "
        f"Bodies over {MAX_BODY} bytes are refused with 413.",
    )
    async def receive(self, channel_key: str, request: Request[Any, Any, State]) -> Response[dict[str, Any]]:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        raw_event_id = await ingestor(request).receive_whatsapp(channel_key, body, headers)
        return Response({"received": raw_event_id})


class TwilioWebhookController(Controller):
    path = "/webhooks/twilio"
    tags = ["webhooks"]

    @post(
        "/{channel_key:str}",
        status_code=200,
        request_max_body_size=MAX_BODY,
        summary="Twilio's message status callbacks (signed with X-Twilio-Signature)",
        description="Verified over the URL and form parameters, stored raw, answered 200; reconciled later.",
    )
    async def receive(self, channel_key: str, request: Request[Any, Any, State]) -> Response[dict[str, Any]]:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        raw_event_id = await ingestor(request).receive_twilio(channel_key, str(request.url), body, headers)
        return Response({"received": raw_event_id})
