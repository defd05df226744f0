"""send_at and cancellation: a scheduled message waits durably (a relay restart included), can be
canceled until it is sent, and never is once canceled; REST and gRPC agree."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from switchboard.messaging.v1 import messaging_pb2 as pb
from switchboard.messaging.v1 import messaging_pb2_grpc as pb_grpc

from tests.conftest import auth, new_tenant, wait_for_status
from tests.fixtures.rpc import violations
from tests.fixtures.stack import Stack

UTILITY = {"name": "order_shipped", "language": "en_US", "params": {"body": ["Ada", "#1042"]}}


def later(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def schedule(client: httpx.AsyncClient, facts: dict[str, Any], send_at: str, **extra: Any) -> httpx.Response:
    body = {"to": "+14155550123", "template": UTILITY, "send_at": send_at, **extra}
    return await client.post("/v1/messages", json=body, headers=auth(facts))


async def sends(client: httpx.AsyncClient, stack: Stack, message_id: str) -> int:
    response = await client.get(f"{stack.sandbox_url}/_sandbox/whatsapp/sends", params={"tracker": message_id})
    count: int = response.json()["count"]
    return count


async def test_a_scheduled_message_waits_until_its_time_then_goes(
    client: httpx.AsyncClient, stack: Stack, tenant: dict[str, Any]
) -> None:
    accepted = await schedule(client, tenant, later(2.5))
    assert accepted.status_code == 202, accepted.text
    message = accepted.json()
    assert message["status"] == "queued" and message["send_at"] is not None
    await asyncio.sleep(1.5)
    assert await sends(client, stack, message["id"]) == 0
    assert (await client.get(f"/v1/messages/{message['id']}", headers=auth(tenant))).json()["status"] == "queued"
    done = await wait_for_status(client, tenant, message["id"], {"read"})
    assert datetime.fromisoformat(done["send_at"]) <= datetime.now(UTC)
    assert await sends(client, stack, message["id"]) == 1
    events = (await client.get(f"/v1/messages/{message['id']}/events", headers=auth(tenant))).json()["data"]
    assert events[0]["detail"].startswith("scheduled for ")


async def test_a_schedule_survives_a_relay_restart(
    client: httpx.AsyncClient, stack: Stack, tenant: dict[str, Any]
) -> None:
    stack.stop_process("relay")
    try:
        accepted = await schedule(client, tenant, later(1))
        message_id = accepted.json()["id"]
        await asyncio.sleep(2)  # due while no relay runs
        assert await sends(client, stack, message_id) == 0
    finally:
        stack.start_process("relay")
    await wait_for_status(client, tenant, message_id, {"read"})
    assert await sends(client, stack, message_id) == 1


async def test_a_canceled_message_is_never_sent(
    client: httpx.AsyncClient, stack: Stack, tenant: dict[str, Any]
) -> None:
    message_id = (await schedule(client, tenant, later(1.5))).json()["id"]
    canceled = await client.post(f"/v1/messages/{message_id}/cancel", headers=auth(tenant))
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["status"] == "failed" and canceled.json()["error"]["reason"] == "canceled"
    await asyncio.sleep(2.5)
    assert await sends(client, stack, message_id) == 0
    again = await client.post(f"/v1/messages/{message_id}/cancel", headers=auth(tenant))
    assert again.status_code == 409 and again.json()["reason"] == "NOT_CANCELABLE"
    dead = (await client.get("/v1/dead-letters", headers=auth(tenant))).json()["data"]
    assert message_id not in [d["message"]["id"] for d in dead]  # canceled is not a dead letter
    events = (await client.get(f"/v1/messages/{message_id}/events", headers=auth(tenant))).json()["data"]
    assert (events[-1]["outcome"], events[-1]["source"]) == ("canceled", "api")


async def test_a_sent_message_cannot_be_canceled_and_others_answer_404(
    client: httpx.AsyncClient, stack: Stack, tenant: dict[str, Any]
) -> None:
    sent = await client.post("/v1/messages", json={"to": "+14155550123", "template": UTILITY}, headers=auth(tenant))
    await wait_for_status(client, tenant, sent.json()["id"], {"read"})
    refused = await client.post(f"/v1/messages/{sent.json()['id']}/cancel", headers=auth(tenant))
    assert refused.status_code == 409 and "read" in refused.json()["detail"]
    other = await new_tenant(stack)
    theirs = (await schedule(client, other, later(60))).json()["id"]
    assert (await client.post(f"/v1/messages/{theirs}/cancel", headers=auth(tenant))).status_code == 404
    assert (await client.post(f"/v1/messages/{theirs}/cancel", headers=auth(other))).status_code == 200


@pytest.mark.parametrize(
    ("send_at", "rule"),
    [
        ((datetime.now(UTC) + timedelta(days=31)).isoformat(), "max_ahead"),
        ((datetime.now(UTC) - timedelta(hours=1)).isoformat(), "past"),
        ("2026-12-24T09:00:00", "timezone"),
    ],
)
async def test_a_bad_send_at_is_refused_and_stores_nothing(
    client: httpx.AsyncClient, tenant: dict[str, Any], send_at: str, rule: str
) -> None:
    refused = await schedule(client, tenant, send_at)
    assert refused.status_code == 422
    assert [(e["field"], e["rule"]) for e in refused.json()["errors"]] == [("send_at", rule)]
    listed = (await client.get("/v1/messages", headers=auth(tenant))).json()["data"]
    assert listed == []


async def test_grpc_schedules_and_cancels_with_the_same_rules(
    stack: Stack, client: httpx.AsyncClient, tenant: dict[str, Any]
) -> None:
    meta = (("authorization", f"Bearer {tenant['api_key']}"),)
    when = Timestamp()
    when.FromDatetime(datetime.now(UTC) + timedelta(minutes=10))
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        stub = pb_grpc.MessagingServiceStub(channel)
        template = pb.TemplateContent(
            name="order_shipped", language="en_US", params=pb.TemplateParams(body=["Ada", "#1042"])
        )
        sent = await stub.SendMessage(
            pb.SendMessageRequest(to="+14155550123", template=template, send_time=when), metadata=meta
        )
        assert sent.message.HasField("send_time") and sent.message.status == pb.MESSAGE_STATUS_QUEUED
        rest = (await client.get(f"/v1/messages/{sent.message.id}", headers=auth(tenant))).json()
        assert datetime.fromisoformat(rest["send_at"]) == sent.message.send_time.ToDatetime(tzinfo=UTC)
        canceled = await stub.CancelMessage(pb.CancelMessageRequest(id=sent.message.id), metadata=meta)
        assert canceled.message.status == pb.MESSAGE_STATUS_FAILED and canceled.message.error.reason == "canceled"
        with pytest.raises(grpc.aio.AioRpcError) as again:
            await stub.CancelMessage(pb.CancelMessageRequest(id=sent.message.id), metadata=meta)
        assert again.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        far = Timestamp()
        far.FromDatetime(datetime.now(UTC) + timedelta(days=40))
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await stub.SendMessage(
                pb.SendMessageRequest(to="+14155550123", template=template, send_time=far), metadata=meta
            )
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert ("send_at", "max_ahead") in violations(bad.value)
