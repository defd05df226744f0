"""Billing as a tenant sees it: the preview before sending, then the bill, and they agree."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import httpx
import pytest
from switchboard.billing.v1 import billing_pb2, billing_pb2_grpc
from switchboard.messaging.v1 import messaging_pb2, messaging_pb2_grpc

from billing import meter
from kernel import db
from kernel.db import Pool
from tests.conftest import auth, new_tenant, wait_for_status
from tests.fixtures.builders import PROMO_SEND, PROMO_TEMPLATE
from tests.fixtures.routes import SMS_TEXT, UTILITY, email, wait_for_channel
from tests.fixtures.rpc import violations
from tests.fixtures.stack import Stack

UCS2_TEXT = "Ваш заказ #1042 отправлен. " * 6  # Cyrillic: UCS-2, 162 characters, 3 segments


async def estimate(client: httpx.AsyncClient, facts: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/v1/messages:estimate", json=body, headers=auth(facts))
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def billed(client: httpx.AsyncClient, facts: dict[str, Any]) -> int:
    today = datetime.now(UTC).date()
    params = {"since": str(today - timedelta(days=1)), "until": str(today + timedelta(days=2))}
    response = await client.get("/v1/usage", params=params, headers=auth(facts))
    assert response.status_code == 200, response.text
    return sum(total["amount"] for total in response.json()["totals"])


async def test_the_preview_prices_every_channel_of_the_route(client: httpx.AsyncClient, tenant: dict[str, Any]) -> None:
    body = {"to": "+14155550123", "template": UTILITY, "fallback": email("ada@example.com")}
    found = await estimate(client, tenant, body)
    assert [(line["channel"], line["category"], line["country"], line["units"]) for line in found["lines"]] == [
        ("whatsapp", "utility", "US", 1),
        ("sms", "message", "US", 1),
        ("email", "message", "*", 1),
    ]
    # The default plan's card, in US cents.
    assert [line["amount"] for line in found["lines"]] == [1, 1, 1]
    assert (found["currency"], found["first"], found["most"]) == ("USD", 1, 3)
    # An SMS in Cyrillic is UCS-2: three segments, each billed; the tenant's route can skip SMS.
    long_sms = {**body, "fallback": {"sms": {"text": UCS2_TEXT}}, "to": "+447400123456"}
    found = await estimate(client, tenant, long_sms)
    assert [(line["channel"], line["country"], line["units"], line["amount"]) for line in found["lines"]] == [
        ("whatsapp", "GB", 1, 1),
        ("sms", "GB", 3, 6),
    ]
    text = await estimate(client, tenant, {"to": "+14155550123", "text": {"body": "hi"}})
    assert text["lines"][0]["category"] == "service" and text["first"] == 0
    assert await billed(client, tenant) == 0  # nothing was sent


@pytest.mark.parametrize(
    ("case", "to"),
    [
        ("utility", "+14155550123"),
        ("marketing", "+14155550124"),
        ("service text", "+14155550123"),
        # Not on WhatsApp: the WhatsApp attempt fails (not billed) and the SMS is billed per segment.
        ("sms fallback", "+14155550000"),
    ],
)
async def test_the_bill_equals_the_preview_once_delivered(
    client: httpx.AsyncClient, stack: Stack, pool: Pool, sms_tenant: dict[str, Any], case: str, to: str
) -> None:
    body: dict[str, Any] = {"to": to, "template": UTILITY}
    if case == "marketing":
        assert (await client.post("/v1/templates", json=PROMO_TEMPLATE, headers=auth(sms_tenant))).status_code == 201
        body["template"] = PROMO_SEND
    elif case == "service text":
        body = {"to": to, "text": {"body": "Your table is ready"}}
    elif case == "sms fallback":
        body["fallback"] = {"sms": {"text": UCS2_TEXT}}
    preview = await estimate(client, sms_tenant, body)
    sent = await client.post("/v1/messages", json=body, headers=auth(sms_tenant))
    assert sent.status_code == 202, sent.text
    message_id = sent.json()["id"]
    if case == "sms fallback":
        await wait_for_channel(client, sms_tenant, message_id, "sms", {"delivered"})
        expected = preview["lines"][1]["amount"]
    else:
        await wait_for_status(client, sms_tenant, message_id, {"read"})
        expected = preview["first"]
    for _ in range(50):  # the bill follows the webhooks that the workers reconcile
        if await billed(client, sms_tenant) == expected:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)  # and stays there: later statuses bill nothing more
    assert await billed(client, sms_tenant) == expected
    if case == "sms fallback":
        assert expected == 3  # three UCS-2 segments at 1 cent to the US
    # Each billable event names the attempt that sent what it bills, and Meta's pricing model
    # comes from the webhook (Twilio reports none).
    events = await pool.fetch(
        "SELECT b.channel, a.channel AS attempt_channel, a.message_id, b.pricing_model FROM billable_events b "
        "LEFT JOIN delivery_attempts a ON a.id = b.attempt_id WHERE b.message_id = $1",
        uuid.UUID(message_id),
    )
    channel = "sms" if case == "sms fallback" else "whatsapp"
    assert [(e["channel"], e["attempt_channel"], str(e["message_id"]), e["pricing_model"]) for e in events] == (
        [] if expected == 0 else [(channel, channel, message_id, None if channel == "sms" else "PMP")]
    )


async def test_bad_requests_name_the_field_and_another_tenants_usage_is_not_seen(
    client: httpx.AsyncClient, stack: Stack, tenant: dict[str, Any]
) -> None:
    unknown = await client.post(
        "/v1/messages:estimate",
        json={"to": "+14155550123", "template": {**UTILITY, "name": "no_such_template"}},
        headers=auth(tenant),
    )
    assert unknown.status_code == 422
    assert unknown.headers["content-type"].startswith("application/problem+json")
    assert unknown.json()["errors"][0]["field"] == "template.name"
    backwards = await client.get(
        "/v1/usage", params={"since": "2026-02-01", "until": "2026-01-01"}, headers=auth(tenant)
    )
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "until"
    sent = await client.post("/v1/messages", json={"to": "+14155550123", "template": UTILITY}, headers=auth(tenant))
    await wait_for_status(client, tenant, sent.json()["id"], {"read"})
    other = await new_tenant(stack)
    assert await billed(client, other) == 0


async def test_grpc_gives_the_same_preview_and_usage_and_names_a_bad_date(
    client: httpx.AsyncClient, stack: Stack, tenant: dict[str, Any]
) -> None:
    body = {"to": "+447400123456", "template": UTILITY, "fallback": {"sms": {"text": SMS_TEXT}}}
    over_rest = await estimate(client, tenant, body)
    metadata = (("authorization", f"Bearer {tenant['api_key']}"),)
    message = messaging_pb2.SendMessageRequest(
        to=body["to"],
        template=messaging_pb2.TemplateContent(
            name=UTILITY["name"],
            language=UTILITY["language"],
            params=messaging_pb2.TemplateParams(body=["Ada", "#1042"]),
        ),
        fallback=messaging_pb2.Fallback(sms=messaging_pb2.SmsFallback(text=SMS_TEXT)),
    )
    today = datetime.now(UTC).date()
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        stub = billing_pb2_grpc.BillingServiceStub(channel)
        over_grpc = await stub.EstimateMessageCost(
            billing_pb2.EstimateMessageCostRequest(message=message), metadata=metadata
        )
        batch = await stub.BatchEstimateMessageCost(
            billing_pb2.BatchEstimateMessageCostRequest(messages=[message, message]), metadata=metadata
        )
        usage = await stub.GetUsage(
            billing_pb2.GetUsageRequest(since=str(today), until=str(today + timedelta(days=1))), metadata=metadata
        )
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.GetUsage(billing_pb2.GetUsageRequest(since="yesterday", until=str(today)), metadata=metadata)
    lines = [
        {
            "channel": line.channel,
            "category": line.category,
            "country": line.country,
            "units": line.units,
            "unit_price": line.unit_price,
            "amount": line.amount,
            "currency": line.currency,
        }
        for line in over_grpc.lines
    ]
    assert lines == over_rest["lines"]
    assert (over_grpc.currency, over_grpc.first, over_grpc.most) == ("USD", 1, 3)
    assert (len(batch.estimates), batch.first, batch.most) == (2, 2, 6)
    assert list(usage.rows) == [] and list(usage.totals) == []
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(raised.value) == {("since", "invalid_date")}


async def budget(client: httpx.AsyncClient, facts: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = (await client.get("/v1/budget", headers=auth(facts))).json()
    return found


async def test_a_budget_refuses_what_would_pass_it_and_alerts_at_80_and_100_percent(
    client: httpx.AsyncClient, stack: Stack, tenant: dict[str, Any]
) -> None:
    refused = await client.put("/v1/budget", json={"monthly_budget": -1}, headers=auth(tenant))
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "monthly_budget"
    set_to = await client.put("/v1/budget", json={"monthly_budget": 5}, headers=auth(tenant))
    assert set_to.status_code == 200 and set_to.json()["monthly_budget"] == 5
    body = {"to": "+14155550123", "template": UTILITY}  # 1 cent each
    for expected_alerts in ([], [], [], [80], [80, 100]):
        sent = await client.post("/v1/messages", json=body, headers=auth(tenant))
        assert sent.status_code == 202, sent.text
        await wait_for_status(client, tenant, sent.json()["id"], {"read"})
        for _ in range(50):  # until this message is billed (the webhook is reconciled)
            found = await budget(client, tenant)
            if [a["threshold"] for a in found["alerts"]] == expected_alerts:
                break
            await asyncio.sleep(0.1)
    found = await budget(client, tenant)
    assert (found["spent"], [a["threshold"] for a in found["alerts"]]) == (5, [80, 100])
    over = await client.post("/v1/messages", json=body, headers=auth(tenant))
    assert over.status_code == 402
    assert over.json()["type"].endswith("/budget-exceeded")
    listed = (await client.get("/v1/messages", headers=auth(tenant))).json()["data"]
    assert len(listed) == 5  # the refused message was not stored
    free = await client.post("/v1/messages", json={"to": "+14155550123", "text": {"body": "hi"}}, headers=auth(tenant))
    assert free.status_code == 202  # a free service reply costs nothing, so it still goes
    metadata = (("authorization", f"Bearer {tenant['api_key']}"),)
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        stub = billing_pb2_grpc.BillingServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await messaging_pb2_grpc.MessagingServiceStub(channel).SendMessage(
                messaging_pb2.SendMessageRequest(
                    to="+14155550123",
                    template=messaging_pb2.TemplateContent(
                        name=UTILITY["name"],
                        language=UTILITY["language"],
                        params=messaging_pb2.TemplateParams(body=["Ada", "#1042"]),
                    ),
                ),
                metadata=metadata,
            )
        assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        lifted = await stub.UpdateBudget(billing_pb2.UpdateBudgetRequest(), metadata=metadata)
    assert not lifted.budget.HasField("monthly_budget") and lifted.budget.spent == 5
    again = await client.post("/v1/messages", json=body, headers=auth(tenant))
    assert again.status_code == 202


async def test_invoices_draft_then_final_once_the_month_is_closed(
    client: httpx.AsyncClient, stack: Stack, pool: Pool, tenant: dict[str, Any]
) -> None:
    tenant_id = uuid.UUID(tenant["tenant_id"])
    last_second = datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC)
    async with db.unit_of_work(pool) as conn:
        await meter.record(
            conn,
            tenant_id,
            [
                meter.Billable(
                    "whatsapp:wamid.jan", uuid.uuid4(), "whatsapp", "marketing", "US", "test", 1, last_second
                ),
                meter.Billable("sms:SMjan", uuid.uuid4(), "sms", "message", "US", "test", 2, last_second),
            ],
        )
    draft = await client.get("/v1/invoices/2026-01", headers=auth(tenant))
    assert draft.status_code == 200
    [invoice] = draft.json()
    assert (invoice["status"], invoice["currency"], invoice["total"]) == ("draft", "USD", 5)
    assert [(line["channel"], line["quantity"], line["amount"]) for line in invoice["lines"]] == [
        ("sms", 2, 2),
        ("whatsapp", 1, 3),
    ]
    closing = stack.cli("billing", "close-month", "--month", "2026-01")
    assert closing.returncode == 0, closing.stderr
    assert "invoices finalized" in closing.stdout
    [final] = (await client.get("/v1/invoices/2026-01", headers=auth(tenant))).json()
    assert (final["status"], final["total"], final["lines"]) == ("final", 5, invoice["lines"])
    assert final["finalized_at"] is not None
    again = stack.cli("billing", "close-month", "--month", "2026-01")
    assert again.returncode == 0 and again.stdout.startswith("2026-01: 0 invoices finalized")
    assert (await client.get("/v1/invoices/2026-01", headers=auth(tenant))).json() == [final]
    listed = (await client.get("/v1/invoices", headers=auth(tenant))).json()["data"]
    assert [i["status"] for i in listed] == ["draft", "final"] and listed[1] == final
    as_csv = await client.get("/v1/invoices/2026-01/csv", headers=auth(tenant))
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = as_csv.text.splitlines()
    assert rows[0].startswith("month,status,currency,channel") and rows[-1] == "2026-01,final,USD,total,,,,,,5"
    page = await client.get("/v1/invoices/2026-01/html", headers=auth(tenant))
    assert page.headers["content-type"].startswith("text/html") and "0.05 USD" in page.text
    open_month = stack.cli("billing", "close-month", "--month", f"{datetime.now(UTC):%Y-%m}")
    assert open_month.returncode == 1 and "has not ended yet" in open_month.stderr
    bad = await client.get("/v1/invoices/2026-13", headers=auth(tenant))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "month"
    other = await new_tenant(stack)
    [theirs] = (await client.get("/v1/invoices/2026-01", headers=auth(other))).json()
    assert (theirs["total"], theirs["lines"]) == (0, [])


async def test_an_operator_prices_a_plan_and_its_included_messages_are_free_then_overage(
    client: httpx.AsyncClient, stack: Stack, tenant: dict[str, Any]
) -> None:
    plan = f"billing-{uuid.uuid4().hex[:8]}"
    for command in (
        ("plans", "set", plan, "--rate", "100", "--burst", "100"),
        ("billing", "price", plan, "whatsapp", "--category", "utility", "--price", "7"),
        ("billing", "price", plan, "whatsapp", "--category", "utility", "--country", "GB", "--price", "9"),
        ("billing", "included", plan, "1"),
        ("tenant", "plan", "--tenant", tenant["tenant_id"], plan),
    ):
        done = stack.cli(*command)
        assert done.returncode == 0, done.stderr
    listing = stack.cli("billing", "prices", "--plan", plan).stdout.splitlines()
    assert listing[0] == f"{plan}  included 1 messages/month"
    assert [line.split() for line in listing[1:]] == [
        ["whatsapp", "utility", "*", "7", "USD"],
        ["whatsapp", "utility", "GB", "9", "USD"],
    ]
    wrong = stack.cli("billing", "price", plan, "sms", "--price", "3", "--currency", "EUR")
    assert wrong.returncode == 1 and "one currency per plan" in wrong.stderr
    body = {"to": "+14155550123", "template": UTILITY}
    assert (await estimate(client, tenant, body))["first"] == 0  # the included message
    sent = await client.post("/v1/messages", json=body, headers=auth(tenant))
    await wait_for_status(client, tenant, sent.json()["id"], {"read"})
    for _ in range(50):
        if (await estimate(client, tenant, body))["first"] == 7:  # used up: overage at the plan's price
            break
        await asyncio.sleep(0.1)
    assert (await estimate(client, tenant, body))["first"] == 7
    assert (await estimate(client, tenant, {**body, "to": "+447400123456"}))["first"] == 9
    sent = await client.post("/v1/messages", json=body, headers=auth(tenant))
    await wait_for_status(client, tenant, sent.json()["id"], {"read"})
    for _ in range(50):
        if await billed(client, tenant) == 7:
            break
        await asyncio.sleep(0.1)
    [draft] = (await client.get(f"/v1/invoices/{datetime.now(UTC):%Y-%m}", headers=auth(tenant))).json()
    assert [(line["unit_price"], line["quantity"], line["amount"]) for line in draft["lines"]] == [(0, 1, 0), (7, 1, 7)]


async def test_a_batch_preview_sums_its_messages_and_names_a_bad_one(
    client: httpx.AsyncClient, tenant: dict[str, Any]
) -> None:
    one = {"to": "+14155550123", "template": UTILITY, "fallback": {"sms": {"text": SMS_TEXT}}}
    batch = {"messages": [one, {**one, "to": "+447400123456"}, {"to": "+14155550123", "text": {"body": "hi"}}]}
    response = await client.post("/v1/messages:batchEstimate", json=batch, headers=auth(tenant))
    assert response.status_code == 200, response.text
    found = response.json()
    assert [(e["first"], e["most"]) for e in found["estimates"]] == [(1, 2), (1, 3), (0, 0)]
    assert (found["currency"], found["first"], found["most"]) == ("USD", 2, 5)
    bad = {"messages": [one, {**one, "to": "12"}]}
    refused = await client.post("/v1/messages:batchEstimate", json=bad, headers=auth(tenant))
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["messages.1.to"]
    empty = await client.post("/v1/messages:batchEstimate", json={"messages": []}, headers=auth(tenant))
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "messages"


async def test_a_batch_counts_its_own_messages_against_the_budget(
    client: httpx.AsyncClient, tenant: dict[str, Any]
) -> None:
    assert (await client.put("/v1/budget", json={"monthly_budget": 2}, headers=auth(tenant))).status_code == 200
    body = {"to": "+14155550123", "template": UTILITY}  # 1 cent each, nothing spent yet
    found = (await client.post("/v1/messages:batch", json={"messages": [body] * 3}, headers=auth(tenant))).json()
    assert [r["status"] for r in found["results"]] == [202, 202, 402]
    assert found["results"][2]["error"]["type"].endswith("/budget-exceeded")
    assert len((await client.get("/v1/messages", headers=auth(tenant))).json()["data"]) == 2
