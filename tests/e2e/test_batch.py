"""Batch submission: each message stored or refused on its own, replayable with one key."""

from __future__ import annotations

from typing import Any

import grpc
import httpx
from google.rpc import code_pb2
from switchboard.messaging.v1 import messaging_pb2 as pb
from switchboard.messaging.v1 import messaging_pb2_grpc as pb_grpc

from kernel.db import Pool
from tests.conftest import auth, wait_for_status
from tests.fixtures.stack import Stack

GOOD = {"to": "+14155550123", "text": {"body": "your table is ready"}}


async def test_a_batch_stores_the_good_messages_and_names_the_bad_one(
    client: httpx.AsyncClient, tenant: dict[str, Any]
) -> None:
    body = {"messages": [GOOD, {**GOOD, "to": "12"}, {**GOOD, "text": {"body": "second"}}]}
    response = await client.post("/v1/messages:batch", json=body, headers=auth(tenant))
    assert response.status_code == 200, response.text
    found = response.json()
    assert (found["accepted"], found["refused"]) == (2, 1)
    assert [r["status"] for r in found["results"]] == [202, 422, 202]
    bad = found["results"][1]
    assert bad["message"] is None and [e["field"] for e in bad["error"]["errors"]] == ["to"]
    assert bad["error"]["type"].endswith("/invalid-request")
    for result in (found["results"][0], found["results"][2]):
        await wait_for_status(client, tenant, result["message"]["id"], {"read"})
    listed = (await client.get("/v1/messages", headers=auth(tenant))).json()["data"]
    assert len(listed) == 2


async def test_retrying_a_batch_with_its_key_replays_each_message(
    client: httpx.AsyncClient, tenant: dict[str, Any]
) -> None:
    body = {"messages": [GOOD, {**GOOD, "to": "+14155550124"}]}
    headers = {**auth(tenant), "Idempotency-Key": "batch-7"}
    first = (await client.post("/v1/messages:batch", json=body, headers=headers)).json()
    again = (await client.post("/v1/messages:batch", json=body, headers=headers)).json()
    assert [r["created"] for r in first["results"]] == [True, True]
    assert [r["created"] for r in again["results"]] == [False, False]
    assert [r["message"]["id"] for r in again["results"]] == [r["message"]["id"] for r in first["results"]]
    assert len((await client.get("/v1/messages", headers=auth(tenant))).json()["data"]) == 2
    too_many = await client.post("/v1/messages:batch", json={"messages": [GOOD] * 1001}, headers=auth(tenant))
    assert too_many.status_code == 422 and too_many.json()["errors"][0]["field"] == "messages"


async def test_grpc_batch_gives_each_result_with_its_own_key(stack: Stack, tenant: dict[str, Any]) -> None:
    metadata = (("authorization", f"Bearer {tenant['api_key']}"),)
    requests = [
        pb.SendMessageRequest(to="+14155550123", text=pb.TextContent(body="hi"), idempotency_key="k1"),
        pb.SendMessageRequest(to="+14155550123", text=pb.TextContent(body="")),
    ]
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        stub = pb_grpc.MessagingServiceStub(channel)
        first = await stub.BatchSendMessages(pb.BatchSendMessagesRequest(requests=requests), metadata=metadata)
        again = await stub.BatchSendMessages(pb.BatchSendMessagesRequest(requests=requests[:1]), metadata=metadata)
    assert (first.accepted, first.refused) == (1, 1)
    stored, refused = first.results
    assert stored.created and stored.message.id and not stored.HasField("error")
    assert refused.error.code == code_pb2.INVALID_ARGUMENT and refused.error.reason == "INVALID"
    assert [v.field for v in refused.error.field_violations] == ["text.body"]
    assert not again.results[0].created and again.results[0].message.id == stored.message.id


async def test_grpc_items_sharing_a_key_store_one_message(stack: Stack, pool: Pool, tenant: dict[str, Any]) -> None:
    metadata = (("authorization", f"Bearer {tenant['api_key']}"),)
    hi = pb.SendMessageRequest(to="+14155550123", text=pb.TextContent(body="hi"), idempotency_key="same")
    other = pb.SendMessageRequest(to="+14155550123", text=pb.TextContent(body="other"), idempotency_key="same")
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        stub = pb_grpc.MessagingServiceStub(channel)
        found = await stub.BatchSendMessages(pb.BatchSendMessagesRequest(requests=[hi, hi, other]), metadata=metadata)
    first, replayed, reused = found.results
    assert first.created and not replayed.created and replayed.message.id == first.message.id
    assert reused.error.code == code_pb2.INVALID_ARGUMENT
    assert [v.field for v in reused.error.field_violations] == ["Idempotency-Key"]
    stored = await pool.fetchval("SELECT count(*) FROM messages WHERE tenant_id = $1::uuid", tenant["tenant_id"])
    assert stored == 1
