"""Idempotency-Key on REST POSTs that create: replay, refusal of a reused key, in-flight 409, and
races of many concurrent requests with one key (exactly one resource, one send)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx

from edge.idempotency import WINDOW, purge
from kernel.db import Pool
from tests.conftest import auth, new_tenant, wait_for_status
from tests.fixtures.stack import Stack

UTILITY = {"name": "order_shipped", "language": "en_US", "params": {"body": ["Ada", "#1042"]}}


def keyed(facts: dict[str, Any], key: str) -> dict[str, str]:
    return {**auth(facts), "Idempotency-Key": key}


async def test_a_repeated_creation_replays_the_first_answer_secret_included(
    client: httpx.AsyncClient, pool: Pool, tenant: dict[str, Any]
) -> None:
    body = {"url": "http://127.0.0.1:9/hooks", "description": "crm"}
    first = await client.post("/v1/webhook-endpoints", json=body, headers=keyed(tenant, "endpoint-1"))
    again = await client.post("/v1/webhook-endpoints", json=body, headers=keyed(tenant, "endpoint-1"))
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    listed = (await client.get("/v1/webhook-endpoints", headers=auth(tenant))).json()["data"]
    assert len(listed) == 1
    # The stored answer carries the secret: it is sealed, never kept in clear.
    stored = await pool.fetchval(
        "SELECT sealed_response FROM idempotency_records WHERE tenant_id = $1::uuid AND key = 'endpoint-1'",
        tenant["tenant_id"],
    )
    assert first.json()["secret"].encode() not in stored

    other = await client.post(
        "/v1/webhook-endpoints", json={**body, "description": "other"}, headers=keyed(tenant, "endpoint-1")
    )
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "Idempotency-Key"
    elsewhere = await client.post(
        "/v1/credentials",
        json={"kind": "sms", "name": "x", "account_sid": "ACx", "auth_token": "t", "from_number": "+15550100002"},
        headers=keyed(tenant, "endpoint-1"),
    )
    assert elsewhere.status_code == 422  # a key names one request, whatever the path
    assert len((await client.get("/v1/credentials", headers=auth(tenant))).json()["data"]) == 1  # WhatsApp only


async def test_concurrent_requests_with_one_key_create_exactly_one(
    client: httpx.AsyncClient, stack: Stack, tenant: dict[str, Any]
) -> None:
    body = {
        "kind": "sms",
        "name": "twilio",
        "account_sid": "AC" + uuid.uuid4().hex,
        "auth_token": "secret-1",
        "from_number": "+15550100002",
    }
    answers = await asyncio.gather(
        *(client.post("/v1/credentials", json=body, headers=keyed(tenant, "sms-1")) for _ in range(20))
    )
    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {201, 409}, statuses
    created = {a.json()["id"] for a in answers if a.status_code == 201}
    assert len(created) == 1
    assert all(a.headers["retry-after"] == "1" for a in answers if a.status_code == 409)
    sms = [c for c in (await client.get("/v1/credentials", headers=auth(tenant))).json()["data"] if c["kind"] == "sms"]
    assert [c["id"] for c in sms] == list(created)
    # Another tenant's identical key is its own.
    other = await new_tenant(stack)
    theirs = await client.post("/v1/credentials", json=body, headers=keyed(other, "sms-1"))
    assert theirs.status_code == 201 and theirs.json()["id"] not in created


async def test_concurrent_sends_with_one_key_make_one_message_and_one_send(
    client: httpx.AsyncClient, stack: Stack, tenant: dict[str, Any]
) -> None:
    body = {"to": "+14155550123", "template": UTILITY}
    answers = await asyncio.gather(
        *(client.post("/v1/messages", json=body, headers=keyed(tenant, "order-7")) for _ in range(20))
    )
    assert {a.status_code for a in answers} == {202}
    ids = {a.json()["id"] for a in answers}
    assert len(ids) == 1
    (message_id,) = ids
    await wait_for_status(client, tenant, message_id, {"read"})
    sends = await client.get(f"{stack.sandbox_url}/_sandbox/whatsapp/sends", params={"tracker": message_id})
    assert sends.json()["count"] == 1


async def test_the_hourly_purge_drops_records_past_the_window_only(pool: Pool, tenant: dict[str, Any]) -> None:
    insert = (
        "INSERT INTO idempotency_records (id, tenant_id, key, fingerprint, state, created_at) "
        "VALUES ($1, $2::uuid, $3, '\\x00', 'done', now() - $4::interval)"
    )
    old, recent = uuid.uuid4(), uuid.uuid4()
    await pool.execute(insert, old, tenant["tenant_id"], "old", WINDOW + timedelta(minutes=1))
    await pool.execute(insert, recent, tenant["tenant_id"], "recent", WINDOW - timedelta(minutes=1))
    assert await purge(pool) >= 1
    left = await pool.fetch("SELECT id FROM idempotency_records WHERE id = ANY($1::uuid[])", [old, recent])
    assert [r["id"] for r in left] == [recent]
