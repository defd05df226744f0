"""gRPC adapter for ``switchboard.templates.v1.TemplateService`` over the same service layer as
``/v1/templates``."""

from __future__ import annotations

from typing import Any, TypeAlias

import grpc
import msgspec
from switchboard.templates.v1 import templates_pb2 as pb
from switchboard.templates.v1 import templates_pb2_grpc as pb_grpc

from edge.rpc import authenticated, from_proto, to_proto, translate_errors
from kernel.db import Pool
from kernel.errors import parse_id
from tenants import service, templates
from tenants.domain import Template
from tenants.schemas import NewTemplate, TemplateView
from tenants.templates import GraphTemplates
from tenants.vault import Vault

__all__ = ["TemplateServicer"]

Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"


def _template(template: Template) -> pb.Template:
    return to_proto(msgspec.convert(template, TemplateView, from_attributes=True), pb.Template)


class TemplateServicer(pb_grpc.TemplateServiceServicer):
    def __init__(self, pool: Pool, vault: Vault, graph: GraphTemplates) -> None:
        self._pool = pool
        self._vault = vault
        self._graph = graph

    @translate_errors
    async def CreateTemplate(  # noqa: N802 (gRPC method names)
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
