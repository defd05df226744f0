"""Plans and quotas at both edges, on the running processes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from switchboard.messaging.v1 import messaging_pb2 as pb
from switchboard.messaging.v1 import messaging_pb2_grpc as pb_grpc

from kernel.db import Pool
from tests.conftest import auth, new_tenant
from tests.fixtures.services import RedisServer
from tests.fixtures.stack import Stack

TEXT = {"to": "+14155550123", "text": {"body": "hello"}}


def on_plan(stack: Stack, facts: dict[str, Any], *options: str) -> str:
    plan = "p" + uuid.uuid4().hex[:12]
    made = stack.cli("plans", "set", plan, *options)
    assert made.returncode == 0, made.stderr
    moved = stack.cli("tenant", "plan", "--tenant", facts["tenant_id"], plan)
    assert moved.returncode == 0, moved.stderr
    return plan


async def count(pool: Pool, facts: dict[str, Any]) -> int:
    found: int = await pool.fetchval("SELECT count(*) FROM messages WHERE tenant_id = $1::uuid", facts["tenant_id"])
    return found


async def test_over_the_rate_is_429_with_retry_after_and_ratelimit_headers(
    client: httpx.AsyncClient, stack: Stack, pool: Pool, tenant: dict[str, Any]
) -> None:
    on_plan(stack, tenant, "--rate", "0.5", "--burst", "3")
    # A request that fails validation consumes nothing.
    for _ in range(5):
        bad = await client.post("/v1/messages", json={"to": "12", "text": {"body": "x"}}, headers=auth(tenant))
        assert bad.status_code == 422
    answers = [await client.post("/v1/messages", json=TEXT, headers=auth(tenant)) for _ in range(4)]
    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    assert answers[0].headers["ratelimit-policy"] == '"burst";q=3;w=6'
    assert answers[0].headers["ratelimit"] == '"burst";r=2;t=0'
    refused = answers[3]
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "https://switchboard.dev/problems/rate-limited"
    assert refused.headers["retry-after"] == "2"
    assert refused.headers["ratelimit"].startswith('"burst";r=0;t=')
    assert await count(pool, tenant) == 3


async def test_a_used_up_month_is_a_different_problem_and_grpc_names_it(
    client: httpx.AsyncClient, stack: Stack, tenant: dict[str, Any]
) -> None:
    on_plan(stack, tenant, "--rate", "100", "--burst", "100", "--monthly", "2")
    assert [(await client.post("/v1/messages", json=TEXT, headers=auth(tenant))).status_code for _ in range(2)] == [
        202,
        202,
    ]
    refused = await client.post("/v1/messages", json=TEXT, headers=auth(tenant))
    assert refused.status_code == 429
    assert refused.json()["type"] == "https://switchboard.dev/problems/quota-exhausted"
    assert int(refused.headers["retry-after"]) > 0 and '"monthly";r=0' in refused.headers["ratelimit"]

    metadata = (("authorization", f"Bearer {tenant['api_key']}"),)
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        stub = pb_grpc.MessagingServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.SendMessage(
                pb.SendMessageRequest(to="+14155550123", text=pb.TextContent(body="hi")), metadata=metadata
            )
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rpc_status.from_call(raised.value)
    assert status is not None
    subjects, delays = [], []
    for detail in status.details:
        if detail.Is(error_details_pb2.QuotaFailure.DESCRIPTOR):
            failure = error_details_pb2.QuotaFailure()
            detail.Unpack(failure)
            subjects += [v.subject for v in failure.violations]
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            delays.append(retry.retry_delay.seconds)
    assert subjects == [f"tenant:{tenant['tenant_id']}:monthly"]
    assert delays and delays[0] > 0


async def test_grpc_rate_limit_and_metadata_on_success(stack: Stack, tenant: dict[str, Any]) -> None:
    on_plan(stack, tenant, "--rate", "0.2", "--burst", "1")
    metadata = (("authorization", f"Bearer {tenant['api_key']}"),)
    request = pb.SendMessageRequest(to="+14155550123", text=pb.TextContent(body="hi"))
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        stub = pb_grpc.MessagingServiceStub(channel)
        call = stub.SendMessage(request, metadata=metadata)
        await call
        sent = dict(await call.initial_metadata())
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.SendMessage(request, metadata=metadata)
    assert sent["ratelimit-policy"] == '"burst";q=1;w=5'
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rpc_status.from_call(raised.value)
    assert status is not None
    subjects = []
    for detail in status.details:
        if detail.Is(error_details_pb2.QuotaFailure.DESCRIPTOR):
            failure = error_details_pb2.QuotaFailure()
            detail.Unpack(failure)
            subjects += [v.subject for v in failure.violations]
    assert subjects == [f"tenant:{tenant['tenant_id']}:rate"]


async def test_a_plan_changed_mid_traffic_applies_to_the_next_request(
    client: httpx.AsyncClient, stack: Stack, tenant: dict[str, Any]
) -> None:
    plan = on_plan(stack, tenant, "--rate", "0.01", "--burst", "1")
    assert (await client.post("/v1/messages", json=TEXT, headers=auth(tenant))).status_code == 202
    assert (await client.post("/v1/messages", json=TEXT, headers=auth(tenant))).status_code == 429
    raised = stack.cli("plans", "set", plan, "--rate", "1000", "--burst", "50")
    assert raised.returncode == 0, raised.stderr
    assert "1000/s burst 50" in raised.stdout
    # The bucket keeps its level and refills at the new rate: within a few ms there are tokens again.
    statuses = [(await client.post("/v1/messages", json=TEXT, headers=auth(tenant))).status_code for _ in range(3)]
    assert statuses == [202, 202, 202]
    listed = stack.cli("plans", "list")
    assert f"{plan}  1000/s burst 50  unlimited  batch 100  tier wait  (1 tenants)" in listed.stdout


async def test_plan_commands_refuse_bad_values_in_one_line(stack: Stack) -> None:
    bad = stack.cli("plans", "set", "Bad Plan", "--rate", "0", "--burst", "1")
    assert bad.returncode == 1
    assert bad.stderr.strip().startswith("switchboard: id: lowercase letters")
    assert "rate_per_second: above 0" in bad.stderr and "Traceback" not in bad.stderr
    other = await new_tenant(stack, windows=False)
    unknown = stack.cli("tenant", "plan", "--tenant", other["tenant_id"], "no-such-plan")
    assert unknown.returncode == 1 and unknown.stderr.strip() == "switchboard: plan: no plan 'no-such-plan'"


@pytest.fixture
async def private_redis_api(stack: Stack) -> AsyncIterator[tuple[RedisServer, str]]:
    server = RedisServer()
    server.start()
    port = stack.start_api_replica("api-private-redis", {"REDIS_URL": server.url})
    try:
        yield server, port
    finally:
        stack.stop_process("api-private-redis")
        server.stop()


async def test_redis_down_keeps_accepting_at_a_per_process_limit_and_recovers(
    stack: Stack, pool: Pool, tenant: dict[str, Any], private_redis_api: tuple[RedisServer, str]
) -> None:
    server, url = private_redis_api
    on_plan(stack, tenant, "--rate", "0.001", "--burst", "8")
    async with httpx.AsyncClient(base_url=url, timeout=10) as api:
        assert (await api.post("/v1/messages", json=TEXT, headers=auth(tenant))).status_code == 202
        server.stop()
        during = [(await api.post("/v1/messages", json=TEXT, headers=auth(tenant))).status_code for _ in range(3)]
        assert during == [202, 202, 429]  # never a 500; a quarter of the burst in this one process
        metrics = (await api.get("/metrics")).text
        assert 'switchboard_quota_fallback_total{pid="' in metrics and tenant["tenant_id"] in metrics
        server.start()
        await asyncio.sleep(1.2)
        after = [(await api.post("/v1/messages", json=TEXT, headers=auth(tenant))).status_code for _ in range(9)]
        assert after == [202] * 8 + [429]  # the shared bucket again (this Redis kept nothing)
    assert await count(pool, tenant) == 1 + 2 + 8
    log = (stack.log_dir / "api-private-redis.log").read_text()
    assert log.count("Redis unavailable for quotas") >= 1 and "Traceback" not in log


async def test_a_batch_larger_than_what_is_left_stores_what_fits_and_names_the_rest(
    client: httpx.AsyncClient, stack: Stack, pool: Pool, tenant: dict[str, Any]
) -> None:
    on_plan(stack, tenant, "--rate", "100", "--burst", "100", "--monthly", "3")
    batch = {"messages": [TEXT, {**TEXT, "to": "12"}, TEXT, TEXT, TEXT]}
    found = (await client.post("/v1/messages:batch", json=batch, headers=auth(tenant))).json()
    assert [r["status"] for r in found["results"]] == [202, 422, 202, 202, 429]
    assert found["results"][4]["error"]["type"].endswith("/quota-exhausted")
    assert await count(pool, tenant) == 3
    # The month is used up exactly: nothing was taken for the refused ones, nothing given back twice.
    again = await client.post("/v1/messages", json=TEXT, headers=auth(tenant))
    assert again.status_code == 429 and '"monthly";r=0' in again.headers["ratelimit"]


async def test_a_batch_over_the_burst_stores_the_burst(
    client: httpx.AsyncClient, stack: Stack, pool: Pool, tenant: dict[str, Any]
) -> None:
    on_plan(stack, tenant, "--rate", "0.5", "--burst", "3")
    answer = await client.post("/v1/messages:batch", json={"messages": [TEXT] * 5}, headers=auth(tenant))
    assert answer.headers["ratelimit"].startswith('"burst";r=0;')  # the burst, used up by the batch
    found = answer.json()
    assert [r["status"] for r in found["results"]] == [202, 202, 202, 429, 429]
    assert found["results"][3]["error"]["type"].endswith("/rate-limited")
    assert await count(pool, tenant) == 3


async def test_a_batch_item_that_replays_an_earlier_one_gives_its_quota_back(
    client: httpx.AsyncClient, stack: Stack, pool: Pool, tenant: dict[str, Any]
) -> None:
    on_plan(stack, tenant, "--rate", "100", "--burst", "100", "--monthly", "3")
    metadata = (("authorization", f"Bearer {tenant['api_key']}"),)
    hi = pb.SendMessageRequest(to="+14155550123", text=pb.TextContent(body="hi"), idempotency_key="same")
    other = pb.SendMessageRequest(to="+14155550123", text=pb.TextContent(body="hi"), idempotency_key="other")
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        found = await pb_grpc.MessagingServiceStub(channel).BatchSendMessages(
            pb.BatchSendMessagesRequest(requests=[hi, hi, other]), metadata=metadata
        )
    assert [r.created for r in found.results] == [True, False, True]
    assert await count(pool, tenant) == 2
    # Three were taken for the batch, one given back for the replay: one message is left this month.
    answers = [await client.post("/v1/messages", json=TEXT, headers=auth(tenant)) for _ in range(2)]
    assert [a.status_code for a in answers] == [202, 429]
