"""Meta's template status webhooks: a paused or disabled template cannot be sent from that moment."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from kernel.db import Pool
from tests.conftest import auth
from tests.fixtures.webhooks import post_signed, settled

SEND = {
    "to": "+14155550123",
    "template": {"name": "order_shipped", "language": "en_US", "params": {"body": ["Ada", "#1"]}},
}


def status_update(
    facts: dict[str, Any], event: str, at: int, language: str = "en_US", waba: str | None = None
) -> bytes:
    value = {
        "event": event,
        "message_template_id": 806312974732579,
        "message_template_name": "order_shipped",
        "message_template_language": language,
        "reason": "NONE" if event != "PAUSED" else "LOW_QUALITY",
    }
    change = {"field": "message_template_status_update", "value": value}
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba or facts["waba_id"], "time": at, "changes": [change]}],
    }
    return json.dumps(body).encode()


async def test_pausing_blocks_sends_at_once_and_reinstating_allows_them_again(
    client: httpx.AsyncClient, pool: Pool, tenant: dict[str, Any]
) -> None:
    now = int(time.time())
    assert (await client.post("/v1/messages", json=SEND, headers=auth(tenant))).status_code == 202
    raw = await pool.fetchval("SELECT count(*) FROM raw_events WHERE tenant_id = $1::uuid", tenant["tenant_id"])

    assert (await post_signed(client, tenant, status_update(tenant, "PAUSED", now))).status_code == 200
    await settled(pool, tenant, raw + 1)
    refused = await client.post("/v1/messages", json=SEND, headers=auth(tenant))
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "template.name"
    assert "PAUSED" in refused.json()["errors"][0]["description"]

    # An older notification arriving late changes nothing; Meta's hyphenated language still matches.
    late = status_update(tenant, "APPROVED", now - 60, language="en-US")
    assert (await post_signed(client, tenant, late)).status_code == 200
    await settled(pool, tenant, raw + 2)
    assert (await client.post("/v1/messages", json=SEND, headers=auth(tenant))).status_code == 422

    assert (await post_signed(client, tenant, status_update(tenant, "REINSTATED", now + 1))).status_code == 200
    await settled(pool, tenant, raw + 3)
    assert (await client.post("/v1/messages", json=SEND, headers=auth(tenant))).status_code == 202


async def test_a_status_for_a_waba_the_tenant_does_not_own_changes_nothing(
    client: httpx.AsyncClient, pool: Pool, tenant: dict[str, Any]
) -> None:
    raw = await pool.fetchval("SELECT count(*) FROM raw_events WHERE tenant_id = $1::uuid", tenant["tenant_id"])
    body = status_update(tenant, "DISABLED", int(time.time()), waba="999999999999999")
    assert (await post_signed(client, tenant, body)).status_code == 200
    states = await settled(pool, tenant, raw + 1)
    assert states[-1] == "orphaned"
    assert (await client.post("/v1/messages", json=SEND, headers=auth(tenant))).status_code == 202
