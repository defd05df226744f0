"""Operators manage plans and rate cards over REST and gRPC with an operator key; tenants cannot."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import httpx
import pytest
from switchboard.billing.v1 import billing_pb2, billing_pb2_grpc

from tests.conftest import auth
from tests.fixtures.stack import Stack


def operator_key(stack: Stack) -> str:
    made = stack.cli("operator", "key", "create", "--name", "ops")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("sbop_")
    return key


async def test_operators_set_a_plan_and_its_rate_card_over_rest_and_grpc(
    client: httpx.AsyncClient, stack: Stack, tenant: dict[str, Any]
) -> None:
    key = operator_key(stack)
    ops = {"Authorization": f"Bearer {key}"}
    plan = f"ops-{uuid.uuid4().hex[:8]}"
    body = {
        "rate_per_second": 50,
        "burst": 100,
        "included_messages": 10,
        "prices": [
            {"channel": "whatsapp", "category": "utility", "unit_price": 4},
            {"channel": "sms", "country": "US", "unit_price": 2},
        ],
    }
    put = await client.put(f"/v1/operator/plans/{plan}", json=body, headers=ops)
    assert put.status_code == 200, put.text
    view = put.json()
    assert (view["id"], view["burst"], view["included_messages"], view["currency"], view["tenants"]) == (
        plan,
        100,
        10,
        "USD",
        0,
    )
    assert sorted((p["channel"], p["category"], p["country"], p["unit_price"]) for p in view["prices"]) == [
        ("sms", "*", "US", 2),
        ("whatsapp", "utility", "*", 4),
    ]
    # All or nothing: a bad price changes neither the card nor the limits.
    bad = {**body, "burst": 7, "prices": [{"channel": "fax", "unit_price": 1}]}
    refused = await client.put(f"/v1/operator/plans/{plan}", json=bad, headers=ops)
    assert refused.status_code == 422 and [e["field"] for e in refused.json()["errors"]] == ["prices.0.channel"]
    assert (await client.get(f"/v1/operator/plans/{plan}", headers=ops)).json() == view

    metadata = (("authorization", f"Bearer {key}"),)
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        stub = billing_pb2_grpc.PlanServiceStub(channel)
        got = await stub.GetPlan(billing_pb2.GetPlanRequest(id=plan), metadata=metadata)
        assert (got.plan.spec.included_messages, got.plan.spec.burst) == (10, 100)
        spec = billing_pb2.PlanSpec(
            rate_per_second=20, burst=40, prices=[billing_pb2.PlanPrice(channel="email", unit_price=3)]
        )
        await stub.UpdatePlan(billing_pb2.UpdatePlanRequest(id=plan, spec=spec), metadata=metadata)
        listed = await stub.ListPlans(billing_pb2.ListPlansRequest(), metadata=metadata)
        assert plan in [p.id for p in listed.plans]
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await stub.GetPlan(billing_pb2.GetPlanRequest(id="no-such-plan"), metadata=metadata)
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as as_tenant:
            await stub.ListPlans(
                billing_pb2.ListPlansRequest(), metadata=(("authorization", f"Bearer {tenant['api_key']}"),)
            )
        assert as_tenant.value.code() == grpc.StatusCode.UNAUTHENTICATED
    now = (await client.get(f"/v1/operator/plans/{plan}", headers=ops)).json()
    assert (now["burst"], now["included_messages"], now["prices"]) == (
        40,
        0,
        [{"channel": "email", "unit_price": 3, "category": "*", "country": "*"}],
    )


async def test_keys_open_only_their_own_doors_and_a_revoked_operator_key_opens_none(
    client: httpx.AsyncClient, stack: Stack, tenant: dict[str, Any]
) -> None:
    key = operator_key(stack)
    ops = {"Authorization": f"Bearer {key}"}
    assert (await client.get("/v1/operator/plans", headers=auth(tenant))).status_code == 401
    assert (await client.get("/v1/messages", headers=ops)).status_code == 401
    assert (await client.get("/v1/operator/plans", headers=ops)).status_code == 200
    second = stack.cli("operator", "key", "create")
    second_key, key_id = second.stdout.strip(), second.stderr.split("operator key id ")[1].split(".")[0]
    assert (
        await client.get("/v1/operator/plans", headers={"Authorization": f"Bearer {second_key}"})
    ).status_code == 200
    assert stack.cli("operator", "key", "revoke", key_id).returncode == 0
    gone = await client.get("/v1/operator/plans", headers={"Authorization": f"Bearer {second_key}"})
    assert gone.status_code == 401
    assert (await client.get("/v1/operator/plans", headers=ops)).status_code == 200  # the other still works
    assert stack.cli("operator", "key", "revoke", key_id).returncode == 1  # already revoked
