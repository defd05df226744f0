"""The Python client for tenant apps: against the real gRPC server, and against a server that is
briefly unavailable (retries that never send twice)."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from switchboard.messaging.v1 import messaging_pb2 as pb
from switchboard.messaging.v1 import messaging_pb2_grpc as pb_grpc
from switchboard.senders.v1 import senders_pb2 as senders_pb
from switchboard.templates.v1 import templates_pb2 as templates_pb

from switchboard_client import Client, InvalidArgument, NotFound, Unauthenticated, Unavailable
from tests.fixtures.stack import Stack


async def test_the_client_sends_follows_lists_and_types_its_errors(stack: Stack, tenant: dict[str, Any]) -> None:
    async with Client(stack.grpc_target, tenant["api_key"]) as client:
        message = await client.send_message(to="+14155550123", template="order_shipped", params=["Ada", "#1042"])
        again = await client.send_message(
            pb.SendMessageRequest(to="+14155550124", text=pb.TextContent(body="hi"), idempotency_key="k-1")
        )
        replayed = await client.send_message(
            pb.SendMessageRequest(to="+14155550124", text=pb.TextContent(body="hi"), idempotency_key="k-1")
        )
        assert replayed.id == again.id
        for _ in range(100):
            if (await client.get_message(message.id)).status == pb.MESSAGE_STATUS_READ:
                break
            await asyncio.sleep(0.1)
        assert (await client.get_message(message.id)).status == pb.MESSAGE_STATUS_READ
        listed = [m.id async for m in client.list_messages(page_size=1)]
        assert listed == [again.id, message.id]
        with pytest.raises(InvalidArgument) as invalid:
            await client.send_message(to="12", text="hi")
        assert [(v.field, v.reason) for v in invalid.value.violations] == [("to", "e164")]
        with pytest.raises(NotFound):
            await client.get_message("00000000-0000-0000-0000-000000000000")
        # The other services' stubs ride on the same channel, which carries the key on every call.
        templates = await client.templates.ListTemplates(templates_pb.ListTemplatesRequest())
        senders = await client.senders.ListSenders(senders_pb.ListSendersRequest())
        assert "order_shipped" in {t.name for t in templates.templates}
        assert [s.phone_number_id for s in senders.senders] == [tenant["phone_number_id"]]
    async with Client(stack.grpc_target, "sb_000000000000_nope") as stranger:
        with pytest.raises(Unauthenticated):
            await stranger.get_message(message.id)


class Flaky(pb_grpc.MessagingServiceServicer):
    """UNAVAILABLE for the first ``failures`` sends, then accepts; remembers each key it saw. Its
    GetMessage takes a second and remembers the authorization it was given."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.keys: list[str] = []
        self.authorizations: list[str] = []

    async def GetMessage(  # noqa: N802
        self, request: pb.GetMessageRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetMessageResponse:
        self.authorizations += [value for key, value in context.invocation_metadata() if key == "authorization"]
        await asyncio.sleep(1.0)
        return pb.GetMessageResponse(message=pb.Message(id=request.id))

    async def SendMessage(  # noqa: N802
        self, request: pb.SendMessageRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.SendMessageResponse:
        self.keys.append(request.idempotency_key)
        if len(self.keys) <= self.failures:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "restarting")
        return pb.SendMessageResponse(message=pb.Message(id="m-1", status=pb.MESSAGE_STATUS_QUEUED), created=True)


async def serve(servicer: Flaky) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server()
    pb_grpc.add_MessagingServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


async def test_a_send_is_retried_through_unavailable_with_one_idempotency_key() -> None:
    flaky = Flaky(failures=2)
    server, target = await serve(flaky)
    try:
        async with Client(target, "sb_000000000000_x", backoff=0.01) as client:
            message = await client.send_message(to="+14155550123", text="hi")
        assert message.id == "m-1"
        assert len(flaky.keys) == 3 and len(set(flaky.keys)) == 1 and flaky.keys[0].startswith("client-")
        down = Flaky(failures=10)
        await server.stop(None)
        server, target = await serve(down)
        async with Client(target, "sb_000000000000_x", retries=2, backoff=0.01) as client:
            with pytest.raises(Unavailable):
                await client.send_message(to="+14155550123", text="hi")
        assert len(down.keys) == 3  # the first try and two retries, then the error
    finally:
        await server.stop(None)


async def test_the_raw_stubs_carry_the_key_and_the_clients_deadline() -> None:
    server, target = await serve(flaky := Flaky(failures=0))
    try:
        async with Client(target, "sb_000000000000_x", timeout=0.2) as client:
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await client.messaging.GetMessage(pb.GetMessageRequest(id="m-1"))
            assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            # A deadline of the call's own wins over the client's.
            found = await client.messaging.GetMessage(pb.GetMessageRequest(id="m-2"), timeout=5)
            assert found.message.id == "m-2"
        assert flaky.authorizations == ["Bearer sb_000000000000_x"] * 2
    finally:
        await server.stop(None)
