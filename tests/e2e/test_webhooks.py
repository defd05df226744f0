"""Webhook ingress and reconciliation against the running API and workers.

These tests sign their own notifications with the tenant's app secret, as Meta would, for a tenant
whose sandbox registration points its callbacks nowhere: every status a message receives is one the
test chose, in the order the test chose.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from typing import Any

import httpx
import pytest

from kernel.db import Pool
from tests.conftest import auth, new_tenant, register_sender, wait_for_status
from tests.fixtures.stack import Stack
from tests.fixtures.webhooks import notification, post_signed, raw_event_states, settled, status


@pytest.fixture
async def quiet_tenant(stack: Stack) -> dict[str, Any]:
    facts = await new_tenant(stack)
    # Re-register without a verify token and with a dead callback URL: the sandbox still accepts
    # sends, but its status webhooks go nowhere.
    register_sender(stack, {**facts, "verify_token": None, "webhook_url": "http://127.0.0.1:9/nowhere"})
    return facts


async def submitted_message(client: httpx.AsyncClient, facts: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(
        "/v1/messages", json={"to": "+14155550123", "text": {"body": "hi"}}, headers=auth(facts)
    )
    return await wait_for_status(client, facts, response.json()["id"], {"submitted"})


async def events(client: httpx.AsyncClient, facts: dict[str, Any], message_id: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = (await client.get(f"/v1/messages/{message_id}/events", headers=auth(facts))).json()[
        "data"
    ]
    return data


async def test_verification_handshake_echoes_the_challenge_only_for_the_right_token(
    client: httpx.AsyncClient, tenant: dict[str, Any]
) -> None:
    url = f"/webhooks/whatsapp/{tenant['channel_key']}"
    ok = await client.get(
        url, params={"hub.mode": "subscribe", "hub.verify_token": tenant["verify_token"], "hub.challenge": "1158201444"}
    )
    assert ok.status_code == 200 and ok.text == "1158201444"
    wrong = await client.get(url, params={"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"})
    assert wrong.status_code == 403
    unknown = await client.get("/webhooks/whatsapp/not-a-key", params={"hub.mode": "subscribe"})
    assert unknown.status_code == 404


@pytest.mark.parametrize("signature", [None, "", "sha256=deadbeef", "sha1=abc", "WRONG-SECRET"])
async def test_unverified_notification_is_401_and_stores_nothing(
    client: httpx.AsyncClient, pool: Pool, quiet_tenant: dict[str, Any], signature: str | None
) -> None:
    message = await submitted_message(client, quiet_tenant)
    body = notification(quiet_tenant, status(message["provider_message_id"], "read", int(time.time()), message["id"]))
    if signature == "WRONG-SECRET":
        response = await post_signed(client, quiet_tenant, body, secret="not-the-app-secret")
    else:
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        response = await client.post(f"/webhooks/whatsapp/{quiet_tenant['channel_key']}", content=body, headers=headers)
    assert response.status_code == 401
    await asyncio.sleep(0.3)
    assert await raw_event_states(pool, quiet_tenant) == []
    assert (await client.get(f"/v1/messages/{message['id']}", headers=auth(quiet_tenant))).json()[
        "status"
    ] == "submitted"


async def test_signature_is_checked_over_the_raw_bytes(
    client: httpx.AsyncClient, pool: Pool, quiet_tenant: dict[str, Any]
) -> None:
    message = await submitted_message(client, quiet_tenant)
    # Meta escapes "/" and non-ASCII; the bytes signed are the bytes received.
    body = notification(quiet_tenant, status(message["provider_message_id"], "sent", int(time.time()), message["id"]))
    escaped = body.replace(b'"recipient_id"', b'"note": "caf\\u00e9 \\/ ok", "recipient_id"')
    assert (await post_signed(client, quiet_tenant, escaped)).status_code == 200
    await settled(pool, quiet_tenant, 1)
    assert (await client.get(f"/v1/messages/{message['id']}", headers=auth(quiet_tenant))).json()["status"] == "sent"


async def test_out_of_order_statuses_end_at_the_highest_rank(
    client: httpx.AsyncClient, pool: Pool, quiet_tenant: dict[str, Any]
) -> None:
    message = await submitted_message(client, quiet_tenant)
    wamid, now = message["provider_message_id"], int(time.time())
    for name, offset in (("read", 3), ("sent", 1), ("delivered", 2), ("failed", 4)):
        extra = {"errors": [{"code": 131026, "title": "Message undeliverable"}]} if name == "failed" else {}
        body = notification(quiet_tenant, status(wamid, name, now + offset, message["id"], **extra))
        assert (await post_signed(client, quiet_tenant, body)).status_code == 200
        await settled(pool, quiet_tenant, len(await raw_event_states(pool, quiet_tenant)))
    final = (await client.get(f"/v1/messages/{message['id']}", headers=auth(quiet_tenant))).json()
    assert final["status"] == "read" and final["error"] is None
    trail = [(e["reported_status"], e["outcome"]) for e in await events(client, quiet_tenant, message["id"])]
    assert trail[-4:] == [("read", "advanced"), ("sent", "stale"), ("delivered", "stale"), ("failed", "contradicted")]


async def test_replayed_duplicate_notification_changes_nothing(
    client: httpx.AsyncClient, pool: Pool, quiet_tenant: dict[str, Any]
) -> None:
    message = await submitted_message(client, quiet_tenant)
    wamid, now = message["provider_message_id"], int(time.time())
    body = notification(
        quiet_tenant,
        status(wamid, "sent", now, message["id"]),
        status(wamid, "delivered", now + 1, message["id"]),
        status(wamid, "delivered", now + 1, message["id"]),  # duplicated inside one batch, too
    )
    assert (await post_signed(client, quiet_tenant, body)).status_code == 200
    await settled(pool, quiet_tenant, 1)
    before_message = (await client.get(f"/v1/messages/{message['id']}", headers=auth(quiet_tenant))).json()
    before_events = await events(client, quiet_tenant, message["id"])
    for _ in range(3):
        assert (await post_signed(client, quiet_tenant, body)).status_code == 200
    states = await settled(pool, quiet_tenant, 4)
    assert states == ["processed"] * 4  # every copy is kept raw
    assert (await client.get(f"/v1/messages/{message['id']}", headers=auth(quiet_tenant))).json() == before_message
    assert await events(client, quiet_tenant, message["id"]) == before_events
    assert before_message["status"] == "delivered"


async def test_failed_status_records_the_provider_error(
    client: httpx.AsyncClient, pool: Pool, quiet_tenant: dict[str, Any]
) -> None:
    message = await submitted_message(client, quiet_tenant)
    error = {"code": 131047, "title": "Re-engagement message", "error_data": {"details": "24 hours have passed"}}
    body = notification(
        quiet_tenant, status(message["provider_message_id"], "failed", int(time.time()), message["id"], errors=[error])
    )
    assert (await post_signed(client, quiet_tenant, body)).status_code == 200
    await settled(pool, quiet_tenant, 1)
    failed = (await client.get(f"/v1/messages/{message['id']}", headers=auth(quiet_tenant))).json()
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == 131047
    assert "24 hours" in failed["error"]["reason"]


async def test_unknown_wamid_is_kept_as_orphan_and_answered_200(
    client: httpx.AsyncClient, pool: Pool, quiet_tenant: dict[str, Any]
) -> None:
    body = notification(quiet_tenant, status("wamid.unknown", "delivered", int(time.time())))
    assert (await post_signed(client, quiet_tenant, body)).status_code == 200
    assert await settled(pool, quiet_tenant, 1) == ["orphaned"]


async def test_notification_naming_another_tenants_number_changes_nothing_there(
    client: httpx.AsyncClient, pool: Pool, quiet_tenant: dict[str, Any], stack: Stack
) -> None:
    victim = await new_tenant(stack)
    register_sender(stack, {**victim, "verify_token": None, "webhook_url": "http://127.0.0.1:9/nowhere"})
    message = await submitted_message(client, victim)
    # Signed correctly for the attacker's own URL, but about the victim's number and message.
    body = notification(
        quiet_tenant,
        status(message["provider_message_id"], "read", int(time.time()), message["id"]),
        phone_number_id=victim["phone_number_id"],
    )
    assert (await post_signed(client, quiet_tenant, body)).status_code == 200
    assert await settled(pool, quiet_tenant, 1) == ["orphaned"]
    assert (await client.get(f"/v1/messages/{message['id']}", headers=auth(victim))).json()["status"] == "submitted"


async def test_correctly_signed_garbage_is_stored_as_unparseable_and_answered_200(
    client: httpx.AsyncClient, pool: Pool, quiet_tenant: dict[str, Any]
) -> None:
    assert (await post_signed(client, quiet_tenant, b"not json at all")).status_code == 200
    assert await settled(pool, quiet_tenant, 1) == ["unparseable"]


async def test_refused_signatures_are_counted_and_logged_without_the_body(
    client: httpx.AsyncClient, pool: Pool, quiet_tenant: dict[str, Any], stack: Stack
) -> None:
    marker = f"secret-body-{uuid.uuid4().hex}"
    body = notification(quiet_tenant, status("wamid.x", "read", int(time.time()), note=marker))
    forged = "sha256=" + hashlib.sha256(marker.encode()).hexdigest()
    for header in (forged, None):
        headers = {"Content-Type": "application/json", **({"X-Hub-Signature-256": header} if header else {})}
        response = await client.post(f"/webhooks/whatsapp/{quiet_tenant['channel_key']}", content=body, headers=headers)
        assert response.status_code == 401
    metrics = (await client.get("/metrics")).text
    series = (
        f'switchboard_webhook_signature_failures_total{{provider="whatsapp",tenant_id="{quiet_tenant["tenant_id"]}"}} 2'
    )
    assert series in metrics
    await asyncio.sleep(0.2)
    log = (stack.log_dir / "api.log").read_text()
    refusals = [line for line in log.splitlines() if quiet_tenant["tenant_id"] in line and "signature" in line]
    assert len(refusals) == 2
    assert '"reason": "mismatch"' in refusals[0] or '"reason":"mismatch"' in refusals[0]
    assert marker not in log and forged not in log


async def test_oversized_notification_is_refused_before_it_is_read(
    client: httpx.AsyncClient, pool: Pool, quiet_tenant: dict[str, Any]
) -> None:
    body = b'{"object":"whatsapp_business_account","pad":"' + b"x" * (4 * 1024 * 1024) + b'"}'
    response = await post_signed(client, quiet_tenant, body)
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")
    await asyncio.sleep(0.3)
    assert await raw_event_states(pool, quiet_tenant) == []
