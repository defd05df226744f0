"""The template registry kept in step with Meta: sync (list with paging), and create-and-submit.

Meta is the source of truth for a template's status and components. A sync fetches every page of
``GET /{waba-id}/message_templates``, upserts what it lists and marks DELETED what it no longer
lists; between syncs, status webhooks keep statuses current (see webhooks.parsing). The HTTP calls
happen outside any database transaction; only the writes that follow are one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx

from kernel.db import Pool, unit_of_work
from kernel.errors import ErrorKind, InvalidInput, NotFound, SwitchboardError
from tenants import repository, service
from tenants.domain import Template
from tenants.schemas import NewTemplate
from tenants.vault import Vault

__all__ = ["GraphTemplates", "Synced", "create_template", "sync_all", "sync_templates"]

log = logging.getLogger("switchboard.templates")

PAGE = 100


class GraphTemplates:
    """Graph API calls for a WABA's message templates (``SWITCHBOARD_GRAPH_URL``: Meta or the sandbox)."""

    def __init__(self, graph_url: str, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._graph_url = graph_url.rstrip("/")
        self._transport = transport

    def _client(self, token: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self._graph_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            transport=self._transport,
        )

    async def list_all(self, version: str, waba_id: str, token: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": PAGE}
        async with self._client(token) as http:
            while True:
                page = _checked(await http.get(f"/{version}/{waba_id}/message_templates", params=params))
                found.extend(page.get("data", []))
                paging = page.get("paging", {})
                if not paging.get("next"):
                    return found
                params = {"limit": PAGE, "after": paging["cursors"]["after"]}

    async def create(self, version: str, waba_id: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self._client(token) as http:
            return _checked(await http.post(f"/{version}/{waba_id}/message_templates", json=body))


def _checked(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json() if response.content else {}
    if response.is_success:
        return body
    error = body.get("error", {})
    message = f"WhatsApp refused: ({error.get('code')}) {error.get('message', response.reason_phrase)}"
    if response.status_code in (401, 403):
        raise SwitchboardError(message, kind=ErrorKind.PERMISSION_DENIED, reason="PROVIDER_CREDENTIALS")
    if response.status_code == 400:
        raise InvalidInput("template", "provider", message)
    raise SwitchboardError(message, kind=ErrorKind.UNAVAILABLE, reason="PROVIDER_UNAVAILABLE")


@dataclass(frozen=True, slots=True)
class Synced:
    listed: int
    retired: int


async def _accounts(pool: Pool, vault: Vault, tenant_id: UUID | None) -> list[tuple[UUID, str, str, str]]:
    """(tenant id, WABA id, Graph API version, access token) per WhatsApp credential."""
    accounts = []
    async with pool.acquire() as conn:
        for row in await repository.whatsapp_accounts(conn, tenant_id):
            secrets = await vault.open(conn, row["tenant_id"], "whatsapp", row["id"], row["sealed_secrets"])
            config = row["config"]
            accounts.append(
                (row["tenant_id"], config["waba_id"], config.get("graph_api_version", "v23.0"), secrets["access_token"])
            )
    return accounts


async def sync_templates(pool: Pool, vault: Vault, graph: GraphTemplates, tenant_id: UUID) -> Synced:
    listed = retired = 0
    for _, waba_id, version, token in await _accounts(pool, vault, tenant_id):
        templates = await graph.list_all(version, waba_id, token)
        async with unit_of_work(pool) as conn:
            for t in templates:
                await service.put_template(
                    conn,
                    tenant_id,
                    waba_id=waba_id,
                    name=t["name"],
                    language=t["language"],
                    category=str(t.get("category", "UTILITY")),
                    status=str(t.get("status", "PENDING")),
                    components=t.get("components", []),
                    parameter_format=str(t.get("parameter_format", "POSITIONAL")),
                )
            retired += await repository.retire_templates_not_in(
                conn, tenant_id, waba_id, [(t["name"], t["language"]) for t in templates]
            )
        listed += len(templates)
    return Synced(listed, retired)


async def sync_all(pool: Pool, vault: Vault, graph: GraphTemplates) -> int:
    """Every tenant's templates (the scheduled job); a tenant whose sync fails is logged and skipped."""
    tenants = sorted({account[0] for account in await _accounts(pool, vault, None)})
    done = 0
    for tenant_id in tenants:
        try:
            done += (await sync_templates(pool, vault, graph, tenant_id)).listed
        except (SwitchboardError, httpx.HTTPError) as error:
            log.warning("template sync failed", extra={"fields": {"tenant_id": str(tenant_id), "error": str(error)}})
    return done


async def create_template(
    pool: Pool, vault: Vault, graph: GraphTemplates, tenant_id: UUID, new: NewTemplate
) -> Template:
    """Submit a template to Meta for review under the tenant's default WhatsApp account, and keep
    it with the status Meta gave it (APPROVED, PENDING or REJECTED)."""
    accounts = await _accounts(pool, vault, tenant_id)
    if not accounts:
        raise NotFound("this tenant has no WhatsApp account to submit templates to")
    _, waba_id, version, token = accounts[0]  # the default comes first
    components = [dict(c) for c in new.components]
    body = {
        "name": new.name,
        "language": new.language,
        "category": new.category,
        "parameter_format": new.parameter_format,
        "components": components,
    }
    created = await graph.create(version, waba_id, token, body)
    async with unit_of_work(pool) as conn:
        return await service.put_template(
            conn,
            tenant_id,
            waba_id=waba_id,
            name=new.name,
            language=new.language,
            category=str(created.get("category", new.category)),
            status=str(created.get("status", "PENDING")),
            components=components,
            parameter_format=new.parameter_format,
        )
