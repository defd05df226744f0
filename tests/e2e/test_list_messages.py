"""Listing messages: REST and gRPC give the same pages for the same filters."""

from __future__ import annotations

from typing import Any

import grpc
import httpx
import pytest
from switchboard.messaging.v1 import messaging_pb2 as pb
from switchboard.messaging.v1 import messaging_pb2_grpc as pb_grpc

from tests.conftest import auth, new_tenant
from tests.fixtures.rpc import violations
from tests.fixtures.stack import Stack


async def test_rest_and_grpc_list_the_same_messages_page_by_page(
    client: httpx.AsyncClient, stack: Stack, tenant: dict[str, Any]
) -> None:
    sent = []
    for to in ("+14155550123", "+14155550124", "+14155550123"):
        response = await client.post("/v1/messages", json={"to": to, "text": {"body": "hi"}}, headers=auth(tenant))
        assert response.status_code == 202
        sent.append(response.json()["id"])
    over_rest = (await client.get("/v1/messages", params={"to": "+14155550123"}, headers=auth(tenant))).json()
    assert [m["id"] for m in over_rest["data"]] == [sent[2], sent[0]]  # newest first
    metadata = (("authorization", f"Bearer {tenant['api_key']}"),)
    other = await new_tenant(stack)
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        stub = pb_grpc.MessagingServiceStub(channel)
        first = await stub.ListMessages(pb.ListMessagesRequest(to="+14155550123", page_size=1), metadata=metadata)
        second = await stub.ListMessages(
            pb.ListMessagesRequest(to="+14155550123", page_size=1, page_token=first.next_page_token), metadata=metadata
        )
        everything = await stub.ListMessages(pb.ListMessagesRequest(), metadata=metadata)
        theirs = await stub.ListMessages(
            pb.ListMessagesRequest(), metadata=(("authorization", f"Bearer {other['api_key']}"),)
        )
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.ListMessages(pb.ListMessagesRequest(to="12"), metadata=metadata)
    assert [m.id for m in (*first.messages, *second.messages)] == [sent[2], sent[0]]
    assert second.next_page_token == ""
    assert sorted(m.id for m in everything.messages) == sorted(sent)
    assert list(theirs.messages) == []  # another tenant sees none of them
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(refused.value) == {("to", "e164")}
