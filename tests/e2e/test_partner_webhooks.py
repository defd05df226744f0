"""Signed partner webhooks: what a receiver gets for a message's life, signatures checked by an
independent implementation of Standard Webhooks, filters, retries, 410, Retry-After, rotation,
resend and recovery, and tenant isolation."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import grpc
import httpx
import pytest
from switchboard.webhooks.v1 import webhooks_pb2 as pb
from switchboard.webhooks.v1 import webhooks_pb2_grpc as pb_grpc

from kernel.db import Pool, unit_of_work
from tenants import service as tenants
from tests.conftest import auth, new_tenant, wait_for_status
from tests.fixtures.receiver import Received, receiver
from tests.fixtures.rpc import violations
from tests.fixtures.stack import Stack
from tests.fixtures.webhooks import contact, notification, post_signed, status, text_message

UTILITY = {"name": "order_shipped", "language": "en_US", "params": {"body": ["Ada", "#1042"]}}


def signatures_valid_for(secret: str, hook: Received) -> bool:
    """The spec, written out again (not kernel.standard_webhooks): HMAC-SHA256 keyed by the
    base64 after whsec_, over "{id}.{timestamp}.{body}", any of the space-separated v1 entries."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{hook.headers['webhook-id']}.{hook.headers['webhook-timestamp']}.".encode() + hook.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    given = [s.split(",", 1)[1] for s in hook.headers["webhook-signature"].split(" ") if s.startswith("v1,")]
    return any(hmac.compare_digest(expected, g) for g in given)


