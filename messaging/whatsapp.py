"""WhatsApp Cloud API adapter: pywa over an aiohttp-backed httpx transport.

pywa hard-codes ``https://graph.facebook.com``; :class:`GraphTransport` sends its requests to
``SWITCHBOARD_GRAPH_URL`` instead, so the same client code talks to Meta in production and to the
sandbox in development and tests. aiohttp carries the bytes because httpx's own pool costs ~15x more
client CPU per request under concurrency (LIBRARY-NOTES, encode/httpx#3215).

pywa errors are converted here into :class:`SendResult` values: they are unpicklable frozen
dataclasses that must not travel further.
"""

from __future__ import annotations

import time
from typing import Any, cast

import httpx
from httpx_aiohttp import AiohttpTransport
from pywa.errors import WhatsAppError
from pywa.types.templates import TemplateLanguage
from pywa_async.client import WhatsApp

from messaging import classification
from messaging.outcomes import Outcome, SendResult, failure, transport_failure

__all__ = ["GraphTransport", "Outcome", "SendResult", "WhatsAppClients", "send"]


class GraphTransport(httpx.AsyncBaseTransport):
    def __init__(self, graph_url: str) -> None:
        base = httpx.URL(graph_url)
        self._rewrite = base.host != "graph.facebook.com"
        self._scheme, self._host, self._port = base.scheme, base.host, base.port
        self._prefix = base.path.rstrip("/")
        self._netloc = base.netloc.decode()
        self._inner = AiohttpTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._rewrite:
            request.url = request.url.copy_with(
                scheme=self._scheme, host=self._host, port=self._port, path=self._prefix + request.url.path
            )
            request.headers["host"] = self._netloc
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


class WhatsAppClients:
    """One pywa client per access token (pywa binds the token into its HTTP session)."""

    def __init__(self, graph_url: str, timeout: float) -> None:
        self._graph_url = graph_url
        self._timeout = timeout
        self._clients: dict[tuple[str, str], WhatsApp] = {}

    def get(self, access_token: str, api_version: str) -> WhatsApp:
        key = (access_token, api_version)
        client = self._clients.get(key)
        if client is None:
            session = httpx.AsyncClient(transport=GraphTransport(self._graph_url), timeout=httpx.Timeout(self._timeout))
            client = WhatsApp(token=access_token, session=session, api_version=api_version.lstrip("v"))
            self._clients[key] = client
        return client


class _Language:
    """pywa reads only ``.value`` of the language; accept any code Meta knows, not just pywa's enum."""

    def __init__(self, code: str) -> None:
        self.value = code


def _template_components(content: dict[str, Any]) -> list[dict[str, Any]]:
    """The components the edge's linter built; a message stored before the linter existed has only
    positional header and body values."""
    built: list[dict[str, Any]] | None = content.get("components")
    if built is not None:
        return built
    params = content["template"].get("params") or {}
    components = []
    for part in ("header", "body"):
        values = params.get(part) or []
        if values:
            components.append({"type": part, "parameters": [{"type": "text", "text": v} for v in values]})
    return components


async def send(client: WhatsApp, *, sender: str, to: str, content: dict[str, Any], tracker: str) -> SendResult:
    """Send one message; every outcome comes back as a value, never as an exception."""
    recipient = to.lstrip("+")
    started = time.perf_counter()

    def elapsed() -> int:
        return int((time.perf_counter() - started) * 1000)

    try:
        if content["type"] == "text":
            sent: Any = await client.send_message(
                to=recipient, text=content["text"]["body"], tracker=tracker, sender=sender
            )
        else:
            template = content["template"]
            sent = await client.send_template(
                to=recipient,
                name=template["name"],
                language=cast(TemplateLanguage, _Language(template["language"])),
                params=_template_components(content),
                tracker=tracker,
                sender=sender,
            )
    except WhatsAppError as error:
        status = error.status_code
        return failure(
            classification.whatsapp(error.code, status),
            http_status=status,
            error_code=error.code,
            detail=error.details or error.message,
            latency_ms=elapsed(),
        )
    except httpx.HTTPError as error:
        return transport_failure(error, elapsed())
    return SendResult(Outcome.ACCEPTED, provider_id=str(sent.id), http_status=200, latency_ms=elapsed())
