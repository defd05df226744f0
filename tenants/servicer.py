"""gRPC adapter for ``switchboard.tenants.v1.TenantService`` (credentials) over the same service
layer as REST.

Requests are decoded into the REST schemas (:func:`edge.rpc.from_proto`), so both edges apply the
same rules and name the same fields; views go back out by field name (:func:`edge.rpc.to_proto`).
"""

from __future__ import annotations

from typing import Any, TypeAlias, TypeVar

import grpc
from google.protobuf.message import Message
from switchboard.senders.v1 import senders_pb2 as senders_pb
from switchboard.templates.v1 import templates_pb2 as templates_pb
from switchboard.tenants.v1 import tenants_pb2 as pb
from switchboard.tenants.v1 import tenants_pb2_grpc as pb_grpc

from edge.rpc import authenticated, from_proto, to_proto, translate_errors
from kernel.db import Pool, unit_of_work
from kernel.errors import InvalidInput, parse_id
from tenants import service
from tenants.schemas import NewCredential
from tenants.senders_servicer import SenderServicer
from tenants.templates import GraphTemplates
from tenants.templates_servicer import TemplateServicer
from tenants.vault import Vault

__all__ = ["TenantServicer"]

Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"


M = TypeVar("M", bound=Message)


def _as(message: Message, kind: type[M]) -> M:
    """The same message as another type with the same fields and numbers."""
    return kind.FromString(message.SerializeToString())


class TenantServicer(pb_grpc.TenantServiceServicer):
    def __init__(self, pool: Pool, vault: Vault, graph: GraphTemplates) -> None:
        self._pool = pool
        self._vault = vault
        self._senders = SenderServicer(pool)
        self._templates = TemplateServicer(pool, vault, graph)

    @translate_errors
    async def CreateCredential(  # noqa: N802 (gRPC method names)
        self, request: pb.CreateCredentialRequest, context: Context
    ) -> pb.CreateCredentialResponse:
        principal = await authenticated(self._pool, context)
        kind = request.WhichOneof("kind")
        if kind is None:
            raise InvalidInput("kind", "required", "set one of whatsapp, sms or email")
        new: NewCredential = from_proto(getattr(request, kind), NewCredential, kind=kind)  # type: ignore[arg-type]
        async with unit_of_work(self._pool) as conn:
            added = await service.add_credential(conn, self._vault, principal.tenant_id, new)
        return pb.CreateCredentialResponse(credential=to_proto(added, pb.Credential))

    @translate_errors
    async def ListCredentials(  # noqa: N802
        self, request: pb.ListCredentialsRequest, context: Context
    ) -> pb.ListCredentialsResponse:
        principal = await authenticated(self._pool, context)
        async with self._pool.acquire() as conn:
            found = await service.list_credentials(conn, principal.tenant_id)
        return pb.ListCredentialsResponse(credentials=[to_proto(c, pb.Credential) for c in found.data])

    @translate_errors
    async def GetCredential(  # noqa: N802
        self, request: pb.GetCredentialRequest, context: Context
    ) -> pb.GetCredentialResponse:
        principal = await authenticated(self._pool, context)
        async with self._pool.acquire() as conn:
            found = await service.get_credential(conn, principal.tenant_id, parse_id(request.id, "credential"))
        return pb.GetCredentialResponse(credential=to_proto(found, pb.Credential))

    # The deprecated sender and template calls: the same messages, field for field, as
    # SenderService's and TemplateService's, so each is passed through on the wire format.

    async def CreateSender(self, request: pb.CreateSenderRequest, context: Context) -> pb.CreateSenderResponse:  # noqa: N802
        answer = await self._senders.CreateSender(_as(request, senders_pb.CreateSenderRequest), context)
        return _as(answer, pb.CreateSenderResponse)

    async def ListSenders(self, request: pb.ListSendersRequest, context: Context) -> pb.ListSendersResponse:  # noqa: N802
        answer = await self._senders.ListSenders(_as(request, senders_pb.ListSendersRequest), context)
        return _as(answer, pb.ListSendersResponse)

    async def GetSender(self, request: pb.GetSenderRequest, context: Context) -> pb.GetSenderResponse:  # noqa: N802
        answer = await self._senders.GetSender(_as(request, senders_pb.GetSenderRequest), context)
        return _as(answer, pb.GetSenderResponse)

    async def CreateTemplate(self, request: pb.CreateTemplateRequest, context: Context) -> pb.CreateTemplateResponse:  # noqa: N802
        answer = await self._templates.CreateTemplate(_as(request, templates_pb.CreateTemplateRequest), context)
        return _as(answer, pb.CreateTemplateResponse)

    async def ListTemplates(self, request: pb.ListTemplatesRequest, context: Context) -> pb.ListTemplatesResponse:  # noqa: N802
        answer = await self._templates.ListTemplates(_as(request, templates_pb.ListTemplatesRequest), context)
        return _as(answer, pb.ListTemplatesResponse)

    async def GetTemplate(self, request: pb.GetTemplateRequest, context: Context) -> pb.GetTemplateResponse:  # noqa: N802
        answer = await self._templates.GetTemplate(_as(request, templates_pb.GetTemplateRequest), context)
        return _as(answer, pb.GetTemplateResponse)

    async def SyncTemplates(self, request: pb.SyncTemplatesRequest, context: Context) -> pb.SyncTemplatesResponse:  # noqa: N802
        answer = await self._templates.SyncTemplates(_as(request, templates_pb.SyncTemplatesRequest), context)
        return _as(answer, pb.SyncTemplatesResponse)
