"""Customers writing in: stored once, listed per tenant, opening the 24-hour window."""

from __future__ import annotations

import time
from typing import Any

import grpc
import httpx
import pytest
from switchboard.messaging.v1 import messaging_pb2 as pb
from switchboard.messaging.v1 import messaging_pb2_grpc as pb_grpc

from kernel.db import Pool
from tests.conftest import auth, new_tenant
from tests.fixtures.stack import Stack
from tests.fixtures.webhooks import contact, notification, post_signed, settled, text_message


@pytest.fixture
async def tenant(stack: Stack) -> dict[str, Any]:
    """A tenant no customer has written to yet (no conversations, every window closed)."""
    return await new_tenant(stack, windows=False)


async def inbound(client: httpx.AsyncClient, facts: dict[str, Any], **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/v1/inbound-messages", params=params, headers=auth(facts))
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def conversations(client: httpx.AsyncClient, facts: dict[str, Any]) -> list[dict[str, Any]]:
    response = await client.get("/v1/conversations", headers=auth(facts))
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def test_a_customer_message_is_listed_and_opens_the_window(
    client: httpx.AsyncClient, pool: Pool, tenant: dict[str, Any]
) -> None:
    now = int(time.time())
    body = notification(
        tenant,
        messages=[text_message("wamid.in-1", "16315551181", "Is my order on its way?", now)],
        contacts=[contact("16315551181", "Ada Lovelace")],
    )
    assert (await post_signed(client, tenant, body)).status_code == 200
    await settled(pool, tenant, 1)
    (message,) = await inbound(client, tenant)
    assert message["from"] == "+16315551181"
    assert message["sender"] == tenant["phone_number_id"]
    assert (message["type"], message["text"]) == ("text", "Is my order on its way?")
    assert message["provider_message_id"] == "wamid.in-1"
    (conversation,) = await conversations(client, tenant)
    assert conversation["contact"] == "+16315551181"
    assert conversation["profile_name"] == "Ada Lovelace"
    assert conversation["window_open"] is True
    assert conversation["inbound_count"] == 1


async def test_a_message_delivered_many_times_is_stored_once(
    client: httpx.AsyncClient, pool: Pool, tenant: dict[str, Any]
) -> None:
    now = int(time.time())
    once = text_message("wamid.dup", "16315551182", "hello", now)
    body = notification(tenant, messages=[once, once], contacts=[contact("16315551182", "Grace")])
    for _ in range(3):
        assert (await post_signed(client, tenant, body)).status_code == 200
    assert await settled(pool, tenant, 3) == ["processed"] * 3
    assert [m["provider_message_id"] for m in await inbound(client, tenant)] == ["wamid.dup"]
    (conversation,) = await conversations(client, tenant)
    assert conversation["inbound_count"] == 1


async def test_an_old_message_leaves_the_window_closed(
    client: httpx.AsyncClient, pool: Pool, tenant: dict[str, Any]
) -> None:
    yesterday = int(time.time()) - 25 * 3600
    body = notification(tenant, messages=[text_message("wamid.old", "16315551183", "hi", yesterday)])
    assert (await post_signed(client, tenant, body)).status_code == 200
    await settled(pool, tenant, 1)
    (conversation,) = await conversations(client, tenant)
    assert conversation["window_open"] is False
    assert conversation["profile_name"] is None


async def test_inbound_is_filtered_and_paged(client: httpx.AsyncClient, pool: Pool, tenant: dict[str, Any]) -> None:
    now = int(time.time())
    messages = [text_message(f"wamid.p{i}", f"1631555120{i % 2}", f"m{i}", now - 10 + i) for i in range(5)]
    assert (await post_signed(client, tenant, notification(tenant, messages=messages))).status_code == 200
    await settled(pool, tenant, 1)
    first = (await client.get("/v1/inbound-messages", params={"limit": 2}, headers=auth(tenant))).json()
    second = (
        await client.get(
            "/v1/inbound-messages", params={"limit": 2, "cursor": first["next_cursor"]}, headers=auth(tenant)
        )
    ).json()
    assert [m["text"] for m in first["data"] + second["data"]] == ["m4", "m3", "m2", "m1"]
    assert [m["text"] for m in await inbound(client, tenant, **{"from": "+16315551201"})] == ["m3", "m1"]
    assert len(await conversations(client, tenant)) == 2
    bad = await client.get("/v1/inbound-messages", params={"cursor": "nonsense"}, headers=auth(tenant))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"


async def test_another_tenant_sees_none_of_it_and_cannot_file_into_it(
    client: httpx.AsyncClient, pool: Pool, tenant: dict[str, Any], stack: Stack
) -> None:
    other = await new_tenant(stack, windows=False)
    now = int(time.time())
    ours = notification(tenant, messages=[text_message("wamid.mine", "16315551190", "private", now)])
    assert (await post_signed(client, tenant, ours)).status_code == 200
    await settled(pool, tenant, 1)
    assert await inbound(client, other) == [] and await conversations(client, other) == []
    # Signed for the other tenant's URL but naming our number: filed nowhere.
    forged = notification(
        other,
        messages=[text_message("wamid.forged", "16315551191", "forged", now)],
        phone_number_id=tenant["phone_number_id"],
    )
    assert (await post_signed(client, other, forged)).status_code == 200
    assert await settled(pool, other, 1) == ["orphaned"]
    assert [m["provider_message_id"] for m in await inbound(client, tenant)] == ["wamid.mine"]
    assert await inbound(client, other) == []


async def test_grpc_lists_the_same_inbound_messages_and_conversations(
    client: httpx.AsyncClient, pool: Pool, tenant: dict[str, Any], stack: Stack
) -> None:
    now = int(time.time())
    reply = {
        "from": "16315551181",
        "id": "wamid.g-2",
        "timestamp": str(now),
        "type": "interactive",
        "interactive": {"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes"}},
        "context": {"id": "wamid.ours"},
    }
    body = notification(
        tenant,
        messages=[text_message("wamid.g-1", "16315551181", "hello", now - 1), reply],
        contacts=[contact("16315551181", "Ada")],
    )
    assert (await post_signed(client, tenant, body)).status_code == 200
    await settled(pool, tenant, 1)
    metadata = (("authorization", f"Bearer {tenant['api_key']}"),)
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        stub = pb_grpc.MessagingServiceStub(channel)
        first = await stub.ListInboundMessages(pb.ListInboundMessagesRequest(page_size=1), metadata=metadata)
        second = await stub.ListInboundMessages(
            pb.ListInboundMessagesRequest(page_size=1, page_token=first.next_page_token), metadata=metadata
        )
        conversations = await stub.ListConversations(pb.ListConversationsRequest(), metadata=metadata)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.ListConversations(pb.ListConversationsRequest(page_size=101), metadata=metadata)
    (latest,) = first.inbound_messages
    assert (latest.type, latest.text, latest.reply_to, latest.from_number) == (
        "interactive",
        "Yes",
        "wamid.ours",
        "+16315551181",
    )
    assert latest.payload["interactive"]["button_reply"]["id"] == "yes"
    assert [m.provider_message_id for m in second.inbound_messages] == ["wamid.g-1"]
    assert second.next_page_token == ""
    (conversation,) = conversations.conversations
    assert (conversation.contact, conversation.profile_name, conversation.inbound_count) == ("+16315551181", "Ada", 2)
    assert conversation.window_open
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_free_form_text_needs_an_open_window_and_a_customer_message_opens_it(
    client: httpx.AsyncClient, pool: Pool, tenant: dict[str, Any]
) -> None:
    stranger = "+16315559876"  # has never written in
    text = {"to": stranger, "text": {"body": "Your order shipped"}}
    refused = await client.post("/v1/messages", json=text, headers=auth(tenant))
    assert refused.status_code == 422
    (violation,) = refused.json()["errors"]
    assert (violation["field"], violation["rule"]) == ("text", "window_closed")
    assert "template" in violation["description"]
    template = {
        "to": stranger,
        "template": {"name": "order_shipped", "language": "en_US", "params": {"body": ["Ada", "#1"]}},
    }
    assert (await client.post("/v1/messages", json=template, headers=auth(tenant))).status_code == 202

    body = notification(
        tenant, messages=[text_message("wamid.win-1", stranger.lstrip("+"), "where is it?", int(time.time()))]
    )
    assert (await post_signed(client, tenant, body)).status_code == 200
    await settled(pool, tenant, 1)
    assert (await client.post("/v1/messages", json=text, headers=auth(tenant))).status_code == 202
