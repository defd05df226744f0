"""gRPC adapter for ``switchboard.tenants.v1.TenantService`` over the same service layer as REST.

Requests are decoded into the REST schemas (:func:`edge.rpc.from_proto`), so both edges apply the
same rules and name the same fields; views go back out by field name (:func:`edge.rpc.to_proto`).
"""

from __future__ import annotations

from typing import Any, TypeAlias

import grpc
import msgspec
from switchboard.tenants.v1 import tenants_pb2 as pb
from switchboard.tenants.v1 import tenants_pb2_grpc as pb_grpc

from edge.rpc import authenticated, from_proto, to_proto, translate_errors
from kernel.db import Pool, unit_of_work
from kernel.errors import InvalidInput, parse_id
from tenants import service, templates
from tenants.domain import Sender, Template
from tenants.schemas import NewCredential, NewSender, NewTemplate, SenderView, TemplateView
from tenants.templates import GraphTemplates
from tenants.vault import Vault

__all__ = ["TenantServicer"]

Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"


def _sender(sender: Sender) -> pb.Sender:
    return to_proto(msgspec.convert(sender, SenderView, from_attributes=True), pb.Sender)


def _template(template: Template) -> pb.Template:
    return to_proto(msgspec.convert(template, TemplateView, from_attributes=True), pb.Template)


class TenantServicer(pb_grpc.TenantServiceServicer):
    def __init__(self, pool: Pool, vault: Vault, graph: GraphTemplates) -> None:
        self._pool = pool
        self._vault = vault
        self._graph = graph

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

    @translate_errors
    async def CreateSender(  # noqa: N802
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

    @translate_errors
    async def CreateTemplate(  # noqa: N802
        self, request: pb.CreateTemplateRequest, context: Context
    ) -> pb.CreateTemplateResponse:
        principal = await authenticated(self._pool, context)
        new = from_proto(request, NewTemplate)
        created = await templates.create_template(self._pool, self._vault, self._graph, principal.tenant_id, new)
        return pb.CreateTemplateResponse(template=_template(created))

    @translate_errors
    async def ListTemplates(  # noqa: N802
        self, request: pb.ListTemplatesRequest, context: Context
    ) -> pb.ListTemplatesResponse:
        principal = await authenticated(self._pool, context)
        async with self._pool.acquire() as conn:
            found = await service.list_templates(conn, principal.tenant_id)
        return pb.ListTemplatesResponse(templates=[_template(t) for t in found])

    @translate_errors
    async def GetTemplate(self, request: pb.GetTemplateRequest, context: Context) -> pb.GetTemplateResponse:  # noqa: N802
        principal = await authenticated(self._pool, context)
        async with self._pool.acquire() as conn:
            found = await service.get_template(conn, principal.tenant_id, parse_id(request.id, "template"))
        return pb.GetTemplateResponse(template=_template(found))

    @translate_errors
    async def SyncTemplates(  # noqa: N802
        self, request: pb.SyncTemplatesRequest, context: Context
    ) -> pb.SyncTemplatesResponse:
        principal = await authenticated(self._pool, context)
        done = await templates.sync_templates(self._pool, self._vault, self._graph, principal.tenant_id)
        return pb.SyncTemplatesResponse(listed=done.listed, retired=done.retired)
