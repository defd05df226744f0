"""gRPC adapter for ``switchboard.senders.v1.SenderService`` over the same service layer as
``/v1/senders``."""

from __future__ import annotations

from typing import Any, TypeAlias

import grpc
import msgspec
from switchboard.senders.v1 import senders_pb2 as pb
from switchboard.senders.v1 import senders_pb2_grpc as pb_grpc

from edge.rpc import authenticated, from_proto, to_proto, translate_errors
from kernel.db import Pool, unit_of_work
from kernel.errors import parse_id
from tenants import service
from tenants.domain import Sender
from tenants.schemas import NewSender, SenderView

__all__ = ["SenderServicer"]

Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"


def _sender(sender: Sender) -> pb.Sender:
    return to_proto(msgspec.convert(sender, SenderView, from_attributes=True), pb.Sender)


class SenderServicer(pb_grpc.SenderServiceServicer):
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    @translate_errors
    async def CreateSender(  # noqa: N802 (gRPC method names)
        self, request: pb.CreateSenderRequest, context: Context
    ) -> pb.CreateSenderResponse:
        principal = await authenticated(self._pool, context)
        new = from_proto(request, NewSender)
        async with unit_of_work(self._pool) as conn:
            added = await service.create_sender(conn, principal.tenant_id, new)
        return pb.CreateSenderResponse(sender=_sender(added))

    @translate_errors
    async def ListSenders(self, request: pb.ListSendersRequest, context: Context) -> pb.ListSendersResponse:  # noqa: N802
        principal = await authenticated(self._pool, context)
        async with self._pool.acquire() as conn:
            found = await service.list_senders(conn, principal.tenant_id)
        return pb.ListSendersResponse(senders=[_sender(s) for s in found])

    @translate_errors
    async def GetSender(self, request: pb.GetSenderRequest, context: Context) -> pb.GetSenderResponse:  # noqa: N802
        principal = await authenticated(self._pool, context)
        async with self._pool.acquire() as conn:
            found = await service.get_sender(conn, principal.tenant_id, parse_id(request.id, "sender"))
        return pb.GetSenderResponse(sender=_sender(found))
