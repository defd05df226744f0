"""REST adapter for a tenant's provider credentials. Secrets are write-only: no response carries one."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import State

from edge.rest import pool, principal, require_api_key, vault
from kernel.db import unit_of_work
from kernel.errors import parse_id
from tenants import service
from tenants.schemas import CredentialList, CredentialView, NewCredential

__all__ = ["CredentialController"]

AnyRequest = Request[Any, Any, State]


class CredentialController(Controller):
    path = "/v1/credentials"
    tags = ["credentials"]
    guards = [require_api_key]
    security = [{"apiKey": []}]

    @post(
        "/",
        status_code=201,
        summary="Add a provider credential (WhatsApp, SMS or email)",
        description="Secrets are sealed under the tenant's data key and never returned: responses show a "
        "fingerprint per secret. The first credential of a kind becomes its default.",
    )
    async def add_credential(self, request: AnyRequest, data: NewCredential) -> CredentialView:
        async with unit_of_work(pool(request)) as conn:
            return await service.add_credential(conn, vault(request), principal(request).tenant_id, data)

    @get("/", summary="List provider credentials (without secrets)")
    async def list_credentials(self, request: AnyRequest) -> CredentialList:
        async with pool(request).acquire() as conn:
            return await service.list_credentials(conn, principal(request).tenant_id)

    @get("/{credential_id:str}", summary="Get one provider credential (without secrets)")
    async def get_credential(self, request: AnyRequest, credential_id: str) -> CredentialView:
        async with pool(request).acquire() as conn:
            return await service.get_credential(
                conn, principal(request).tenant_id, parse_id(credential_id, "credential")
            )
