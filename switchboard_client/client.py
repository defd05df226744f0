"""The client: one gRPC channel, the API key on every call, a deadline on every call, and retries
that cannot send twice.

Retries happen on UNAVAILABLE (the server could not be reached or is restarting), with full
jitter backoff, and only for calls that are safe to repeat: reads, and sends that carry an
idempotency key. :meth:`Client.send_message` gives every send a key unless the caller did, so
a retried send replays the stored message instead of sending another.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any, TypeVar

import grpc
from switchboard.billing.v1 import billing_pb2, billing_pb2_grpc
from switchboard.messaging.v1 import messaging_pb2 as pb
from switchboard.messaging.v1 import messaging_pb2_grpc
from switchboard.senders.v1 import senders_pb2_grpc
from switchboard.templates.v1 import templates_pb2_grpc
from switchboard.webhooks.v1 import webhooks_pb2_grpc

from switchboard_client.auth import AuthInterceptor
from switchboard_client.errors import from_rpc_error

__all__ = ["Client"]

R = TypeVar("R")


class Client:
    def __init__(
        self,
        target: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        retries: int = 4,
        backoff: float = 0.2,
        channel: grpc.aio.Channel | None = None,
    ) -> None:
        """``target``: host:port of the gRPC server; ``timeout``: each call's deadline in seconds;
        ``retries``: how many more tries after an UNAVAILABLE; ``backoff``: the first retry's
        maximum wait, doubling each time."""
        # A channel given by the caller carries no interceptor: the typed methods still send the
        # key and deadline themselves, the raw stubs need them passed.
        self._channel = channel or grpc.aio.insecure_channel(target, interceptors=[AuthInterceptor(api_key, timeout)])
        self._metadata = (("authorization", f"Bearer {api_key}"),)
        self._timeout, self._retries, self._backoff = timeout, retries, backoff
        self.messaging = messaging_pb2_grpc.MessagingServiceStub(self._channel)
        self.billing = billing_pb2_grpc.BillingServiceStub(self._channel)
        self.templates = templates_pb2_grpc.TemplateServiceStub(self._channel)
        self.senders = senders_pb2_grpc.SenderServiceStub(self._channel)
        self.webhook_endpoints = webhooks_pb2_grpc.WebhookEndpointServiceStub(self._channel)

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close()

    async def _call(self, method: Callable[..., Awaitable[R]], request: Any, *, safe: bool) -> R:
        for attempt in range(self._retries + 1):
            try:
                return await method(request, metadata=self._metadata, timeout=self._timeout)
            except grpc.aio.AioRpcError as error:
                last = attempt == self._retries
                if not safe or last or error.code() is not grpc.StatusCode.UNAVAILABLE:
                    raise from_rpc_error(error) from None
            await asyncio.sleep(random.uniform(0, self._backoff * 2**attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    async def send_message(
        self,
        request: pb.SendMessageRequest | None = None,
        *,
        to: str | None = None,
        text: str | None = None,
        template: str | None = None,
        language: str = "en_US",
        params: Sequence[str] = (),
        idempotency_key: str | None = None,
    ) -> pb.Message:
        """Submit one message: a full ``SendMessageRequest``, or ``to`` with ``text`` or a
        ``template`` name (and its body ``params``). Returns it as stored (``QUEUED``)."""
        if request is None:
            request = pb.SendMessageRequest(to=to or "")
            if template is not None:
                request.template.CopyFrom(
                    pb.TemplateContent(name=template, language=language, params=pb.TemplateParams(body=list(params)))
                )
            else:
                request.text.body = text or ""
        if not request.idempotency_key:
            request.idempotency_key = idempotency_key or f"client-{uuid.uuid4()}"
        response: pb.SendMessageResponse = await self._call(self.messaging.SendMessage, request, safe=True)
        return response.message

    async def get_message(self, message_id: str) -> pb.Message:
        response: pb.GetMessageResponse = await self._call(
            self.messaging.GetMessage, pb.GetMessageRequest(id=message_id), safe=True
        )
        return response.message

    async def list_messages(self, *, to: str = "", page_size: int = 50) -> AsyncIterator[pb.Message]:
        """Every message (to ``to``, if given), newest first, page by page."""
        token = ""
        while True:
            page: pb.ListMessagesResponse = await self._call(
                self.messaging.ListMessages,
                pb.ListMessagesRequest(to=to, page_size=page_size, page_token=token),
                safe=True,
            )
            for message in page.messages:
                yield message
            token = page.next_page_token
            if not token:
                return

    async def estimate(self, request: pb.SendMessageRequest) -> billing_pb2.EstimateMessageCostResponse:
        """What the message would cost on each channel of its route, without sending it."""
        response: billing_pb2.EstimateMessageCostResponse = await self._call(
            self.billing.EstimateMessageCost, billing_pb2.EstimateMessageCostRequest(message=request), safe=True
        )
        return response
