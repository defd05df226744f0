"""The linter at both edges: a template message that does not fit is refused before it is stored,
naming the component and parameter; one that fits reaches the provider with exactly the components
Meta expects (named parameters, header media, buttons)."""

from __future__ import annotations

from typing import Any

import grpc
import httpx
import pytest
from switchboard.messaging.v1 import messaging_pb2 as pb
from switchboard.messaging.v1 import messaging_pb2_grpc as pb_grpc

from kernel.db import Pool
from tests.conftest import auth, wait_for_status
from tests.fixtures.builders import RECEIPT_PARAMS, RECEIPT_TEMPLATE
from tests.fixtures.rpc import violations
from tests.fixtures.stack import Stack


@pytest.fixture
async def receipt(client: httpx.AsyncClient, tenant: dict[str, Any]) -> dict[str, Any]:
    created = await client.post("/v1/templates", json=RECEIPT_TEMPLATE, headers=auth(tenant))
    assert created.status_code == 201 and created.json()["status"] == "APPROVED", created.text
    assert created.json()["parameter_format"] == "NAMED"
    return tenant


def message(params: dict[str, Any]) -> dict[str, Any]:
    return {"to": "+14155550123", "template": {"name": "receipt_ready", "language": "en_US", "params": params}}


async def count(pool: Pool, facts: dict[str, Any]) -> int:
    found: int = await pool.fetchval("SELECT count(*) FROM messages WHERE tenant_id = $1::uuid", facts["tenant_id"])
    return found


async def test_a_fitting_message_reaches_the_provider_with_metas_components(
    client: httpx.AsyncClient, stack: Stack, receipt: dict[str, Any]
) -> None:
    accepted = await client.post("/v1/messages", json=message(RECEIPT_PARAMS), headers=auth(receipt))
    assert accepted.status_code == 202, accepted.text
    await wait_for_status(client, receipt, accepted.json()["id"], {"sent", "delivered", "read"})
    seen = await client.get(f"{stack.sandbox_url}/_sandbox/whatsapp/sends", params={"tracker": accepted.json()["id"]})
    sent = seen.json()["last_payload"]["template"]
    assert sent["name"] == "receipt_ready" and sent["language"]["code"] == "en_US"
    assert sent["components"] == [
        {
            "type": "header",
            "parameters": [
                {
                    "type": "document",
                    "document": {"link": "https://cdn.example/r/1042.pdf", "filename": "receipt-1042.pdf"},
                }
            ],
        },
        {
            "type": "body",
            "parameters": [
                {"type": "text", "parameter_name": "first_name", "text": "Ada"},
                {"type": "text", "parameter_name": "order", "text": "#1042"},
            ],
        },
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "1042"}]},
        {
            "type": "button",
            "sub_type": "copy_code",
            "index": "1",
            "parameters": [{"type": "coupon_code", "coupon_code": "THANKS10"}],
        },
    ]


@pytest.mark.parametrize(
    ("change", "errors"),
    [
        (
            {"header_media": {"link": "/srv/receipts/1042.pdf"}},
            {("template.params.header_media.link", "https_url")},
        ),
        (
            {"body": {"first_name": "Ada", "orders": "#1042"}},
            {("template.params.body", "missing_params"), ("template.params.body", "unknown_params")},
        ),
        ({"body": ["Ada", "#1042"]}, {("template.params.body", "param_format")}),
        (
            {"body": {"first_name": "Ada\nLovelace", "order": "#1"}},
            {("template.params.body.first_name", "text_format")},
        ),
        (
            {"buttons": [{"index": 0, "value": "1042"}, {"index": 2, "value": "x"}]},
            {("template.params.buttons.1.index", "out_of_range"), ("template.params.buttons", "missing_button")},
        ),
        (
            {"buttons": [{"index": 0, "value": "1042"}, {"index": 1, "value": "A-VERY-LONG-COUPON"}]},
            {("template.params.buttons.1.value", "max_length")},
        ),
    ],
)
async def test_a_message_that_does_not_fit_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, pool: Pool, receipt: dict[str, Any], change: dict[str, Any], errors: set[Any]
) -> None:
    before = await count(pool, receipt)
    refused = await client.post("/v1/messages", json=message({**RECEIPT_PARAMS, **change}), headers=auth(receipt))
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert {(e["field"], e["rule"]) for e in refused.json()["errors"]} == errors
    assert await count(pool, receipt) == before


async def test_grpc_names_the_same_fields_and_accepts_named_parameters(
    stack: Stack, pool: Pool, receipt: dict[str, Any]
) -> None:
    metadata = (("authorization", f"Bearer {receipt['api_key']}"),)

    def request(**params: Any) -> pb.SendMessageRequest:
        template = pb.TemplateContent(name="receipt_ready", language="en_US", params=pb.TemplateParams(**params))
        return pb.SendMessageRequest(to="+14155550123", template=template)

    media = pb.HeaderMedia(link="https://cdn.example/r/1.pdf")
    buttons = [pb.ButtonParam(index=0, value="1"), pb.ButtonParam(index=1, value="CODE")]
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        stub = pb_grpc.MessagingServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.SendMessage(
                request(header_media=pb.HeaderMedia(link="C:\\receipts\\1.pdf"), named_body={"first_name": "Ada"}),
                metadata=metadata,
            )
        sent = await stub.SendMessage(
            request(header_media=media, named_body={"first_name": "Ada", "order": "#1"}, buttons=buttons),
            metadata=metadata,
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {field for field, _ in violations(raised.value)} == {
        "template.params.header_media.link",
        "template.params.body",
        "template.params.buttons",
    }
    assert sent.created and sent.message.status == pb.MESSAGE_STATUS_QUEUED