async def register(
    client: httpx.AsyncClient, facts: dict[str, Any], url: str, event_types: list[str] | None = None
) -> dict[str, Any]:
    response = await client.post(
        "/v1/webhook-endpoints", json={"url": url, "event_types": event_types or []}, headers=auth(facts)
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def send(client: httpx.AsyncClient, facts: dict[str, Any], to: str = "+14155550123") -> str:
    response = await client.post("/v1/messages", json={"to": to, "template": UTILITY}, headers=auth(facts))
    assert response.status_code == 202, response.text
    message_id: str = response.json()["id"]
    return message_id


def types_of(hooks: list[Received]) -> list[str]:
    return [json.loads(h.body)["type"] for h in hooks]


async def deliveries(client: httpx.AsyncClient, facts: dict[str, Any], endpoint_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries", headers=auth(facts))
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def wait_delivery(
    client: httpx.AsyncClient, facts: dict[str, Any], endpoint_id: str, status: str, timeout: float = 20
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [d for d in await deliveries(client, facts, endpoint_id) if d["status"] == status]
        if found:
            return found[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {status} delivery")


async def test_a_receiver_gets_a_message_s_life_signed_once_per_event(
    client: httpx.AsyncClient, tenant: dict[str, Any]
) -> None:
    async with receiver() as partner:
        created = await register(client, tenant, partner.url)
        secret = created["secret"]
        assert secret.startswith("whsec_") and 24 <= len(base64.b64decode(secret[6:])) <= 64
        listed = (await client.get("/v1/webhook-endpoints", headers=auth(tenant))).json()["data"]
        assert secret not in json.dumps(listed)  # write-only: shown at creation only

        message_id = await send(client, tenant)
        await wait_for_status(client, tenant, message_id, {"read"})
        hooks = await partner.wait_for(4)
        await asyncio.sleep(0.5)  # nothing more should come
        ours = [h for h in partner.received if json.loads(h.body)["data"].get("message_id") == message_id]
        # Events are delivered in parallel, so in no guaranteed order (as Standard Webhooks says);
        # each carries its occurred_at, and a status only ever moves forward.
        assert sorted(types_of(ours)) == ["message.delivered", "message.queued", "message.read", "message.sent"]
        assert all(signatures_valid_for(secret, h) for h in hooks)
        assert len({h.headers["webhook-id"] for h in ours}) == 4
        assert all(abs(int(h.headers["webhook-timestamp"]) - time.time()) < 60 for h in ours)
        read = next(json.loads(h.body) for h in ours if json.loads(h.body)["type"] == "message.read")
        assert read["data"]["to"] == "+14155550123" and read["data"]["status"] == "read"
        assert datetime.fromisoformat(read["timestamp"]).tzinfo is not None


async def test_event_filters_pick_what_an_endpoint_receives(client: httpx.AsyncClient, tenant: dict[str, Any]) -> None:
    async with receiver() as reads, receiver() as everything:
        await register(client, tenant, reads.url, ["message.read"])
        await register(client, tenant, everything.url)
        message_id = await send(client, tenant)
        await wait_for_status(client, tenant, message_id, {"read"})
        await everything.wait_for(4)
        await reads.wait_for(1)
        await asyncio.sleep(0.5)
        assert types_of(reads.received) == ["message.read"]
        bad = await client.post(
            "/v1/webhook-endpoints", json={"url": reads.url, "event_types": ["message.exploded"]}, headers=auth(tenant)
        )
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "event_types"


async def test_a_failing_receiver_is_retried_with_the_same_webhook_id_until_it_answers(
    client: httpx.AsyncClient, tenant: dict[str, Any]
) -> None:
    async with receiver() as partner:
        partner.script = [(500, {}), (502, {})]
        created = await register(client, tenant, partner.url, ["message.queued"])
        await send(client, tenant)
        hooks = await partner.wait_for(3)
        assert len({h.headers["webhook-id"] for h in hooks}) == 1
        assert all(signatures_valid_for(created["secret"], h) for h in hooks)
        delivery = await wait_delivery(client, tenant, created["endpoint"]["id"], "succeeded")
        assert delivery["attempts"] == 3
        assert [a["response_status"] for a in delivery["attempt_log"]] == [500, 502, 204]
        endpoint = (await client.get(f"/v1/webhook-endpoints/{created['endpoint']['id']}", headers=auth(tenant))).json()
        assert endpoint["failing_since"] is None and endpoint["status"] == "enabled"


async def test_retry_after_on_429_is_honoured(client: httpx.AsyncClient, tenant: dict[str, Any]) -> None:
    async with receiver() as partner:
        partner.script = [(429, {"Retry-After": "2"})]
        await register(client, tenant, partner.url, ["message.queued"])
        await send(client, tenant)
        first, second = await partner.wait_for(2)
        assert second.at - first.at >= 1.9  # the schedule alone would have retried after 0.2 s


async def test_410_disables_the_endpoint(client: httpx.AsyncClient, tenant: dict[str, Any]) -> None:
    async with receiver() as partner:
        partner.script = [(410, {})]
        created = await register(client, tenant, partner.url, ["message.queued"])
        await send(client, tenant)
        await partner.wait_for(1)
        await wait_delivery(client, tenant, created["endpoint"]["id"], "failed")
        endpoint = (await client.get(f"/v1/webhook-endpoints/{created['endpoint']['id']}", headers=auth(tenant))).json()
        assert endpoint["status"] == "disabled" and "410" in endpoint["disabled_reason"]
        await send(client, tenant)
        await asyncio.sleep(1.5)
        assert len(partner.received) == 1  # nothing more for a disabled endpoint


async def test_used_up_retries_fail_then_recover_and_resend_deliver_again(
    client: httpx.AsyncClient, tenant: dict[str, Any]
) -> None:
    async with receiver() as partner:
        partner.script = [(500, {})] * 4  # the test schedule allows 4 attempts
        created = await register(client, tenant, partner.url, ["message.queued"])
        endpoint_id = created["endpoint"]["id"]
        since = datetime.now(UTC).isoformat()
        await send(client, tenant)
        failed = await wait_delivery(client, tenant, endpoint_id, "failed")
        assert failed["attempts"] == 4 and failed["last_response_status"] == 500
        endpoint = (await client.get(f"/v1/webhook-endpoints/{endpoint_id}", headers=auth(tenant))).json()
        assert endpoint["failing_since"] is not None

        recovered = await client.post(
            f"/v1/webhook-endpoints/{endpoint_id}/recover", json={"since": since}, headers=auth(tenant)
        )
        assert recovered.status_code == 202 and recovered.json() == {"requeued": 1}
        done = await wait_delivery(client, tenant, endpoint_id, "succeeded")
        assert done["event_id"] == failed["event_id"] and done["attempts"] == 5

        resent = await client.post(
            f"/v1/webhook-endpoints/{endpoint_id}/events/{failed['event_id']}/resend", headers=auth(tenant)
        )
        assert resent.status_code == 202
        hooks = await partner.wait_for(6)
        assert {h.headers["webhook-id"] for h in hooks} == {failed["event_id"]}
        unknown = await client.post(
            f"/v1/webhook-endpoints/{endpoint_id}/events/msg_nothing/resend", headers=auth(tenant)
        )
        assert unknown.status_code == 404


async def test_a_rotated_secret_signs_beside_the_old_one_for_the_overlap(
    client: httpx.AsyncClient, tenant: dict[str, Any]
) -> None:
    async with receiver() as partner:
        created = await register(client, tenant, partner.url, ["message.queued"])
        endpoint_id, old = created["endpoint"]["id"], created["secret"]
        rotated = await client.post(
            f"/v1/webhook-endpoints/{endpoint_id}/rotate-secret", json={"overlap_hours": 1}, headers=auth(tenant)
        )
        assert rotated.status_code == 200
        new = rotated.json()["secret"]
        assert new != old and rotated.json()["previous_secret_expires_at"] is not None
        await send(client, tenant)
        (hook,) = await partner.wait_for(1)
        assert len(hook.headers["webhook-signature"].split(" ")) == 2
        assert signatures_valid_for(new, hook) and signatures_valid_for(old, hook)

        await client.post(
            f"/v1/webhook-endpoints/{endpoint_id}/rotate-secret", json={"overlap_hours": 0}, headers=auth(tenant)
        )
        await send(client, tenant)
        hooks = await partner.wait_for(2)
        assert len(hooks[1].headers["webhook-signature"].split(" ")) == 1
        assert not signatures_valid_for(new, hooks[1])


async def test_a_test_event_inbound_messages_and_template_changes_reach_the_receiver(
    client: httpx.AsyncClient, pool: Pool, tenant: dict[str, Any]
) -> None:
    async with receiver() as partner:
        created = await register(client, tenant, partner.url, ["message.inbound", "template.status_changed"])
        test = await client.post(f"/v1/webhook-endpoints/{created['endpoint']['id']}/test", headers=auth(tenant))
        assert test.status_code == 202
        (hook,) = await partner.wait_for(1)
        assert json.loads(hook.body)["type"] == "webhook.test" and hook.headers["webhook-id"] == test.json()["event_id"]

        body = notification(
            tenant,
            messages=[text_message("wamid.partner-1", "16315551181", "Where is it?", int(time.time()))],
            contacts=[contact("16315551181", "Ada")],
        )
        assert (await post_signed(client, tenant, body)).status_code == 200
        await partner.wait_for(2)
        inbound = json.loads(partner.received[1].body)
        assert inbound["type"] == "message.inbound"
        assert inbound["data"]["from"] == "+16315551181" and inbound["data"]["text"] == "Where is it?"

        async with unit_of_work(pool) as conn:
            await tenants.put_template(
                conn,
                uuid.UUID(tenant["tenant_id"]),
                waba_id=tenant["waba_id"],
                name="order_shipped",
                language="en_US",
                category="UTILITY",
                status="PAUSED",
                components=[],
            )
        await partner.wait_for(3)
        changed = json.loads(partner.received[2].body)
        assert changed["type"] == "template.status_changed"
        assert (changed["data"]["previous_status"], changed["data"]["status"]) == ("APPROVED", "PAUSED")


async def test_another_tenant_s_endpoint_answers_404_and_bad_urls_are_refused(
    stack: Stack, client: httpx.AsyncClient, tenant: dict[str, Any]
) -> None:
    other = await new_tenant(stack)
    theirs = await register(client, other, "http://127.0.0.1:9/hooks")
    path = f"/v1/webhook-endpoints/{theirs['endpoint']['id']}"
    for method, suffix, body in (
        ("GET", "", None),
        ("PATCH", "", {"description": "mine now"}),
        ("DELETE", "", None),
        ("GET", "/deliveries", None),
        ("POST", "/rotate-secret", {}),
        ("POST", "/test", None),
    ):
        response = await client.request(method, path + suffix, json=body, headers=auth(tenant))
        assert response.status_code == 404, (method, suffix)
    assert (await client.get(path, headers=auth(other))).json()["description"] == ""
    for url in ("ftp://example.com/x", "https://", "https://user:pw@example.com/x"):
        refused = await client.post("/v1/webhook-endpoints", json={"url": url}, headers=auth(tenant))
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "url", url


async def test_an_endpoint_failing_for_five_days_is_disabled_with_the_reason(
    client: httpx.AsyncClient, pool: Pool, tenant: dict[str, Any]
) -> None:
    async with receiver() as partner:
        partner.script = [(500, {})] * 10
        created = await register(client, tenant, partner.url, ["message.queued"])
        endpoint_id = created["endpoint"]["id"]
        # Five days of failures, compressed: the endpoint has been failing since six days ago.
        await pool.execute(
            "UPDATE webhook_endpoints SET failing_since = now() - interval '6 days' WHERE id = $1::uuid", endpoint_id
        )
        await send(client, tenant)
        await partner.wait_for(1)
        deadline = time.monotonic() + 10
        endpoint: dict[str, Any] = {}
        while time.monotonic() < deadline:
            endpoint = (await client.get(f"/v1/webhook-endpoints/{endpoint_id}", headers=auth(tenant))).json()
            if endpoint["status"] == "disabled":
                break
            await asyncio.sleep(0.1)
        assert endpoint["status"] == "disabled" and "without a success for 120 hours" in endpoint["disabled_reason"]
        enabled = await client.patch(
            f"/v1/webhook-endpoints/{endpoint_id}", json={"enabled": True}, headers=auth(tenant)
        )
        assert enabled.json()["status"] == "enabled" and enabled.json()["failing_since"] is None


async def test_grpc_manages_the_same_endpoints_with_the_same_rules(
    stack: Stack, client: httpx.AsyncClient, tenant: dict[str, Any]
) -> None:
    meta = (("authorization", f"Bearer {tenant['api_key']}"),)
    other = await new_tenant(stack)
    async with receiver() as partner, grpc.aio.insecure_channel(stack.grpc_target) as channel:
        stub = pb_grpc.WebhookEndpointServiceStub(channel)
        created = await stub.CreateWebhookEndpoint(
            pb.CreateWebhookEndpointRequest(url=partner.url, event_types=["message.read"]), metadata=meta
        )
        assert created.secret.startswith("whsec_")
        rest = (await client.get(f"/v1/webhook-endpoints/{created.endpoint.id}", headers=auth(tenant))).json()
        assert (rest["url"], rest["event_types"], rest["status"]) == (partner.url, ["message.read"], "enabled")

        test = await stub.SendTestWebhookEvent(pb.SendTestWebhookEventRequest(id=created.endpoint.id), metadata=meta)
        (hook,) = await partner.wait_for(1)
        assert signatures_valid_for(created.secret, hook) and hook.headers["webhook-id"] == test.event_id
        for _ in range(50):
            listed = await stub.ListWebhookDeliveries(
                pb.ListWebhookDeliveriesRequest(id=created.endpoint.id), metadata=meta
            )
            if listed.deliveries and listed.deliveries[0].status == "succeeded":
                break
            await asyncio.sleep(0.1)
        assert listed.deliveries[0].attempt_log[0].response_status == 204
        rest_log = await deliveries(client, tenant, created.endpoint.id)
        assert [d["event_id"] for d in rest_log] == [d.event_id for d in listed.deliveries]

        updated = await stub.UpdateWebhookEndpoint(
            pb.UpdateWebhookEndpointRequest(id=created.endpoint.id, replace_event_types=True, enabled=False),
            metadata=meta,
        )
        assert list(updated.endpoint.event_types) == [] and updated.endpoint.status == "disabled"

        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await stub.CreateWebhookEndpoint(pb.CreateWebhookEndpointRequest(url="ftp://x.example"), metadata=meta)
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert ("url", "public_https") in violations(bad.value)
        rest_bad = await client.post("/v1/webhook-endpoints", json={"url": "ftp://x.example"}, headers=auth(tenant))
        rest_error = rest_bad.json()["errors"][0]
        assert (rest_error["field"], rest_error["rule"]) == ("url", "public_https")

        theirs = await register(client, other, partner.url)
        with pytest.raises(grpc.aio.AioRpcError) as hidden:
            await stub.GetWebhookEndpoint(pb.GetWebhookEndpointRequest(id=theirs["endpoint"]["id"]), metadata=meta)
        assert hidden.value.code() == grpc.StatusCode.NOT_FOUND
        await stub.DeleteWebhookEndpoint(pb.DeleteWebhookEndpointRequest(id=created.endpoint.id), metadata=meta)
        gone = await client.get(f"/v1/webhook-endpoints/{created.endpoint.id}", headers=auth(tenant))
        assert gone.status_code == 404


async def test_a_status_reported_after_a_higher_one_is_still_told_once(
    client: httpx.AsyncClient, tenant: dict[str, Any]
) -> None:
    async with receiver() as partner:
        await register(client, tenant, partner.url, ["message.delivered", "message.read"])
        # The sandbox reports only "sent" for this number (a phone that is off); the rest comes
        # from us, read before delivered, then delivered again.
        message_id = await send(client, tenant, "+14155550999")
        sent = await wait_for_status(client, tenant, message_id, {"sent"})
        wamid, now = sent["provider_message_id"], int(time.time())
        for reports in (
            [status(wamid, "read", now + 2, message_id)],
            [status(wamid, "delivered", now + 1, message_id)],
            [status(wamid, "delivered", now + 3, message_id)],
        ):
            assert (await post_signed(client, tenant, notification(tenant, *reports))).status_code == 200
        await wait_for_status(client, tenant, message_id, {"read"})
        await partner.wait_for(2)
        await asyncio.sleep(1)
        assert sorted(types_of(partner.received)) == ["message.delivered", "message.read"]


async def test_budget_alerts_reach_the_receiver(client: httpx.AsyncClient, tenant: dict[str, Any]) -> None:
    async with receiver() as partner:
        await register(client, tenant, partner.url, ["billing.budget_alert"])
        assert (await client.put("/v1/budget", json={"monthly_budget": 2}, headers=auth(tenant))).status_code == 200
        for _ in range(2):  # 1 cent each: the second takes the month to 100%
            message_id = await send(client, tenant)
            await wait_for_status(client, tenant, message_id, {"read"})
        hooks = await partner.wait_for(2)
        alerts = sorted((json.loads(h.body)["data"] for h in hooks), key=lambda a: int(a["threshold"]))
        assert [(a["threshold"], a["spent"], a["budget"]) for a in alerts] == [(80, 2, 2), (100, 2, 2)]
        assert {json.loads(h.body)["type"] for h in hooks} == {"billing.budget_alert"}
