"""HTTP adapter for provider webhooks: Meta's handshake and notifications, Twilio's callbacks, mail
providers' events.

These are plain ASGI handlers rather than Litestar controllers: providers post in bursts (Meta
retries a backlog all at once), and on this path Litestar's per-request machinery (signature
model, parameter extraction, response objects) cost about as much CPU as the work itself. The
handlers stay thin all the same: read the body (refusing more than :data:`MAX_BODY` from its
Content-Length, before reading), call the :class:`~webhooks.ingest.Ingestor`, answer. Errors are
raised as usual and rendered by the app's exception handlers (problem+json).
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import parse_qs

import msgspec
from litestar import asgi
from litestar.exceptions import HTTPException
from litestar.types import HTTPResponseBodyEvent, HTTPResponseStartEvent, HTTPScope, Receive, Scope, Send

from kernel.errors import NotFound
from webhooks.ingest import MAX_BODY, Ingestor

__all__ = ["email_webhook", "twilio_webhook", "whatsapp_webhook"]

_TOO_LARGE = f"webhook bodies are limited to {MAX_BODY} bytes"


def _ingestor(scope: Scope) -> Ingestor:
    found: Ingestor = scope["litestar_app"].state.ingestor
    return found


def _headers(scope: Scope) -> dict[str, str]:
    # ASGI header names are already lower case.
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}


async def _body(headers: dict[str, str], receive: Receive) -> bytes:
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise HTTPException(status_code=413, detail=_TOO_LARGE)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HTTPException(status_code=400, detail="the client went away")
        chunk = cast(bytes, message.get("body", b""))
        size += len(chunk)
        if size > MAX_BODY:
            raise HTTPException(status_code=413, detail=_TOO_LARGE)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _answer(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())],
    }
    await send(start)
    done: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}
    await send(done)


async def _received(send: Send, raw_event_id: int) -> None:
    await _answer(send, 200, msgspec.json.encode({"received": raw_event_id}), b"application/json")


def _channel_key(http: HTTPScope) -> str:
    """The one path segment after the mount point (the handlers are mounted at their prefix)."""
    key = http["path"].strip("/")
    if not key or "/" in key:
        raise NotFound("unknown webhook URL")
    return key


def _only(scope: Scope, *methods: str) -> HTTPScope:
    """The scope of an HTTP request made with one of ``methods`` (405 otherwise)."""
    http = cast("HTTPScope", scope)
    if http["method"] not in methods:
        raise HTTPException(
            status_code=405, detail=f"use {' or '.join(methods)}", headers={"Allow": ", ".join(methods)}
        )
    return http


@asgi("/webhooks/whatsapp", is_mount=True, copy_scope=True)
async def whatsapp_webhook(scope: Scope, receive: Receive, send: Send) -> None:
    """GET: Meta's subscription handshake. POST: Meta's notifications (X-Hub-Signature-256)."""
    http = _only(scope, "GET", "POST")
    channel_key = _channel_key(http)
    ingestor = _ingestor(scope)
    if http["method"] == "GET":
        query: dict[str, Any] = parse_qs(http["query_string"].decode("latin-1"))
        challenge = await ingestor.verify_subscription(
            channel_key,
            *(query.get(name, [None])[0] for name in ("hub.mode", "hub.verify_token", "hub.challenge")),
        )
        await _answer(send, 200, challenge.encode(), b"text/plain; charset=utf-8")
        return
    headers = _headers(scope)
    body = await _body(headers, receive)
    await _received(send, await ingestor.receive_whatsapp(channel_key, body, headers))


@asgi("/webhooks/twilio", is_mount=True, copy_scope=True)
async def twilio_webhook(scope: Scope, receive: Receive, send: Send) -> None:
    """POST: Twilio's message status callbacks (X-Twilio-Signature over URL and parameters)."""
    http = _only(scope, "POST")
    headers = _headers(scope)
    body = await _body(headers, receive)
    # Twilio signs the whole URL it requested: the path as received (before the mount stripped it).
    path = http["raw_path"].decode("latin-1").split("?", 1)[0]
    query = http["query_string"].decode("latin-1")
    url = f"{http['scheme']}://{headers.get('host', '')}{path}" + (f"?{query}" if query else "")
    ingestor = _ingestor(scope)
    await _received(send, await ingestor.receive_twilio(_channel_key(http), url, body, headers))


@asgi("/webhooks/email", is_mount=True, copy_scope=True)
async def email_webhook(scope: Scope, receive: Receive, send: Send) -> None:
    """POST: a mail provider's delivery, bounce and complaint events (Standard Webhooks)."""
    http = _only(scope, "POST")
    headers = _headers(scope)
    body = await _body(headers, receive)
    await _received(send, await _ingestor(scope).receive_email(_channel_key(http), body, headers))
