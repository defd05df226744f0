"""Email, the last fallback channel, on the real processes: the SMTP conversation, then the mail
provider's signed delivery, bounce and complaint events."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from kernel import standard_webhooks
from kernel.db import Pool
from tests.conftest import auth, wait_for_status
from tests.e2e.conftest import make_email_tenant
from tests.fixtures.routes import channels, email, mailbox, send, wait_for_channel
from tests.fixtures.stack import Stack
from webhooks import mail_events


def unique(local: str) -> str:
    """An address whose local part picks the sandbox's outcome, unique to the test by its tag."""
    return f"{local}+{uuid.uuid4().hex[:8]}@example.com"


async def test_without_an_sms_account_the_route_skips_to_email_which_delivers(
    client: httpx.AsyncClient, stack: Stack, email_tenant: dict[str, Any]
) -> None:
    to = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    message_id = await send(client, email_tenant, "+14155550000", fallback=email(to))
    sent = await wait_for_channel(client, email_tenant, message_id, "email", {"delivered"})
    legs = await channels(client, email_tenant, message_id)
    assert legs["sms"]["status"] == "skipped" and legs["sms"]["detail"] == "the tenant has no sms credential"
    [received] = await mailbox(client, stack, to)
    assert received["message_id"] == sent["provider_message_id"] == f"<{message_id}@shop.example>"
    assert (received["subject"], received["text"].strip(), received["html"].strip()) == (
        "Order shipped",
        "Your order shipped.",
        "<p>Shipped.</p>",
    )
    assert received["list_unsubscribe"] is None  # a receipt, not marketing
    # The provider's delivery event proves the email arrived: the message is delivered.
    await wait_for_status(client, email_tenant, message_id, {"delivered"})
    events = (await client.get(f"/v1/messages/{message_id}/events", headers=auth(email_tenant))).json()["data"]
    assert ("recovered", "webhook:email") in [(e["outcome"], e["source"]) for e in events]


async def test_a_hard_bounce_suppresses_the_address(
    client: httpx.AsyncClient, stack: Stack, email_tenant: dict[str, Any]
) -> None:
    first = await send(client, email_tenant, "+14155550000", fallback=email("bounce@example.com"))
    bounced = await wait_for_channel(client, email_tenant, first, "email", {"failed"})
    assert bounced["error_code"] == 550 and bounced["detail"].startswith("hard_bounce")
    second = await send(client, email_tenant, "+14155550000", fallback=email("bounce@example.com"))
    skipped = await wait_for_channel(client, email_tenant, second, "email", {"skipped"})
    assert skipped["detail"].startswith("opted_out")
    await wait_for_status(client, email_tenant, second, {"failed"})


async def test_a_bounce_reported_after_acceptance_fails_the_email_and_suppresses_the_address(
    client: httpx.AsyncClient, stack: Stack, email_tenant: dict[str, Any]
) -> None:
    to = unique("bounce-later")
    first = await send(client, email_tenant, "+14155550000", fallback=email(to))
    bounced = await wait_for_channel(client, email_tenant, first, "email", {"failed"})
    assert bounced["error_code"] == 550
    assert bounced["detail"] == "hard bounce: 5.1.1 mailbox does not exist"
    await wait_for_status(client, email_tenant, first, {"failed"})  # the last channel of its route
    assert len(await mailbox(client, stack, to)) == 1  # the server took it; the bounce came later

    second = await send(client, email_tenant, "+14155550000", fallback=email(to))
    skipped = await wait_for_channel(client, email_tenant, second, "email", {"skipped"})
    assert skipped["detail"] == "opted_out: the recipient is suppressed on email (hard_bounce)"
    assert len(await mailbox(client, stack, to)) == 1  # never emailed again


async def test_a_soft_bounce_fails_the_email_but_keeps_the_address(
    client: httpx.AsyncClient, stack: Stack, email_tenant: dict[str, Any]
) -> None:
    to = unique("softbounce")
    first = await send(client, email_tenant, "+14155550000", fallback=email(to))
    bounced = await wait_for_channel(client, email_tenant, first, "email", {"failed"})
    assert bounced["error_code"] == 452 and bounced["detail"] == "soft bounce: 4.2.2 mailbox full"
    second = await send(client, email_tenant, "+14155550000", fallback=email(to))
    await wait_for_channel(client, email_tenant, second, "email", {"failed"})
    assert len(await mailbox(client, stack, to)) == 2


