"""What a failure means, acted on: credentials the provider refuses are marked for the tenant,
recipients who stop marketing are not sent marketing again, and dead letters can be retried or
discarded over REST, gRPC and the CLI."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import httpx
import pytest
from switchboard.messaging.v1 import messaging_pb2 as pb
from switchboard.messaging.v1 import messaging_pb2_grpc as pb_grpc

from kernel.db import Pool
from tests.conftest import auth, new_tenant, wait_for_status
from tests.fixtures.builders import PROMO_SEND, PROMO_TEMPLATE
from tests.fixtures.stack import Stack

UTILITY = {"name": "order_shipped", "language": "en_US", "params": {"body": ["Ada", "#1042"]}}


async def send(client: httpx.AsyncClient, facts: dict[str, Any], to: str, **content: Any) -> str:
    response = await client.post("/v1/messages", json={"to": to, **content}, headers=auth(facts))
    assert response.status_code == 202, response.text
    message_id: str = response.json()["id"]
    return message_id


async def sandbox_sends(client: httpx.AsyncClient, stack: Stack, message_id: str) -> int:
    response = await client.get(f"{stack.sandbox_url}/_sandbox/whatsapp/sends", params={"tracker": message_id})
    count: int = response.json()["count"]
    return count


async def whatsapp_credential(client: httpx.AsyncClient, facts: dict[str, Any]) -> dict[str, Any]:
    listed = (await client.get("/v1/credentials", headers=auth(facts))).json()["data"]
    [credential] = [c for c in listed if c["kind"] == "whatsapp"]
    return credential


async def test_an_expired_token_marks_the_credential_failing_until_a_send_works(
    client: httpx.AsyncClient, tenant: dict[str, Any]
) -> None:
    assert (await whatsapp_credential(client, tenant))["health"] == "ok"
    failed = await wait_for_status(
        client, tenant, await send(client, tenant, "+14155550190", template=UTILITY), {"failed"}
    )
    assert failed["error"]["code"] == 190
    assert failed["error"]["reason"].startswith("access_token_expired: (190)")
    credential = await whatsapp_credential(client, tenant)
    assert credential["health"] == "failing" and "190" in credential["health_detail"]

    await wait_for_status(client, tenant, await send(client, tenant, "+14155550123", template=UTILITY), {"read"})
    assert (await whatsapp_credential(client, tenant))["health"] == "ok"


async def test_a_recipient_who_stopped_marketing_gets_no_more_marketing(
    client: httpx.AsyncClient, stack: Stack, pool: Pool, tenant: dict[str, Any]
) -> None:
    assert (await client.post("/v1/templates", json=PROMO_TEMPLATE, headers=auth(tenant))).status_code == 201
    first = await send(client, tenant, "+14155551050", template=PROMO_SEND)
    assert (await wait_for_status(client, tenant, first, {"failed"}))["error"]["code"] == 131050
    opted = await pool.fetchrow(
        "SELECT scope, reason FROM opt_outs WHERE tenant_id = $1 AND address = '+14155551050'",
        uuid.UUID(tenant["tenant_id"]),
    )
    assert opted is not None and (opted["scope"], opted["reason"]) == ("marketing", "stopped_marketing")

    again = await send(client, tenant, "+14155551050", template=PROMO_SEND)
    refused = await wait_for_status(client, tenant, again, {"failed"})
    assert refused["error"]["reason"].startswith("opted_out:")
    assert await sandbox_sends(client, stack, again) == 0  # never offered to WhatsApp
    # Opting out of marketing is not opting out of receipts.
    receipt = await send(client, tenant, "+14155551050", template=UTILITY)
    await wait_for_status(client, tenant, receipt, {"read"})


async def test_a_dead_letter_is_listed_retried_with_a_fresh_round_then_discarded(
    client: httpx.AsyncClient, stack: Stack, tenant: dict[str, Any]
) -> None:
    # The sandbox answers 5xx to this number every time: the stack's 3 attempts are used up.
    message_id = await send(client, tenant, "+14155550500", template=UTILITY)
    await wait_for_status(client, tenant, message_id, {"failed"})
    listed = (await client.get("/v1/dead-letters", headers=auth(tenant))).json()["data"]
    [dead] = [d for d in listed if d["message"]["id"] == message_id]
    assert dead["attempts"] == 3 and dead["message"]["error"]["code"] == 2

    retried = await client.post(f"/v1/messages/{message_id}/retry", headers=auth(tenant))
    assert retried.status_code == 200 and retried.json()["status"] == "queued"
    await wait_for_status(client, tenant, message_id, {"failed"})
    listed = (await client.get("/v1/dead-letters", headers=auth(tenant))).json()["data"]
    [dead] = [d for d in listed if d["message"]["id"] == message_id]
    assert dead["attempts"] == 6  # a whole new round, the first one kept on record
    events = (await client.get(f"/v1/messages/{message_id}/events", headers=auth(tenant))).json()["data"]
    assert ("retried", "operator") in [(e["outcome"], e["source"]) for e in events]

    discarded = await client.post(f"/v1/messages/{message_id}/discard", headers=auth(tenant))
    assert discarded.status_code == 200 and discarded.json()["status"] == "failed"
    listed = (await client.get("/v1/dead-letters", headers=auth(tenant))).json()["data"]
    assert message_id not in [d["message"]["id"] for d in listed]
    again = await client.post(f"/v1/messages/{message_id}/retry", headers=auth(tenant))
    assert again.status_code == 409
    assert again.json()["type"].endswith("/failed-precondition")


async def test_only_dead_letters_can_be_retried_and_other_tenants_see_nothing(
    client: httpx.AsyncClient, stack: Stack, tenant: dict[str, Any]
) -> None:
    delivered = await send(client, tenant, "+14155550123", template=UTILITY)
    await wait_for_status(client, tenant, delivered, {"read"})
    refused = await client.post(f"/v1/messages/{delivered}/retry", headers=auth(tenant))
    assert refused.status_code == 409 and "read" in refused.json()["detail"]

    other = await new_tenant(stack)
    for action in ("retry", "discard"):
        theirs = await client.post(f"/v1/messages/{delivered}/{action}", headers=auth(other))
        unknown = await client.post(f"/v1/messages/{uuid.uuid4()}/{action}", headers=auth(other))
        assert theirs.status_code == unknown.status_code == 404
        assert theirs.json()["title"] == unknown.json()["title"]


async def test_dead_letters_over_grpc_and_the_cli(
    client: httpx.AsyncClient, stack: Stack, tenant: dict[str, Any]
) -> None:
    message_id = await send(client, tenant, "+14155550000", template=UTILITY)  # not on WhatsApp
    await wait_for_status(client, tenant, message_id, {"failed"})
    metadata = (("authorization", f"Bearer {tenant['api_key']}"),)
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        stub = pb_grpc.MessagingServiceStub(channel)
        listed = await stub.ListDeadLetters(pb.ListDeadLettersRequest(), metadata=metadata)
        assert message_id in [d.message.id for d in listed.dead_letters]
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.DiscardMessage(pb.DiscardMessageRequest(id=str(uuid.uuid4())), metadata=metadata)
        assert refused.value.code() is grpc.StatusCode.NOT_FOUND

    shown = stack.cli("messages", "dead-letters", "--tenant", tenant["tenant_id"])
    assert message_id in shown.stdout and "undeliverable: (131026)" in shown.stdout
    retried = stack.cli("messages", "retry", "--tenant", tenant["tenant_id"], message_id)
    assert retried.returncode == 0 and f"{message_id} queued" in retried.stdout
    await wait_for_status(client, tenant, message_id, {"failed"})
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        stub = pb_grpc.MessagingServiceStub(channel)
        gone = await stub.DiscardMessage(pb.DiscardMessageRequest(id=message_id), metadata=metadata)
        assert gone.message.status == pb.MESSAGE_STATUS_FAILED
        with pytest.raises(grpc.aio.AioRpcError) as twice:
            await stub.RetryMessage(pb.RetryMessageRequest(id=message_id), metadata=metadata)
        assert twice.value.code() is grpc.StatusCode.FAILED_PRECONDITION
