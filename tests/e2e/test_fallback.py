"""Fallback from WhatsApp to SMS on the real processes: once per channel, whatever fires."""

from __future__ import annotations

from typing import Any

import grpc
import httpx
import pytest
from switchboard.messaging.v1 import messaging_pb2 as pb
from switchboard.messaging.v1 import messaging_pb2_grpc as pb_grpc

from tests.conftest import auth, wait_for_status
from tests.fixtures.routes import SMS_TEXT, UTILITY, channels, send, sms_sent_to, wait_for_channel
from tests.fixtures.stack import Stack


async def test_not_on_whatsapp_falls_back_to_sms_which_delivers_the_message(
    client: httpx.AsyncClient, stack: Stack, sms_tenant: dict[str, Any]
) -> None:
    to = "+14155550000"  # WhatsApp: accepted, then failed with 131026 (not on WhatsApp)
    message_id = await send(client, sms_tenant, to)
    sms = await wait_for_channel(client, sms_tenant, message_id, "sms", {"delivered"})
    assert sms["provider_message_id"].startswith("SM")
    assert (sms["encoding"], sms["segments"]) == ("GSM-7", 1)
    message = await wait_for_status(client, sms_tenant, message_id, {"delivered"})
    [whatsapp, sms_channel] = message["channels"]
    assert (whatsapp["channel"], whatsapp["status"]) == ("whatsapp", "failed")
    assert sms_channel["channel"] == "sms"
    sent = [m for m in await sms_sent_to(client, stack, to) if m["Body"] == SMS_TEXT]
    assert len(sent) == 1 and sent[0]["From"] == "+15550100002"
    events = (await client.get(f"/v1/messages/{message_id}/events", headers=auth(sms_tenant))).json()["data"]
    assert ("fallback", "reconcile") in [(e["outcome"], e["source"]) for e in events]
    assert ("recovered", "webhook:twilio") in [(e["outcome"], e["source"]) for e in events]


async def test_whatsapp_retries_used_up_fall_back_to_sms(
    client: httpx.AsyncClient, stack: Stack, sms_tenant: dict[str, Any]
) -> None:
    message_id = await send(client, sms_tenant, "+14155550500")  # WhatsApp answers 5xx every time
    await wait_for_channel(client, sms_tenant, message_id, "sms", {"delivered"})
    await wait_for_status(client, sms_tenant, message_id, {"delivered"})


async def test_when_sms_fails_too_the_route_ends_and_the_message_is_a_dead_letter(
    client: httpx.AsyncClient, stack: Stack, sms_tenant: dict[str, Any]
) -> None:
    # Both providers rate-limit this number on every attempt: WhatsApp's retries run out, then SMS's.
    message_id = await send(client, sms_tenant, "+14155550429")
    sms = await wait_for_channel(client, sms_tenant, message_id, "sms", {"failed"}, timeout=60)
    assert sms["error_code"] == 20429 and sms["detail"].startswith("too_many_requests")
    await wait_for_status(client, sms_tenant, message_id, {"failed"})
    dead = (await client.get("/v1/dead-letters", headers=auth(sms_tenant))).json()["data"]
    assert message_id in [d["message"]["id"] for d in dead]


async def test_no_fallback_content_means_no_fallback(
    client: httpx.AsyncClient, stack: Stack, sms_tenant: dict[str, Any]
) -> None:
    response = await client.post(
        "/v1/messages", json={"to": "+14155550000", "template": UTILITY}, headers=auth(sms_tenant)
    )
    message_id = response.json()["id"]
    message = await wait_for_status(client, sms_tenant, message_id, {"failed"})
    assert message["channels"] is None


async def test_a_tenant_without_an_sms_account_skips_sms_with_the_reason(
    client: httpx.AsyncClient, tenant: dict[str, Any]
) -> None:
    message_id = await send(client, tenant, "+14155550000")
    sms = await wait_for_channel(client, tenant, message_id, "sms", {"skipped"})
    assert sms["detail"] == "the tenant has no sms credential"
    await wait_for_status(client, tenant, message_id, {"failed"})


async def test_fallback_after_moves_on_when_whatsapp_never_delivers(
    client: httpx.AsyncClient, stack: Stack, sms_tenant: dict[str, Any]
) -> None:
    to = "+14155550999"  # WhatsApp: sent, never delivered (a phone that is off)
    message_id = await send(client, sms_tenant, to, fallback_after=1)
    sms = await wait_for_channel(client, sms_tenant, message_id, "sms", {"delivered"})
    assert sms["detail"] == "not delivered within 1 s"
    message = await wait_for_status(client, sms_tenant, message_id, {"delivered"})
    assert [c["channel"] for c in message["channels"]] == ["whatsapp", "sms"]
    assert message["channels"][0]["status"] == "sent"
    assert len([m for m in await sms_sent_to(client, stack, to) if m["Body"] == SMS_TEXT]) == 1


