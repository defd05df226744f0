"""A message travels end to end over REST and gRPC, on the real processes."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from switchboard.messaging.v1 import messaging_pb2 as pb
from switchboard.messaging.v1 import messaging_pb2_grpc as pb_grpc

from kernel.db import Pool
from tests.conftest import auth, new_tenant, wait_for_status
from tests.fixtures.stack import Stack

TEMPLATE = {"name": "order_shipped", "language": "en_US", "params": {"body": ["Ada", "#1042"]}}


async def send(
    client: httpx.AsyncClient, facts: dict[str, Any], body: dict[str, Any], **headers: str
) -> httpx.Response:
    return await client.post("/v1/messages", json=body, headers={**auth(facts), **headers})


async def sandbox_sends(client: httpx.AsyncClient, stack: Stack, message_id: str) -> int:
    response = await client.get(f"{stack.sandbox_url}/_sandbox/whatsapp/sends", params={"tracker": message_id})
    count: int = response.json()["count"]
    return count


async def test_rest_message_reaches_read_with_full_audit_trail(
    client: httpx.AsyncClient, tenant: dict[str, Any], stack: Stack
) -> None:
    response = await send(client, tenant, {"to": "+14155550123", "template": TEMPLATE})
    assert response.status_code == 202
    accepted = response.json()
    assert accepted["status"] == "queued"
    assert response.headers["location"] == f"/v1/messages/{accepted['id']}"

    message = await wait_for_status(client, tenant, accepted["id"], {"read"})
    assert message["provider_message_id"].startswith("wamid.")
    assert message["error"] is None

    events = (await client.get(f"/v1/messages/{accepted['id']}/events", headers=auth(tenant))).json()["data"]
    reported = [(e["reported_status"], e["source"]) for e in events]
    assert reported[0] == ("queued", "api")
    # Webhooks arrive in any order; every report is in the trail, and the status ends at the top rank.
    assert sorted(reported) == sorted(
        [
            ("queued", "api"),
            ("submitted", "worker"),
            ("sent", "webhook:whatsapp"),
            ("delivered", "webhook:whatsapp"),
            ("read", "webhook:whatsapp"),
        ]
    )
    assert events[-1]["to_status"] == "read"
    assert await sandbox_sends(client, stack, accepted["id"]) == 1


async def test_grpc_message_reaches_read(stack: Stack, tenant: dict[str, Any]) -> None:
    metadata = (("authorization", f"Bearer {tenant['api_key']}"),)
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        stub = pb_grpc.MessagingServiceStub(channel)
        sent = await stub.SendMessage(
            pb.SendMessageRequest(
                to="+14155550123",
                template=pb.TemplateContent(
                    name="order_shipped", language="en_US", params=pb.TemplateParams(body=["Ada", "#7"])
                ),
            ),
            metadata=metadata,
        )
        assert sent.created and sent.message.status == pb.MESSAGE_STATUS_QUEUED
        import asyncio

        for _ in range(200):
            got = await stub.GetMessage(pb.GetMessageRequest(id=sent.message.id), metadata=metadata)
            if got.message.status == pb.MESSAGE_STATUS_READ:
                break
            await asyncio.sleep(0.1)
        assert got.message.status == pb.MESSAGE_STATUS_READ
        assert got.message.provider_message_id.startswith("wamid.")
        events = await stub.ListMessageEvents(
            pb.ListMessageEventsRequest(message_id=sent.message.id), metadata=metadata
        )
        assert events.events[-1].to_status == pb.MESSAGE_STATUS_READ


@pytest.mark.parametrize(
    ("to", "content", "code"),
    [
        ("+14155550000", {"text": {"body": "hi"}}, 131026),  # not on WhatsApp: failed status webhook
        ("+14155551047", {"text": {"body": "hi"}}, 131047),  # 24 h window closed: failed status webhook
        ("+14155550429", {"text": {"body": "hi"}}, 130429),  # rate limited on every attempt: the round's age runs out
        ("+14155550500", {"text": {"body": "hi"}}, 2),  # provider 5xx on every attempt: retries exhausted
        ("+14155550190", {"text": {"body": "hi"}}, 190),  # expired token: permanent at once
    ],
)
async def test_scripted_failures_reach_failed_with_the_provider_code(
    client: httpx.AsyncClient, tenant: dict[str, Any], to: str, content: dict[str, Any], code: int
) -> None:
    response = await send(client, tenant, {"to": to, **content})
    assert response.status_code == 202
    message = await wait_for_status(client, tenant, response.json()["id"], {"failed"}, timeout=45)
    assert message["error"]["code"] == code
    assert str(code) in message["error"]["reason"]


async def test_window_closed_number_still_receives_templates(client: httpx.AsyncClient, tenant: dict[str, Any]) -> None:
    response = await send(client, tenant, {"to": "+14155551047", "template": TEMPLATE})
    await wait_for_status(client, tenant, response.json()["id"], {"read"})


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"to": "4155550123", "text": {"body": "hi"}}, {"to"}),
        ({"to": "+1415555", "text": {"body": "hi"}}, {"to"}),
        ({"to": "+14155550123", "text": {"body": ""}}, {"text.body"}),
        ({"to": "+14155550123", "text": {"body": "x" * 4097}}, {"text.body"}),
        ({"to": "+14155550123"}, {"text"}),
        ({"to": "+14155550123", "text": {"body": "a"}, "template": TEMPLATE}, {"text"}),
        ({"to": "+14155550123", "template": {**TEMPLATE, "name": "no_such_template"}}, {"template.name"}),
        ({"to": "+14155550123", "template": {**TEMPLATE, "language": "fr"}}, {"template.language"}),
        ({"to": "+14155550123", "template": {**TEMPLATE, "params": {"body": ["only one"]}}}, {"template.params.body"}),
        ({"to": "+14155550123", "text": {"body": "hi"}, "sender": "999"}, {"sender"}),
        ({"to": 14155550123, "text": {"body": "hi"}}, {"to"}),
        ({"to": "+14155550123", "text": {"body": "hi"}, "colour": "red"}, {"colour"}),
    ],
)
async def test_bad_input_is_422_naming_the_field_and_stores_nothing(
    client: httpx.AsyncClient, tenant: dict[str, Any], body: dict[str, Any], fields: set[str]
) -> None:
    response = await send(client, tenant, body)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"] == "https://switchboard.dev/problems/invalid-request"
    assert {e["field"] for e in problem["errors"]} == fields
    listed = (await client.get("/v1/messages", headers=auth(tenant))).json()
    assert listed["data"] == []


async def test_malformed_json_is_400_problem(client: httpx.AsyncClient, tenant: dict[str, Any]) -> None:
    response = await client.post(
        "/v1/messages", content=b'{"to": ', headers={**auth(tenant), "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["type"] == "https://switchboard.dev/problems/malformed-request"


async def test_body_over_the_limit_is_413(client: httpx.AsyncClient, tenant: dict[str, Any]) -> None:
    response = await send(client, tenant, {"to": "+14155550123", "text": {"body": "x" * 70_000}})
    assert response.status_code == 413
    assert response.json()["type"] == "https://switchboard.dev/problems/payload-too-large"


async def test_grpc_bad_input_has_bad_request_field_violations(stack: Stack, tenant: dict[str, Any]) -> None:
    metadata = (("authorization", f"Bearer {tenant['api_key']}"),)
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        stub = pb_grpc.MessagingServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.SendMessage(pb.SendMessageRequest(to="12", text=pb.TextContent(body="")), metadata=metadata)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(raised.value)
    assert status is not None
    violations: set[str] = set()
    reasons: set[str] = set()
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations |= {v.field for v in bad.field_violations}
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reasons.add(info.reason)
    assert violations == {"to", "text.body"}
    assert reasons == {"INVALID"}


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc", "Bearer sb_000000000000_wrong"])
async def test_missing_or_invalid_key_is_401(client: httpx.AsyncClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    for body in ({"to": "+14155550123", "text": {"body": "hi"}}, {"to": 5, "colour": "red"}):
        # Authentication comes first: without a valid key, even a bad body learns nothing.
        response = await client.post("/v1/messages", json=body, headers=headers)
        assert response.status_code == 401
        assert response.json()["type"] == "https://switchboard.dev/problems/unauthenticated"
        assert response.headers["www-authenticate"] == "Bearer"


async def test_revoked_key_is_401_over_rest_and_grpc(
    client: httpx.AsyncClient, tenant: dict[str, Any], stack: Stack, pool: Any
) -> None:
    await pool.execute("UPDATE api_keys SET revoked_at = now() WHERE tenant_id = $1", uuid.UUID(tenant["tenant_id"]))
    response = await send(client, tenant, {"to": "+14155550123", "text": {"body": "hi"}})
    assert response.status_code == 401
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        stub = pb_grpc.MessagingServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.GetMessage(
                pb.GetMessageRequest(id=str(uuid.uuid4())), metadata=(("authorization", f"Bearer {tenant['api_key']}"),)
            )
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_another_tenants_message_answers_exactly_like_an_unknown_id(
    client: httpx.AsyncClient, tenant: dict[str, Any], stack: Stack
) -> None:
    other = await new_tenant(stack)
    theirs = (await send(client, other, {"to": "+14155550123", "text": {"body": "private"}})).json()["id"]
    unknown = str(uuid.uuid4())
    for suffix in ("", "/events"):
        foreign = await client.get(f"/v1/messages/{theirs}{suffix}", headers=auth(tenant))
        missing = await client.get(f"/v1/messages/{unknown}{suffix}", headers=auth(tenant))
        assert foreign.status_code == missing.status_code == 404
        assert foreign.json()["type"] == missing.json()["type"]
        assert foreign.json()["detail"].replace(theirs, "ID") == missing.json()["detail"].replace(unknown, "ID")
    metadata = (("authorization", f"Bearer {tenant['api_key']}"),)
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        stub = pb_grpc.MessagingServiceStub(channel)
        for message_id in (theirs, unknown):
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await stub.GetMessage(pb.GetMessageRequest(id=message_id), metadata=metadata)
            assert raised.value.code() == grpc.StatusCode.NOT_FOUND


async def test_idempotency_key_returns_the_same_message_and_sends_once(
    client: httpx.AsyncClient, tenant: dict[str, Any], stack: Stack
) -> None:
    body = {"to": "+14155550123", "template": TEMPLATE}
    first = await send(client, tenant, body, **{"Idempotency-Key": "order-1042-shipped"})
    second = await send(client, tenant, body, **{"Idempotency-Key": "order-1042-shipped"})
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert second.headers["idempotent-replayed"] == "true"
    changed = await send(client, tenant, {**body, "to": "+14155550124"}, **{"Idempotency-Key": "order-1042-shipped"})
    assert changed.status_code == 422
    assert changed.json()["errors"][0]["field"] == "Idempotency-Key"
    await wait_for_status(client, tenant, first.json()["id"], {"read"})
    assert await sandbox_sends(client, stack, first.json()["id"]) == 1
    assert len((await client.get("/v1/messages", headers=auth(tenant))).json()["data"]) == 1


async def test_an_idempotency_key_older_than_a_day_names_a_new_message(
    client: httpx.AsyncClient, tenant: dict[str, Any], pool: Pool
) -> None:
    body = {"to": "+14155550123", "template": TEMPLATE}
    first = await send(client, tenant, body, **{"Idempotency-Key": "weekly-reminder"})
    await pool.execute(
        "UPDATE messages SET created_at = now() - interval '25 hours' WHERE id = $1", uuid.UUID(first.json()["id"])
    )
    later = await send(client, tenant, {**body, "to": "+14155550124"}, **{"Idempotency-Key": "weekly-reminder"})
    assert later.status_code == 202 and "idempotent-replayed" not in later.headers
    assert later.json()["id"] != first.json()["id"]
    again = await send(client, tenant, {**body, "to": "+14155550124"}, **{"Idempotency-Key": "weekly-reminder"})
    assert again.json()["id"] == later.json()["id"] and again.headers["idempotent-replayed"] == "true"
    old = (await client.get(f"/v1/messages/{first.json()['id']}", headers=auth(tenant))).json()
    assert old["idempotency_key"] is None  # the day-old message keeps all but its key


async def test_list_messages_filters_and_paginates(client: httpx.AsyncClient, tenant: dict[str, Any]) -> None:
    ids = [
        (await send(client, tenant, {"to": f"+1415555012{i}", "text": {"body": "hi"}})).json()["id"] for i in range(5)
    ]
    page = (await client.get("/v1/messages", params={"limit": 2}, headers=auth(tenant))).json()
    seen = [m["id"] for m in page["data"]]
    while page["next_cursor"]:
        page = (
            await client.get("/v1/messages", params={"limit": 2, "cursor": page["next_cursor"]}, headers=auth(tenant))
        ).json()
        seen += [m["id"] for m in page["data"]]
    assert seen == list(reversed(ids))
    filtered = (await client.get("/v1/messages", params={"to": "+14155550123"}, headers=auth(tenant))).json()
    assert [m["id"] for m in filtered["data"]] == [ids[3]]
    bad = await client.get("/v1/messages", params={"status": "bogus"}, headers=auth(tenant))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"


async def test_operator_cli_creates_a_tenant_and_a_key_then_revokes_it(client: httpx.AsyncClient, stack: Stack) -> None:
    created = stack.cli("tenant", "create", "Acme")
    assert created.returncode == 0, created.stderr
    tenant_id = created.stdout.strip()
    issued = stack.cli("apikey", "create", "--tenant", tenant_id, "--name", "ci")
    assert issued.returncode == 0, issued.stderr
    key = issued.stdout.strip()
    key_id = issued.stderr.split("key id ")[1].split()[0]
    headers = {"Authorization": f"Bearer {key}"}
    assert (await client.get("/v1/messages", headers=headers)).status_code == 200
    revoked = stack.cli("apikey", "revoke", "--tenant", tenant_id, key_id)
    assert revoked.returncode == 0, revoked.stderr
    assert (await client.get("/v1/messages", headers=headers)).status_code == 401
    unknown = stack.cli("apikey", "revoke", "--tenant", tenant_id, key_id)
    assert unknown.returncode == 1 and unknown.stderr.strip() == f"switchboard: API key {key_id} not found"
