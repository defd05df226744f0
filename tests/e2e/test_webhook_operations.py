"""Operating the raw log: replay, the consistency check, retention, orphans retried."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx

from kernel.db import Pool
from tests.conftest import auth, new_tenant, wait_for_status
from tests.fixtures.stack import Stack
from tests.fixtures.webhooks import notification, post_signed, raw_event_states, settled, status, text_message

# The sandbox's scripted outcomes: read, then a number that is not on WhatsApp (131026).
RECIPIENTS = ["+14155550123", "+14155550124", "+14155550125", "+14155550000"]


async def snapshot(pool: Pool, tenant_id: str) -> tuple[list[Any], list[Any], list[Any]]:
    tid = uuid.UUID(tenant_id)
    messages = await pool.fetch(
        "SELECT id, status, error_code, provider_message_id, updated_at FROM messages WHERE tenant_id = $1 ORDER BY id",
        tid,
    )
    events = await pool.fetch(
        "SELECT id, message_id, reported_status, to_status, outcome FROM message_events WHERE tenant_id = $1 "
        "ORDER BY id",
        tid,
    )
    inbound = await pool.fetch("SELECT id, provider_message_id FROM inbound_messages WHERE tenant_id = $1", tid)
    return [tuple(r) for r in messages], [tuple(r) for r in events], [tuple(r) for r in inbound]


async def settled_traffic(client: httpx.AsyncClient, pool: Pool, tenant: dict[str, Any]) -> None:
    """A few messages driven to their final status by the sandbox's signed callbacks, and one
    customer message."""
    ids = []
    for to in RECIPIENTS:
        response = await client.post("/v1/messages", json={"to": to, "text": {"body": "hi"}}, headers=auth(tenant))
        ids.append(response.json()["id"])
    for message_id in ids:
        await wait_for_status(client, tenant, message_id, {"read", "failed"})
    body = notification(tenant, messages=[text_message("wamid.ops-in", "16315551181", "thanks", int(time.time()))])
    assert (await post_signed(client, tenant, body)).status_code == 200
    await settled(pool, tenant, 1)
    # The sandbox's callbacks for the failed one may still be in flight: wait until all are in.
    count = len(await raw_event_states(pool, tenant))
    await asyncio.sleep(1.0)
    await settled(pool, tenant, max(count, len(await raw_event_states(pool, tenant))))


async def test_replaying_everything_twice_changes_nothing(
    client: httpx.AsyncClient, pool: Pool, tenant: dict[str, Any], stack: Stack
) -> None:
    await settled_traffic(client, pool, tenant)
    before = await snapshot(pool, tenant["tenant_id"])
    stored = len(await raw_event_states(pool, tenant))
    for _ in range(2):
        done = stack.cli("webhooks", "replay", "--tenant", tenant["tenant_id"], "--since", "1h")
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"replayed {stored} raw events")
        assert f"replayed {stored}/{stored} raw events" in done.stderr  # the progress line
    assert await snapshot(pool, tenant["tenant_id"]) == before
    assert set(await raw_event_states(pool, tenant)) == {"processed"}


async def test_check_finds_no_difference_until_a_status_is_tampered_with(
    client: httpx.AsyncClient, pool: Pool, tenant: dict[str, Any], stack: Stack
) -> None:
    await settled_traffic(client, pool, tenant)
    clean = stack.cli("webhooks", "check", "--tenant", tenant["tenant_id"])
    assert clean.returncode == 0, clean.stderr
    assert clean.stdout.strip().endswith(f"checked {len(RECIPIENTS)} messages: 0 differ")
    victim = await pool.fetchval(
        "UPDATE messages SET status = 'sent' WHERE tenant_id = $1 AND status = 'read' "
        "AND id = (SELECT id FROM messages WHERE tenant_id = $1 AND status = 'read' LIMIT 1) RETURNING id",
        uuid.UUID(tenant["tenant_id"]),
    )
    tampered = stack.cli("webhooks", "check", "--tenant", tenant["tenant_id"])
    assert tampered.returncode == 1
    assert f"{victim}: live sent, rebuilt from its events read" in tampered.stdout
    assert "1 differ" in tampered.stdout


async def test_purge_keeps_recent_and_unreconciled_callbacks_and_every_audit_event(
    client: httpx.AsyncClient, pool: Pool, tenant: dict[str, Any], stack: Stack
) -> None:
    await settled_traffic(client, pool, tenant)
    for i in range(4):
        body = notification(tenant, messages=[text_message(f"wamid.p{i}", "16315551181", "hi", int(time.time()))])
        assert (await post_signed(client, tenant, body)).status_code == 200
    tid = uuid.UUID(tenant["tenant_id"])
    await settled(pool, tenant, 5)
    ids = [r["id"] for r in await pool.fetch("SELECT id FROM raw_events WHERE tenant_id = $1 ORDER BY id", tid)]
    kept = stack.cli("webhooks", "retention", "--tenant", tenant["tenant_id"], "--days", "7")
    assert kept.returncode == 0, kept.stderr
    refused = stack.cli("webhooks", "retention", "--tenant", tenant["tenant_id"], "--days", "0")
    assert refused.returncode == 1 and refused.stderr.strip() == "switchboard: days: must be between 1 and 3650"
    unknown = stack.cli("webhooks", "retention", "--tenant", str(uuid.uuid4()), "--days", "7")
    assert unknown.returncode == 1 and "not found" in unknown.stderr
    # Two old enough to go; one old but never reconciled (must stay); the rest recent.
    await pool.execute(
        "UPDATE raw_events SET received_at = now() - interval '8 days' WHERE id = ANY($1::bigint[])", ids[:3]
    )
    await pool.execute("UPDATE raw_events SET state = 'received' WHERE id = $1", ids[2])
    events_before = await pool.fetchval("SELECT count(*) FROM message_events WHERE tenant_id = $1", tid)
    try:
        done = stack.cli("webhooks", "purge")
        assert done.returncode == 0, done.stderr
        left = [r["id"] for r in await pool.fetch("SELECT id FROM raw_events WHERE tenant_id = $1 ORDER BY id", tid)]
        assert left == ids[2:]
        assert await pool.fetchval("SELECT count(*) FROM message_events WHERE tenant_id = $1", tid) == events_before
    finally:
        await pool.execute("UPDATE raw_events SET state = 'processed' WHERE id = $1", ids[2])


async def test_a_status_that_overtakes_its_send_is_applied_once_the_send_commits(
    client: httpx.AsyncClient, pool: Pool, stack: Stack
) -> None:
    tenant = await new_tenant(stack)
    response = await client.post(
        "/v1/messages", json={"to": "+14155550123", "text": {"body": "hi"}}, headers=auth(tenant)
    )
    message = await wait_for_status(client, tenant, response.json()["id"], {"read"})
    late = f"wamid.late-{uuid.uuid4().hex}"
    body = notification(tenant, status(late, "failed", int(time.time()), errors=[{"code": 131026}]))
    before = len(await raw_event_states(pool, tenant))
    assert (await post_signed(client, tenant, body)).status_code == 200
    assert (await settled(pool, tenant, before + 1))[-1] == "orphaned"
    # As if the send of another message committed its wamid only now.
    second = (
        await client.post("/v1/messages", json={"to": "+14155550124", "text": {"body": "hi"}}, headers=auth(tenant))
    ).json()
    await wait_for_status(client, tenant, second["id"], {"read"})
    orphan_target = await pool.fetchval(
        "INSERT INTO messages (id, tenant_id, request_hash, channel, to_number, content, status, provider_message_id) "
        "SELECT $1, tenant_id, request_hash, channel, to_number, content, 'submitted', $2 FROM messages WHERE id = $3 "
        "RETURNING id",
        uuid.uuid4(),
        late,
        uuid.UUID(message["id"]),
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        current = await pool.fetchval("SELECT status FROM messages WHERE id = $1", orphan_target)
        if current == "failed":
            break
        await asyncio.sleep(0.2)
    assert current == "failed"
    assert (await raw_event_states(pool, tenant))[before] == "processed"