async def test_the_timer_survives_a_relay_restart(
    client: httpx.AsyncClient, stack: Stack, sms_tenant: dict[str, Any]
) -> None:
    stack.stop_process("relay")
    try:
        message_id = await send(client, sms_tenant, "+14155550999", fallback_after=1)
    finally:
        stack.start_process("relay")
    await wait_for_channel(client, sms_tenant, message_id, "sms", {"delivered"}, timeout=40)


async def test_channels_reorder_the_route(client: httpx.AsyncClient, sms_tenant: dict[str, Any]) -> None:
    fallback = {
        "sms": {"text": SMS_TEXT},
        "email": {"to": "ada@example.com", "subject": "Shipped", "text": "Shipped."},
    }
    message_id = await send(
        client, sms_tenant, "+14155550000", fallback=fallback, channels=["whatsapp", "email", "sms"]
    )
    # This tenant has no SMTP credential: email is skipped, and the route goes on to SMS.
    await wait_for_channel(client, sms_tenant, message_id, "sms", {"delivered"})
    legs = await channels(client, sms_tenant, message_id)
    assert legs["email"]["status"] == "skipped"
    assert list(legs) == ["whatsapp", "email", "sms"]


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"channels": ["sms", "whatsapp"]}, "channels"),
        ({"channels": ["whatsapp", "whatsapp"]}, "channels"),
        ({"channels": ["whatsapp", "email"]}, "fallback.email"),
        ({"fallback_after": 0}, "fallback_after"),
        ({"fallback_after": 86401}, "fallback_after"),
        ({"fallback": None, "fallback_after": 30}, "fallback_after"),
    ],
)
async def test_route_rules_are_checked_at_the_edge(
    client: httpx.AsyncClient, tenant: dict[str, Any], extra: dict[str, Any], field: str
) -> None:
    body = {"to": "+14155550123", "template": UTILITY, "fallback": {"sms": {"text": SMS_TEXT}}, **extra}
    response = await client.post("/v1/messages", json=body, headers=auth(tenant))
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]


async def test_the_tenants_routing_policy_applies_where_a_message_is_silent(
    client: httpx.AsyncClient, stack: Stack, sms_tenant: dict[str, Any]
) -> None:
    assert (await client.get("/v1/routing-policy", headers=auth(sms_tenant))).json() == {
        "channels": None,
        "fallback_after": None,
    }
    refused = await client.put("/v1/routing-policy", json={"channels": ["sms", "whatsapp"]}, headers=auth(sms_tenant))
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "channels"
    policy = {"channels": ["whatsapp", "email", "sms"], "fallback_after": 1}
    set_ = await client.put("/v1/routing-policy", json=policy, headers=auth(sms_tenant))
    assert set_.status_code == 200 and set_.json() == policy

    # Never delivered on WhatsApp; the policy's timer moves it on, past email (no SMTP credential) to SMS.
    fallback = {"sms": {"text": SMS_TEXT}, "email": {"to": "ada@example.com", "subject": "S", "text": "T"}}
    message_id = await send(client, sms_tenant, "+14155550999", fallback=fallback)
    await wait_for_channel(client, sms_tenant, message_id, "sms", {"delivered"})
    assert list(await channels(client, sms_tenant, message_id)) == ["whatsapp", "email", "sms"]

    shown = stack.cli("messages", "routing", "--tenant", sms_tenant["tenant_id"], "--clear")
    assert shown.returncode == 0 and "whatsapp,sms,email (default)" in shown.stdout
    assert (await client.get("/v1/routing-policy", headers=auth(sms_tenant))).json()["fallback_after"] is None


async def test_routing_policy_over_grpc(stack: Stack, sms_tenant: dict[str, Any]) -> None:
    metadata = (("authorization", f"Bearer {sms_tenant['api_key']}"),)
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        stub = pb_grpc.MessagingServiceStub(channel)
        wanted = pb.RoutingPolicy(channels=["whatsapp", "sms"], fallback_after_seconds=30)
        updated = await stub.UpdateRoutingPolicy(pb.UpdateRoutingPolicyRequest(policy=wanted), metadata=metadata)
        assert updated.policy == wanted
        got = await stub.GetRoutingPolicy(pb.GetRoutingPolicyRequest(), metadata=metadata)
        assert got.policy == wanted
        bad = pb.RoutingPolicy(fallback_after_seconds=90_000)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.UpdateRoutingPolicy(pb.UpdateRoutingPolicyRequest(policy=bad), metadata=metadata)
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
