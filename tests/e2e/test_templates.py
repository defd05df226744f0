"""The template registry follows Meta: sync through every page, create and submit for review."""

from __future__ import annotations

from typing import Any

import httpx

from entrypoints.dev import DEMO_TEMPLATE
from tests.conftest import auth, new_tenant
from tests.fixtures.stack import Stack


def template(name: str, status: str = "APPROVED") -> dict[str, Any]:
    body = {"type": "BODY", "text": "Hello {{1}}"}
    return {"name": name, "language": "en_US", "category": "MARKETING", "status": status, "components": [body]}


async def seed(stack: Stack, facts: dict[str, Any], templates: list[dict[str, Any]]) -> None:
    async with httpx.AsyncClient(base_url=stack.sandbox_url) as sandbox:
        response = await sandbox.put(f"/_sandbox/whatsapp/wabas/{facts['waba_id']}/templates", json=templates)
        assert response.status_code == 200


async def send(client: httpx.AsyncClient, facts: dict[str, Any], name: str) -> httpx.Response:
    message = {"to": "+14155550123", "template": {"name": name, "language": "en_US", "params": {"body": ["Ada"]}}}
    return await client.post("/v1/messages", json=message, headers=auth(facts))


async def test_sync_reads_every_page_and_retires_what_meta_no_longer_lists(
    client: httpx.AsyncClient, stack: Stack, tenant: dict[str, Any]
) -> None:
    listed = [{**DEMO_TEMPLATE, "status": "APPROVED"}] + [template(f"promo_{n:03d}") for n in range(229)]
    listed.append(template("paused_promo", status="PAUSED"))
    await seed(stack, tenant, listed)
    synced = await client.post("/v1/templates/sync", headers=auth(tenant))
    assert synced.status_code == 200 and synced.json() == {"listed": 231, "retired": 0}
    ours = {t["name"]: t for t in (await client.get("/v1/templates", headers=auth(tenant))).json()["data"]}
    assert len(ours) == 231 and ours["promo_228"]["status"] == "APPROVED" and ours["paused_promo"]["status"] == "PAUSED"
    assert (await send(client, tenant, "promo_228")).status_code == 202
    assert (await send(client, tenant, "paused_promo")).status_code == 422

    await seed(stack, tenant, listed[:100])  # Meta deleted the rest
    done = stack.cli("templates", "sync", "--tenant", tenant["tenant_id"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "100 templates listed by WhatsApp; 131 no longer listed, marked DELETED"
    refused = await send(client, tenant, "promo_228")
    assert refused.status_code == 422 and "DELETED" in refused.text
    ours = {t["name"]: t for t in (await client.get("/v1/templates", headers=auth(tenant))).json()["data"]}
    assert ours["order_shipped"]["status"] == "APPROVED"


async def test_created_templates_get_metas_review(client: httpx.AsyncClient, tenant: dict[str, Any]) -> None:
    body = {"language": "en_US", "category": "MARKETING", "components": [{"type": "BODY", "text": "Hello {{1}}"}]}
    approved = await client.post("/v1/templates", json={"name": "welcome_back", **body}, headers=auth(tenant))
    assert approved.status_code == 201, approved.text
    assert approved.json()["status"] == "APPROVED" and approved.json()["waba_id"] == tenant["waba_id"]
    assert (await send(client, tenant, "welcome_back")).status_code == 202

    rejected = await client.post("/v1/templates", json={"name": "reject_spam", **body}, headers=auth(tenant))
    assert rejected.status_code == 201 and rejected.json()["status"] == "REJECTED"
    assert (await send(client, tenant, "reject_spam")).status_code == 422

    invalid = await client.post("/v1/templates", json={"name": "Bad Name", **body}, headers=auth(tenant))
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["field"] == "template" and "lowercase" in invalid.json()["detail"]
    duplicate = await client.post("/v1/templates", json={"name": "welcome_back", **body}, headers=auth(tenant))
    assert duplicate.status_code == 422 and "already exists" in duplicate.json()["detail"]


async def test_one_template_by_id_and_another_tenants_is_not_found(
    client: httpx.AsyncClient, stack: Stack, tenant: dict[str, Any]
) -> None:
    (ours,) = (await client.get("/v1/templates", headers=auth(tenant))).json()["data"]
    got = await client.get(f"/v1/templates/{ours['id']}", headers=auth(tenant))
    assert got.status_code == 200 and got.json() == ours
    other = await new_tenant(stack, windows=False)
    theirs = await client.get(f"/v1/templates/{ours['id']}", headers=auth(other))
    unknown = await client.get("/v1/templates/00000000-0000-4000-8000-000000000000", headers=auth(other))
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["detail"].replace(ours["id"], "X") == unknown.json()["detail"].replace(
        "00000000-0000-4000-8000-000000000000", "X"
    )
