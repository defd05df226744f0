"""A key seen recently is not looked up again (tenants.callers), and nothing a user can see changes:
revocation, suspension and plan changes apply from the very next request, over REST and gRPC."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import httpx
from switchboard.messaging.v1 import messaging_pb2 as pb
from switchboard.messaging.v1 import messaging_pb2_grpc as pb_grpc

from kernel.db import Pool
from tests.conftest import auth
from tests.e2e.test_quotas_api import TEXT, count, on_plan
from tests.fixtures.stack import Stack

REQUEST = pb.SendMessageRequest(to="+14155550123", text=pb.TextContent(body="hello"))


async def grpc_send(stack: Stack, tenant: dict[str, Any], **fields: Any) -> grpc.StatusCode:
    metadata = (("authorization", f"Bearer {tenant['api_key']}"),)
    request = pb.SendMessageRequest()
    request.CopyFrom(REQUEST)
    for name, value in fields.items():
        setattr(request, name, value)
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        try:
            await pb_grpc.MessagingServiceStub(channel).SendMessage(request, metadata=metadata, timeout=10)
        except grpc.aio.AioRpcError as error:
            return error.code()
    return grpc.StatusCode.OK


async def key_id(pool: Pool, tenant: dict[str, Any]) -> str:
    found: uuid.UUID = await pool.fetchval(
        "SELECT id FROM api_keys WHERE tenant_id = $1::uuid AND revoked_at IS NULL", tenant["tenant_id"]
    )
    return str(found)


async def test_a_revoked_key_is_refused_on_its_next_request(
    client: httpx.AsyncClient, stack: Stack, pool: Pool, tenant: dict[str, Any]
) -> None:
    for _ in range(2):  # the second of each is served from memory
        assert (await client.post("/v1/messages", json=TEXT, headers=auth(tenant))).status_code == 202
        assert await grpc_send(stack, tenant) == grpc.StatusCode.OK
    revoked = stack.cli("apikey", "revoke", "--tenant", tenant["tenant_id"], await key_id(pool, tenant))
    assert revoked.returncode == 0, revoked.stderr
    refused = await client.post("/v1/messages", json=TEXT, headers=auth(tenant))
    assert refused.status_code == 401
    assert refused.json()["type"] == "https://switchboard.dev/problems/unauthenticated"
    assert await grpc_send(stack, tenant) == grpc.StatusCode.UNAUTHENTICATED
    assert await count(pool, tenant) == 4


async def test_a_suspended_tenants_invalid_request_reads_as_unauthenticated(
    client: httpx.AsyncClient, stack: Stack, pool: Pool, tenant: dict[str, Any]
) -> None:
    assert (await client.post("/v1/messages", json=TEXT, headers=auth(tenant))).status_code == 202
    assert await grpc_send(stack, tenant) == grpc.StatusCode.OK
    await pool.execute("UPDATE tenants SET status = 'suspended' WHERE id = $1::uuid", tenant["tenant_id"])
    bad = {"to": "12", "text": {"body": "x"}}  # as a remembered caller, this would be a 422
    assert (await client.post("/v1/messages", json=bad, headers=auth(tenant))).status_code == 401
    assert await grpc_send(stack, tenant, to="12") == grpc.StatusCode.UNAUTHENTICATED


async def test_a_replay_after_revocation_is_refused(
    client: httpx.AsyncClient, stack: Stack, pool: Pool, tenant: dict[str, Any]
) -> None:
    headers = {**auth(tenant), "Idempotency-Key": "order-1042"}
    first = await client.post("/v1/messages", json=TEXT, headers=headers)
    replay = await client.post("/v1/messages", json=TEXT, headers=headers)
    assert first.status_code == replay.status_code == 202
    assert replay.headers["idempotent-replayed"] == "true"
    assert await grpc_send(stack, tenant, idempotency_key="order-1043") == grpc.StatusCode.OK
    assert await grpc_send(stack, tenant, idempotency_key="order-1043") == grpc.StatusCode.OK
    await pool.execute("UPDATE api_keys SET revoked_at = now() WHERE tenant_id = $1::uuid", tenant["tenant_id"])
    assert (await client.post("/v1/messages", json=TEXT, headers=headers)).status_code == 401
    assert await grpc_send(stack, tenant, idempotency_key="order-1043") == grpc.StatusCode.UNAUTHENTICATED


async def test_a_raised_plan_admits_the_next_request(
    client: httpx.AsyncClient, stack: Stack, pool: Pool, tenant: dict[str, Any]
) -> None:
    on_plan(stack, tenant, "--rate", "0.01", "--burst", "2")
    assert (await client.post("/v1/messages", json=TEXT, headers=auth(tenant))).status_code == 202
    assert await grpc_send(stack, tenant) == grpc.StatusCode.OK
    assert (await client.post("/v1/messages", json=TEXT, headers=auth(tenant))).status_code == 429
    assert await grpc_send(stack, tenant) == grpc.StatusCode.RESOURCE_EXHAUSTED
    on_plan(stack, tenant, "--rate", "100", "--burst", "100")
    accepted = await client.post("/v1/messages", json=TEXT, headers=auth(tenant))
    assert accepted.status_code == 202, (accepted.text, dict(accepted.headers))
    assert accepted.headers["ratelimit-policy"].startswith('"burst";q=100;')
    assert await grpc_send(stack, tenant) == grpc.StatusCode.OK
    assert await count(pool, tenant) == 4
