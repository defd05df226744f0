"""WatchMessageEvents: the tenant's events and inbound messages as they happen, resumable from a
cursor with nothing skipped or repeated, and nothing of another tenant's."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc
import httpx
import pytest
from switchboard.messaging.v1 import messaging_pb2 as pb
from switchboard.messaging.v1 import messaging_pb2_grpc as pb_grpc

from tests.conftest import auth, new_tenant, wait_for_status
from tests.fixtures.rpc import violations
from tests.fixtures.stack import Stack
from tests.fixtures.webhooks import contact, notification, post_signed, text_message

UTILITY = {"name": "order_shipped", "language": "en_US", "params": {"body": ["Ada", "#1042"]}}


def meta(facts: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {facts['api_key']}"),)


async def send(client: httpx.AsyncClient, facts: dict[str, Any]) -> str:
    response = await client.post("/v1/messages", json={"to": "+14155550123", "template": UTILITY}, headers=auth(facts))
    assert response.status_code == 202, response.text
    message_id: str = response.json()["id"]
    return message_id


async def collect(
    stub: pb_grpc.MessagingServiceStub, facts: dict[str, Any], cursor: str, until: Any, timeout: float = 20
) -> list[pb.WatchMessageEventsResponse]:
    """Stream items from ``cursor`` until ``until(items)`` holds."""
    items: list[pb.WatchMessageEventsResponse] = []
    call = stub.WatchMessageEvents(pb.WatchMessageEventsRequest(cursor=cursor), metadata=meta(facts), timeout=timeout)
    async for item in call:
        items.append(item)
        if until(items):
            call.cancel()
            break
    return items


async def test_a_stream_resumed_from_its_cursor_skips_and_repeats_nothing(
    stack: Stack, client: httpx.AsyncClient, tenant: dict[str, Any]
) -> None:
    other = await new_tenant(stack)
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        stub = pb_grpc.MessagingServiceStub(channel)
        first_call = stub.WatchMessageEvents(pb.WatchMessageEventsRequest(), metadata=meta(tenant), timeout=20)
        await asyncio.sleep(0.5)  # the stream starts "now"
        message_id = await send(client, tenant)
        theirs = await send(client, other)
        first: list[pb.WatchMessageEventsResponse] = []
        async for item in first_call:
            first.append(item)
            if len(first) == 2:  # disconnect partway through the message's life
                first_call.cancel()
                break
        await wait_for_status(client, tenant, message_id, {"read"})
        listed = {e["id"] for e in await events_of(client, tenant, message_id)}
        seen = {i.event.id for i in first if i.HasField("event")}
        # Resume: the stream is in the order of the writing transactions, not in status order,
        # so read until every event the API lists has come.
        rest = await collect(
            stub,
            tenant,
            first[-1].cursor,
            lambda items: listed <= seen | {i.event.id for i in items if i.HasField("event")},
        )

    events = [i.event for i in first + rest if i.HasField("event")]
    assert {e.message_id for e in events} == {message_id}  # nothing of the other tenant's
    assert theirs not in {e.message_id for e in events}
    ids = [e.id for e in events]
    assert len(ids) == len(set(ids))  # nothing twice
    assert set(ids) <= {e["id"] for e in await events_of(client, tenant, message_id)}  # nothing made up
    assert listed <= set(ids)  # nothing skipped
    assert events[0].to_status == pb.MESSAGE_STATUS_QUEUED


async def events_of(client: httpx.AsyncClient, facts: dict[str, Any], message_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/messages/{message_id}/events", headers=auth(facts))
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def test_inbound_messages_come_on_the_stream(
    stack: Stack, client: httpx.AsyncClient, tenant: dict[str, Any]
) -> None:
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        stub = pb_grpc.MessagingServiceStub(channel)
        call = stub.WatchMessageEvents(pb.WatchMessageEventsRequest(), metadata=meta(tenant), timeout=20)
        await asyncio.sleep(0.5)
        body = notification(
            tenant,
            messages=[text_message("wamid.watch-1", "16315551181", "Still coming?", int(time.time()))],
            contacts=[contact("16315551181", "Ada")],
        )
        assert (await post_signed(client, tenant, body)).status_code == 200
        async for item in call:
            if item.HasField("inbound"):
                assert item.inbound.text == "Still coming?" and item.inbound.from_number == "+16315551181"
                call.cancel()
                break


async def test_a_bad_cursor_is_refused(stack: Stack, tenant: dict[str, Any]) -> None:
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        stub = pb_grpc.MessagingServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            async for _ in stub.WatchMessageEvents(
                pb.WatchMessageEventsRequest(cursor="not-a-cursor"), metadata=meta(tenant), timeout=5
            ):
                pass
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert ("cursor", "cursor") in violations(refused.value)
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            async for _ in stub.WatchMessageEvents(
                pb.WatchMessageEventsRequest(), metadata=(("authorization", "Bearer sb_nope_x"),), timeout=5
            ):
                pass
        assert unknown.value.code() == grpc.StatusCode.UNAUTHENTICATED
