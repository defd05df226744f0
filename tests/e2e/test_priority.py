"""Transactional before bulk: marketing goes to the bulk queue (unless a message says otherwise),
and both paths deliver."""

from __future__ import annotations

from typing import Any

import grpc
import httpx
from switchboard.messaging.v1 import messaging_pb2 as pb
from switchboard.messaging.v1 import messaging_pb2_grpc as pb_grpc

from kernel.db import Pool
from tests.conftest import auth, new_tenant, wait_for_status
from tests.fixtures.builders import PROMO_SEND, PROMO_TEMPLATE
from tests.fixtures.stack import Stack


def promo(**extra: Any) -> dict[str, Any]:
    return {
        "to": "+14155550123",
        "template": PROMO_SEND,
        **extra,
    }


async def topic(pool: Pool, message_id: str) -> tuple[str, int]:
    row = await pool.fetchrow("SELECT topic, priority FROM outbox WHERE payload->>'message_id' = $1", message_id)
    assert row is not None
    return row["topic"], row["priority"]


async def test_marketing_is_bulk_unless_the_message_says_otherwise(
    client: httpx.AsyncClient, pool: Pool, tenant: dict[str, Any]
) -> None:
    assert (await client.post("/v1/templates", json=PROMO_TEMPLATE, headers=auth(tenant))).status_code == 201
    bulk = (await client.post("/v1/messages", json=promo(), headers=auth(tenant))).json()
    urgent = (await client.post("/v1/messages", json=promo(priority="transactional"), headers=auth(tenant))).json()
    text = await client.post(
        "/v1/messages", json={"to": "+14155550123", "text": {"body": "hi"}, "priority": "bulk"}, headers=auth(tenant)
    )
    assert await topic(pool, bulk["id"]) == ("messaging.deliver_bulk", 1)
    assert await topic(pool, urgent["id"]) == ("messaging.deliver", 0)
    assert await topic(pool, text.json()["id"]) == ("messaging.deliver_bulk", 1)
    for message_id in (bulk["id"], urgent["id"], text.json()["id"]):
        await wait_for_status(client, tenant, message_id, {"read"})
    refused = await client.post("/v1/messages", json=promo(priority="urgent"), headers=auth(tenant))
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "priority"


async def test_grpc_priority(stack: Stack, pool: Pool, tenant: dict[str, Any]) -> None:
    metadata = (("authorization", f"Bearer {tenant['api_key']}"),)
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        stub = pb_grpc.MessagingServiceStub(channel)
        sent = await stub.SendMessage(
            pb.SendMessageRequest(to="+14155550123", text=pb.TextContent(body="hi"), priority=pb.MESSAGE_PRIORITY_BULK),
            metadata=metadata,
        )
    assert await topic(pool, sent.message.id) == ("messaging.deliver_bulk", 1)


async def test_one_tenants_bulk_backlog_does_not_hold_up_another_tenants_bulk(
    stack: Stack, client: httpx.AsyncClient, pool: Pool
) -> None:
    # A's number may send 2 messages/s; its 40 marketing messages take 20 s to go. The stack lets
    # a tenant have 20 bulk items in flight, so half of A's wait in the outbox.
    a = await new_tenant(stack, our_mps=2)
    c = await new_tenant(stack)
    for facts in (a, c):
        assert (await client.post("/v1/templates", json=PROMO_TEMPLATE, headers=auth(facts))).status_code == 201
    for n in range(40):
        sent = await client.post("/v1/messages", json=promo(to=f"+1415555{n:04d}"), headers=auth(a))
        assert sent.status_code == 202
    held = "SELECT count(*) FROM outbox WHERE tenant_id = $1::uuid AND published_at IS NULL"
    assert await pool.fetchval(held, a["tenant_id"]) >= 15

    c_ids = [(await client.post("/v1/messages", json=promo(), headers=auth(c))).json()["id"] for _ in range(3)]
    for message_id in c_ids:
        # Queued behind A's 40, these would wait ~20 s; shared fairly, they go at once.
        await wait_for_status(client, c, message_id, {"submitted", "sent", "delivered", "read"}, timeout=5)
    assert await pool.fetchval(held, a["tenant_id"]) >= 10  # A's backlog is still waiting its turn
    queued = "SELECT count(*) FROM messages WHERE tenant_id = $1::uuid AND status = 'queued'"
    assert await pool.fetchval(queued, a["tenant_id"]) >= 25
