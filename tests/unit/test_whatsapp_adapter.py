"""The pywa adapter: Meta's request shape out, every outcome back as a value (MockTransport)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pywa_async.client import WhatsApp

from messaging.classification import Kind
from messaging.whatsapp import Outcome, send


def client(handler: Callable[[httpx.Request], httpx.Response]) -> WhatsApp:
    return WhatsApp(
        token="token-1", session=httpx.AsyncClient(transport=httpx.MockTransport(handler)), api_version="23.0"
    )


def accepted(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "messaging_product": "whatsapp",
            "contacts": [{"input": "1", "wa_id": "1"}],
            "messages": [{"id": "wamid.ABC"}],
        },
    )


async def test_template_request_carries_components_and_our_id_as_tracker() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return accepted(request)

    content = {
        "type": "template",
        "template": {"name": "order_shipped", "language": "en_US", "params": {"header": [], "body": ["Ada", "#1042"]}},
    }
    result = await send(client(handler), sender="1234", to="+14155550123", content=content, tracker="msg-1")
    assert result.outcome is Outcome.ACCEPTED and result.provider_id == "wamid.ABC"
    [request] = seen
    assert request.url.path == "/v23.0/1234/messages"
    assert request.headers["authorization"] == "Bearer token-1"
    body = json.loads(request.content)
    assert body["to"] == "14155550123"
    assert body["biz_opaque_callback_data"] == "msg-1"
    assert body["template"]["language"] == {"code": "en_US"}
    assert body["template"]["components"] == [
        {"type": "body", "parameters": [{"type": "text", "text": "Ada"}, {"type": "text", "text": "#1042"}]}
    ]


def meta_error(status: int, code: int) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            status,
            json={
                "error": {
                    "message": "x",
                    "type": "OAuthException",
                    "code": code,
                    "error_data": {"details": "why"},
                    "fbtrace_id": "t",
                }
            },
        )

    return handler


@pytest.mark.parametrize(
    ("status", "code", "outcome"),
    [
        (400, 130429, Outcome.RETRYABLE),
        (400, 131056, Outcome.RETRYABLE),
        (503, 2, Outcome.RETRYABLE),
        (400, 131026, Outcome.PERMANENT),
        (401, 190, Outcome.PERMANENT),
        (400, 132000, Outcome.PERMANENT),
        (500, 999999, Outcome.RETRYABLE),
    ],
)
async def test_meta_errors_are_classified(status: int, code: int, outcome: Outcome) -> None:
    content = {"type": "text", "text": {"body": "hi"}}
    result = await send(client(meta_error(status, code)), sender="1", to="+14155550123", content=content, tracker="m")
    assert (result.outcome, result.error_code, result.http_status, result.detail) == (outcome, code, status, "why")
    assert result.verdict is not None


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (httpx.ConnectError("refused"), Outcome.RETRYABLE),
        (httpx.ReadTimeout("slow"), Outcome.AMBIGUOUS),
        (httpx.RemoteProtocolError("reset"), Outcome.AMBIGUOUS),
    ],
)
async def test_transport_failures_are_retryable_only_when_nothing_was_sent(error: Exception, outcome: Outcome) -> None:
    def handler(request: httpx.Request) -> Any:
        raise error

    result = await send(
        client(handler), sender="1", to="+14155550123", content={"type": "text", "text": {"body": "hi"}}, tracker="m"
    )
    assert result.outcome is outcome


async def test_a_credential_error_comes_back_with_its_verdict() -> None:
    content = {"type": "text", "text": {"body": "hi"}}
    result = await send(client(meta_error(401, 190)), sender="1", to="+14155550123", content=content, tracker="m")
    assert result.verdict is not None
    assert result.verdict.kind is Kind.TENANT_ACTION and result.verdict.credential_unhealthy
