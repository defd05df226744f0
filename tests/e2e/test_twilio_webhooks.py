"""Twilio status callbacks: verified over URL and parameters, stored raw, reconciled by SID."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from kernel import db
from kernel import settings as settings_module
from kernel.crypto import MasterKey
from kernel.db import Pool
from tenants import service as tenants_service
from tenants.vault import Vault
from tests.conftest import auth, new_tenant
from tests.fixtures.stack import Stack
from tests.fixtures.webhooks import raw_event_states, settled
from webhooks import twilio

AUTH_TOKEN = "twilio-auth-token-" + uuid.uuid4().hex


@pytest.fixture
async def sms(stack: Stack, pool: Pool, tenant: dict[str, Any]) -> dict[str, Any]:
    settings = settings_module.load(stack.env)
    async with db.unit_of_work(pool) as conn:
        credential = await tenants_service.add_sms_credential(
            conn,
            Vault(MasterKey(settings.require_master_key())),
            uuid.UUID(tenant["tenant_id"]),
            name="twilio",
            account_sid="AC" + "0" * 32,
            auth_token=AUTH_TOKEN,
            from_number="+15550100002",
        )
    return {**tenant, "sms_channel_key": credential.channel_key}


async def sms_message(pool: Pool, facts: dict[str, Any], *, recorded: bool = True) -> tuple[uuid.UUID, str]:
    """A message Twilio accepted: its SID is the provider id, unless the worker died before it could
    record it (``recorded=False``)."""
    message_id, sid = uuid.uuid4(), "SM" + uuid.uuid4().hex
    await pool.execute(
        "INSERT INTO messages (id, tenant_id, request_hash, channel, to_number, content, status, provider_message_id) "
        "VALUES ($1, $2, '\\x00', 'sms', '+14155550123', '{\"type\": \"text\"}', $4, $3)",
        message_id,
        uuid.UUID(facts["tenant_id"]),
        sid if recorded else None,
        "submitted" if recorded else "queued",
    )
    return message_id, sid


async def post_callback(
    client: httpx.AsyncClient,
    stack: Stack,
    facts: dict[str, Any],
    params: dict[str, str],
    token: str = AUTH_TOKEN,
    query: str = "",
    signed_query: str | None = None,
) -> httpx.Response:
    """Post a callback as Twilio would to the StatusCallback URL ``...?{query}``; ``signed_query``:
    sign another URL than the one posted to (a tampered callback)."""
    path = f"/webhooks/twilio/{facts['sms_channel_key']}"
    signed = stack.rest_url + path + (f"?{signed_query if signed_query is not None else query}" if query else "")
    signature = twilio.sign(token, signed, {k: [v] for k, v in params.items()})
    return await client.post(
        path + (f"?{query}" if query else ""),
        content=urlencode(params),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
    )


def callback(sid: str, status: str, **extra: str) -> dict[str, str]:
    return {"AccountSid": "AC" + "0" * 32, "MessageSid": sid, "SmsSid": sid, "MessageStatus": status, **extra}


async def test_status_callbacks_move_the_message_by_its_sid(
    client: httpx.AsyncClient, pool: Pool, stack: Stack, sms: dict[str, Any]
) -> None:
    message_id, sid = await sms_message(pool, sms)
    for status in ("sending", "sent", "delivered", "delivered"):
        assert (await post_callback(client, stack, sms, callback(sid, status))).status_code == 200
    await settled(pool, sms, 4)
    message = (await client.get(f"/v1/messages/{message_id}", headers=auth(sms))).json()
    assert message["status"] == "delivered"
    trail = (await client.get(f"/v1/messages/{message_id}/events", headers=auth(sms))).json()["data"]
    # Each fact once (the repeated "delivered" too); "sending" says nothing about delivery. Callbacks
    # may be reconciled in any order, so "sent" may come second and be stale.
    reported = sorted(e["reported_status"] for e in trail if e["source"] == "webhook:twilio")
    assert reported == ["delivered", "sent"]


async def test_undelivered_keeps_twilios_error_code(
    client: httpx.AsyncClient, pool: Pool, stack: Stack, sms: dict[str, Any]
) -> None:
    message_id, sid = await sms_message(pool, sms)
    assert (await post_callback(client, stack, sms, callback(sid, "undelivered", ErrorCode="30003"))).status_code == 200
    await settled(pool, sms, 1)
    message = (await client.get(f"/v1/messages/{message_id}", headers=auth(sms))).json()
    assert message["status"] == "failed" and message["error"]["code"] == 30003


async def test_a_callback_finds_its_message_by_the_id_in_its_url_before_the_sid_is_recorded(
    client: httpx.AsyncClient, pool: Pool, stack: Stack, sms: dict[str, Any]
) -> None:
    # The worker died after Twilio accepted and before it recorded the SID: the StatusCallback URL
    # we gave Twilio still names the message, so the SMS is known to be out (and not sent again).
    message_id, sid = await sms_message(pool, sms, recorded=False)
    query = f"message_id={message_id}"
    assert (await post_callback(client, stack, sms, callback(sid, "sent"), query=query)).status_code == 200
    await settled(pool, sms, 1)
    message = (await client.get(f"/v1/messages/{message_id}", headers=auth(sms))).json()
    assert message["status"] == "sent" and message["provider_message_id"] == sid


async def test_the_signature_covers_the_message_id_and_another_tenants_id_matches_nothing(
    client: httpx.AsyncClient, pool: Pool, stack: Stack, sms: dict[str, Any]
) -> None:
    mine, sid = await sms_message(pool, sms, recorded=False)
    tampered = await post_callback(
        client,
        stack,
        sms,
        callback(sid, "delivered"),
        query=f"message_id={uuid.uuid4()}",
        signed_query=f"message_id={mine}",
    )
    assert tampered.status_code == 401
    other = await new_tenant(stack)
    theirs, _ = await sms_message(pool, other, recorded=False)
    # Signed with this tenant's token, naming another tenant's message: stored, matched to nothing.
    response = await post_callback(client, stack, sms, callback(sid, "delivered"), query=f"message_id={theirs}")
    assert response.status_code == 200
    assert await settled(pool, sms, 1) == ["orphaned"]
    assert (await client.get(f"/v1/messages/{theirs}", headers=auth(other))).json()["status"] == "queued"


async def test_a_bad_signature_is_refused_and_counted(
    client: httpx.AsyncClient, pool: Pool, stack: Stack, sms: dict[str, Any]
) -> None:
    _, sid = await sms_message(pool, sms)
    assert (await post_callback(client, stack, sms, callback(sid, "delivered"), token="guess")).status_code == 401
    unsigned = await client.post(
        f"/webhooks/twilio/{sms['sms_channel_key']}",
        content=urlencode(callback(sid, "delivered")),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert unsigned.status_code == 401
    await asyncio.sleep(0.2)
    assert await raw_event_states(pool, sms) == []
    metrics = (await client.get("/metrics")).text
    assert (
        f'switchboard_webhook_signature_failures_total{{provider="twilio",tenant_id="{sms["tenant_id"]}"}} 2' in metrics
    )


async def test_each_provider_path_accepts_only_its_own_keys(
    client: httpx.AsyncClient, stack: Stack, sms: dict[str, Any]
) -> None:
    whatsapp_key_on_twilio = await client.post(f"/webhooks/twilio/{sms['channel_key']}", content=b"MessageSid=SM1")
    sms_key_on_whatsapp = await client.post(f"/webhooks/whatsapp/{sms['sms_channel_key']}", content=b"{}")
    assert whatsapp_key_on_twilio.status_code == 404 and sms_key_on_whatsapp.status_code == 404
