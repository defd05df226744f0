"""REST adapter for a tenant's provider credentials. Secrets are write-only: no response carries one."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import State

from edge.idempotency import IdempotentCreate
from edge.rest import pool, principal, require_api_key, vault
from kernel.db import unit_of_work
from kernel.errors import parse_id
from tenants import service, templates
from tenants.connection_check import ConnectionCheck, check_credential
from tenants.domain import Sender, Template
from tenants.schemas import (
    CredentialList,
    CredentialView,
    NewCredential,
    NewSender,
    NewTemplate,
    SenderList,
    SenderView,
    SyncResult,
    TemplateList,
    TemplateView,
)
from tenants.templates import GraphTemplates

__all__ = ["CredentialController", "SenderController", "TemplateController", "graph_templates", "provider_urls"]

AnyRequest = Request[Any, Any, State]


class CredentialController(Controller):
    path = "/v1/credentials"
    tags = ["credentials"]
    guards = [require_api_key]
    security = [{"apiKey": []}]

    @post(
        "/",
        status_code=201,
        middleware=[IdempotentCreate()],
        summary="Add a provider credential (WhatsApp, SMS or email)",
        description="Secrets are sealed under the tenant's data key and never returned: responses show a "
        "fingerprint per secret. The first credential of a kind becomes its default.",
    )
    async def add_credential(self, request: AnyRequest, data: NewCredential) -> CredentialView:
        async with unit_of_work(pool(request)) as conn:
            return await service.add_credential(conn, vault(request), principal(request).tenant_id, data)

    @get("/", summary="List provider credentials (without secrets)")
    async def list_credentials(self, request: AnyRequest) -> CredentialList:
        """Each credential's kind, name, settings and a fingerprint per secret; secrets never come back."""
        async with pool(request).acquire() as conn:
            return await service.list_credentials(conn, principal(request).tenant_id)

    @post(
        "/{credential_id:str}/test",
        status_code=200,
        summary="Test a credential with the provider, sending nothing",
        description="Meta: reads one of the account's templates; Twilio: reads the account; SMTP: connects, "
        "logs in, NOOP. ok false with the provider's answer when it refuses.",
    )
    async def test_credential(self, request: AnyRequest, credential_id: str) -> ConnectionCheck:
        async with pool(request).acquire() as conn:
            return await check_credential(
                conn,
                vault(request),
                principal(request).tenant_id,
                parse_id(credential_id, "credential"),
                **provider_urls(request),
            )

    @get("/{credential_id:str}", summary="Get one provider credential (without secrets)")
    async def get_credential(self, request: AnyRequest, credential_id: str) -> CredentialView:
        """Settings and a fingerprint per secret; the secrets themselves never come back."""
        async with pool(request).acquire() as conn:
            return await service.get_credential(
                conn, principal(request).tenant_id, parse_id(credential_id, "credential")
            )


def provider_urls(request: AnyRequest) -> dict[str, str]:
    """Where the providers are (Meta's Graph API and Twilio, or the sandbox)."""
    found: dict[str, str] = request.app.state.provider_urls
    return found


def graph_templates(request: AnyRequest) -> GraphTemplates:
    """The process's Graph API template client (created in the app's lifespan)."""
    found: GraphTemplates = request.app.state.graph_templates
    return found


def _view(t: Template) -> TemplateView:
    return msgspec.convert(t, TemplateView, from_attributes=True)


class TemplateController(Controller):
    path = "/v1/templates"
    tags = ["templates"]
    guards = [require_api_key]
    security = [{"apiKey": []}]

    @get("/", summary="List the tenant's message templates with their current status")
    async def list_templates(self, request: AnyRequest) -> TemplateList:
        """Every template of the tenant's WhatsApp accounts, whatever its status (as of the last
        sync or status webhook)."""
        async with pool(request).acquire() as conn:
            found = await service.list_templates(conn, principal(request).tenant_id)
        return TemplateList(data=[_view(t) for t in found])

    @get("/{template_id:str}", summary="Get one of the tenant's message templates")
    async def get_template(self, request: AnyRequest, template_id: str) -> TemplateView:
        """Its status, category, parameter format and Meta's components."""
        async with pool(request).acquire() as conn:
            found = await service.get_template(conn, principal(request).tenant_id, parse_id(template_id, "template"))
        return _view(found)

    @post(
        "/",
        status_code=201,
        middleware=[IdempotentCreate()],
        summary="Create a template and submit it to Meta for review",
        description="Kept with the status Meta answers (APPROVED, PENDING or REJECTED); later changes arrive "
        "by webhook and by sync. Only APPROVED templates can be sent.",
    )
    async def create_template(self, request: AnyRequest, data: NewTemplate) -> TemplateView:
        created = await templates.create_template(
            pool(request), vault(request), graph_templates(request), principal(request).tenant_id, data
        )
        return _view(created)

    @post("/sync", status_code=200, summary="Fetch the tenant's templates from Meta now (all pages)")
    async def sync(self, request: AnyRequest) -> SyncResult:
        """Reads every page of Meta's template list for each of the tenant's accounts; templates
        Meta no longer lists become DELETED. Answers how many were listed and retired."""
        done = await templates.sync_templates(
            pool(request), vault(request), graph_templates(request), principal(request).tenant_id
        )
        return SyncResult(listed=done.listed, retired=done.retired)


def _sender_view(s: Sender) -> SenderView:
    return msgspec.convert(s, SenderView, from_attributes=True)


class SenderController(Controller):
    path = "/v1/senders"
    tags = ["senders"]
    guards = [require_api_key]
    security = [{"apiKey": []}]

    @post(
        "/",
        status_code=201,
        middleware=[IdempotentCreate()],
        summary="Add a WhatsApp number to send from",
        description="A phone_number_id belongs to at most one tenant (409 otherwise). Messages that name no "
        "sender go out from the default number.",
    )
    async def add_sender(self, request: AnyRequest, data: NewSender) -> SenderView:
        async with unit_of_work(pool(request)) as conn:
            added = await service.create_sender(conn, principal(request).tenant_id, data)
        return _sender_view(added)

    @get("/", summary="List the tenant's WhatsApp numbers, the default first")
    async def list_senders(self, request: AnyRequest) -> SenderList:
        """Each number with its Meta quality rating, messaging tier and throughput."""
        async with pool(request).acquire() as conn:
            found = await service.list_senders(conn, principal(request).tenant_id)
        return SenderList(data=[_sender_view(s) for s in found])

    @get("/{sender_id:str}", summary="Get one of the tenant's WhatsApp numbers")
    async def get_sender(self, request: AnyRequest, sender_id: str) -> SenderView:
        """Its Meta quality rating, messaging tier, throughput and whether it is the default."""
        async with pool(request).acquire() as conn:
            found = await service.get_sender(conn, principal(request).tenant_id, parse_id(sender_id, "sender"))
        return _sender_view(found)
