"""Meta's phone_number_quality_update changes the tenant's number: its quality, its daily tier
(which the workers then count against) and its throughput."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from kernel.db import Pool
from tests.conftest import auth
from tests.fixtures.webhooks import post_signed, settled


def update(facts: dict[str, Any], display: str, event: str, limit: str | None = None) -> bytes:
    value: dict[str, Any] = {"display_phone_number": display, "event": event}
    if limit:
        value["current_limit"] = limit
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": facts["waba_id"],
                "time": int(time.time()),
                "changes": [{"field": "phone_number_quality_update", "value": value}],
            }
        ],
    }
    return json.dumps(body).encode()


async def test_quality_tier_and_throughput_follow_meta(
    client: httpx.AsyncClient, pool: Pool, tenant: dict[str, Any]
) -> None:
    (sender,) = (await client.get("/v1/senders", headers=auth(tenant))).json()["data"]
    display = sender["display_phone_number"].lstrip("+")
    raw = await pool.fetchval("SELECT count(*) FROM raw_events WHERE tenant_id = $1::uuid", tenant["tenant_id"])
    for body in (
        update(tenant, display, "FLAGGED"),
        update(tenant, display, "UPGRADE", "TIER_10K"),
        update(tenant, display, "THROUGHPUT_UPGRADE"),
        update(tenant, "15559999999", "FLAGGED"),  # not one of the tenant's numbers
    ):
        assert (await post_signed(client, tenant, body)).status_code == 200
    states = await settled(pool, tenant, raw + 4)
    assert states.count("orphaned") == 1  # the unknown number, kept with its note
    (after,) = (await client.get("/v1/senders", headers=auth(tenant))).json()["data"]
    assert (after["quality_rating"], after["messaging_tier"], after["throughput_mps"]) == ("RED", "TIER_10K", 1000)
    assert (await post_signed(client, tenant, update(tenant, display, "UNFLAGGED"))).status_code == 200
    await settled(pool, tenant, raw + 5)
    (restored,) = (await client.get("/v1/senders", headers=auth(tenant))).json()["data"]
    assert restored["quality_rating"] == "GREEN" and restored["messaging_tier"] == "TIER_10K"