async def test_a_complaint_suppresses_the_address_but_the_message_stays_delivered(
    client: httpx.AsyncClient, stack: Stack, pool: Pool, email_tenant: dict[str, Any]
) -> None:
    to = unique("complain")
    first = await send(client, email_tenant, "+14155550000", fallback=email(to))
    await wait_for_status(client, email_tenant, first, {"delivered"})
    for _ in range(100):
        reason = await pool.fetchval(
            "SELECT reason FROM opt_outs WHERE tenant_id = $1 AND channel = 'email' AND address = $2",
            uuid.UUID(email_tenant["tenant_id"]),
            to,
        )
        if reason is not None:
            break
        await asyncio.sleep(0.1)
    assert reason == "complaint"
    assert (await client.get(f"/v1/messages/{first}", headers=auth(email_tenant))).json()["status"] == "delivered"

    second = await send(client, email_tenant, "+14155550000", fallback=email(to))
    skipped = await wait_for_channel(client, email_tenant, second, "email", {"skipped"})
    assert skipped["detail"] == "opted_out: the recipient is suppressed on email (complaint)"


async def test_a_busy_mailbox_is_retried_then_given_up(
    client: httpx.AsyncClient, pool: Pool, email_tenant: dict[str, Any]
) -> None:
    message_id = await send(client, email_tenant, "+14155550000", fallback=email("busy@example.com"))
    busy = await wait_for_channel(client, email_tenant, message_id, "email", {"failed"})
    assert busy["error_code"] == 451 and busy["detail"].startswith("smtp_transient")
    attempts = await pool.fetchval(
        "SELECT count(*) FROM delivery_attempts WHERE message_id = $1 AND channel = 'email'", uuid.UUID(message_id)
    )
    assert attempts == 3  # the stack's SWITCHBOARD_MAX_ATTEMPTS


def bounce_of(header: str, to: str) -> bytes:
    bounce = mail_events.Bounce(type="hard", code=550, message="5.1.1 forged")
    return mail_events.encode(mail_events.Event(mail_events.BOUNCED, mail_events.Data(header, [to], bounce)))


async def raw_events(pool: Pool, tenant_id: str) -> int:
    count: int = await pool.fetchval(
        "SELECT count(*) FROM raw_events WHERE tenant_id = $1 AND provider = 'email'", uuid.UUID(tenant_id)
    )
    return count


async def test_an_event_that_does_not_verify_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, pool: Pool, email_tenant: dict[str, Any]
) -> None:
    to = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    message_id = await send(client, email_tenant, "+14155550000", fallback=email(to))
    sent = await wait_for_channel(client, email_tenant, message_id, "email", {"delivered"})
    before = await raw_events(pool, email_tenant["tenant_id"])
    url = f"/webhooks/email/{email_tenant['email_channel_key']}"
    body = bounce_of(sent["provider_message_id"], to)
    wrong = standard_webhooks.headers([standard_webhooks.new_secret()], "msg_forged", body)
    stale = standard_webhooks.headers([email_tenant["email_webhook_secret"]], "msg_old", body, timestamp=1_700_000_000)
    for headers in ({}, wrong, stale):
        refused = await client.post(url, content=body, headers=headers)
        assert refused.status_code == 401, refused.text
    assert await raw_events(pool, email_tenant["tenant_id"]) == before
    legs = await channels(client, email_tenant, message_id)
    assert legs["email"]["status"] == "delivered"
    assert await pool.fetchval("SELECT count(*) FROM opt_outs WHERE address = $1", to) == 0


async def test_another_tenants_email_cannot_be_bounced(
    client: httpx.AsyncClient, pool: Pool, email_tenant: dict[str, Any], stack: Stack
) -> None:
    """A tenant's own signed event naming another tenant's email changes nothing there."""
    other = await make_email_tenant(stack, pool)
    to = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    victim = await send(client, email_tenant, "+14155550000", fallback=email(to))
    sent = await wait_for_channel(client, email_tenant, victim, "email", {"delivered"})
    body = bounce_of(sent["provider_message_id"], to)
    headers = standard_webhooks.headers([other["email_webhook_secret"]], "msg_cross", body)
    taken = await client.post(f"/webhooks/email/{other['email_channel_key']}", content=body, headers=headers)
    assert taken.status_code == 200  # signed by its provider: stored, then found to match nothing
    for _ in range(100):
        state = await pool.fetchval(
            "SELECT state FROM raw_events WHERE tenant_id = $1 AND provider = 'email' ORDER BY id DESC LIMIT 1",
            uuid.UUID(other["tenant_id"]),
        )
        if state != "received":
            break
        await asyncio.sleep(0.1)
    assert state == "orphaned"
    assert (await channels(client, email_tenant, victim))["email"]["status"] == "delivered"
    assert await pool.fetchval("SELECT count(*) FROM opt_outs WHERE address = $1", to) == 0
