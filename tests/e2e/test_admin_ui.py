"""The admin console over HTTP: sign-in, sessions and CSRF, what each role may open, tenant
isolation, and the actions (retry, keys, suspension) taking effect on the API at once."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest

from admin_ui.roles import GRANTS, Can, Role, home_of
from kernel import standard_webhooks
from kernel.db import Pool
from tests.conftest import auth, new_tenant, wait_for_status
from tests.e2e.conftest import make_email_tenant, make_sms_tenant
from tests.fixtures.admin import PASSWORD, make_user, post_form, sign_in, signed_in
from tests.fixtures.receiver import receiver
from tests.fixtures.stack import Stack
from tests.fixtures.webhooks import contact, notification, post_signed, text_message

UTILITY = {"name": "order_shipped", "language": "en_US", "params": {"body": ["Ada", "#1042"]}}

# Every console page and the permission it needs.
PAGES = {
    "/admin/messages": Can.SEE_MESSAGES,
    "/admin/dead-letters": Can.SEE_MESSAGES,
    "/admin/conversations": Can.SEE_MESSAGES,
    "/admin/templates": Can.SEE_SETUP,
    "/admin/senders": Can.SEE_SETUP,
    "/admin/credentials": Can.SEE_SETUP,
    "/admin/keys": Can.MANAGE_KEYS,
    "/admin/webhooks": Can.MANAGE_WEBHOOKS,
    "/admin/usage": Can.SEE_BILLING,
    "/admin/operator/tenants": Can.OPERATE,
    "/admin/operator/health": Can.OPERATE,
}


async def send(client: httpx.AsyncClient, facts: dict[str, Any], to: str = "+14155550123") -> str:
    response = await client.post("/v1/messages", json={"to": to, "template": UTILITY}, headers=auth(facts))
    assert response.status_code == 202, response.text
    message_id: str = response.json()["id"]
    return message_id


async def test_a_page_without_a_session_sends_the_browser_to_sign_in(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.rest_url) as client:
        response = await client.get("/admin/messages")
        assert response.status_code == 303
        assert response.headers["location"] == "/admin/login?next=/admin/messages"
        htmx = await client.get("/admin/messages", headers={"HX-Request": "true"})
        assert htmx.headers["HX-Redirect"].startswith("/admin/login")


async def test_signing_in_opens_the_role_s_home_with_an_http_only_session_cookie(
    stack: Stack, pool: Pool, tenant: dict[str, Any]
) -> None:
    email = await make_user(pool, tenant["tenant_id"], "owner")
    async with httpx.AsyncClient(base_url=stack.rest_url) as client:
        response = await sign_in(client, email.upper())  # emails are case-insensitive
        assert response.status_code == 303 and response.headers["location"] == "/admin/"
        cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("sb_admin="))
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/admin" in cookie
        page = await client.get("/admin/")
        assert page.status_code == 200 and "Dashboard" in page.text and email in page.text


async def test_a_wrong_password_is_refused_and_repeated_failures_lock_the_email(
    stack: Stack, pool: Pool, tenant: dict[str, Any]
) -> None:
    email = await make_user(pool, tenant["tenant_id"], "developer")
    async with httpx.AsyncClient(base_url=stack.rest_url) as client:
        unknown = await sign_in(client, "nobody@example.test")
        wrong = await sign_in(client, email, "not the password")
        assert unknown.status_code == wrong.status_code == 401
        assert "wrong email or password" in unknown.text and "wrong email or password" in wrong.text
        for _ in range(4):
            await sign_in(client, email, "still not it")
        locked = await sign_in(client, email)  # the right password, after five failures
        assert locked.status_code == 429 and "too many failed sign-ins" in locked.text
        assert "sb_admin=" not in locked.headers.get("set-cookie", "")


async def test_a_form_without_its_csrf_token_changes_nothing(stack: Stack, pool: Pool, tenant: dict[str, Any]) -> None:
    email = await make_user(pool, tenant["tenant_id"], "owner")
    async with signed_in(stack.rest_url, email) as client:
        await client.get("/admin/keys")
        forged = await client.post("/admin/keys", data={"name": "forged"})
        assert forged.status_code == 403
        keys = await client.get("/admin/keys")
        assert "forged" not in keys.text


@pytest.mark.parametrize("role", list(Role))
async def test_each_role_opens_exactly_the_pages_its_grants_allow(
    stack: Stack, pool: Pool, tenant: dict[str, Any], role: Role
) -> None:
    email = await make_user(pool, None if role is Role.OPERATOR else tenant["tenant_id"], role.value)
    async with signed_in(stack.rest_url, email) as client:
        root = await client.get("/admin/")
        if Can.SEE_DASHBOARD in GRANTS[role]:
            assert root.status_code == 200 and "Dashboard" in root.text
        else:  # the root leads each role to its own first page
            assert root.status_code == 303 and root.headers["location"] == home_of(role)
        for page, needed in PAGES.items():
            response = await client.get(page)
            expected = 200 if needed in GRANTS[role] else 403
            assert response.status_code == expected, (role, page, response.status_code)
            if expected == 403:
                assert "cannot open this page" in response.text
        # The navigation offers only what the role may open.
        home = await client.get(home_of(role))
        assert ('href="/admin/keys"' in home.text) == (Can.MANAGE_KEYS in GRANTS[role])
        assert ('href="/admin/usage"' in home.text) == (Can.SEE_BILLING in GRANTS[role])


async def test_support_may_retry_but_billing_may_not(
    stack: Stack, pool: Pool, client: httpx.AsyncClient, tenant: dict[str, Any]
) -> None:
    message_id = await send(client, tenant, "+14155550500")  # 5xx every time: a dead letter
    await wait_for_status(client, tenant, message_id, {"failed"})
    billing = await make_user(pool, tenant["tenant_id"], "billing")
    async with signed_in(stack.rest_url, billing) as browser:
        await browser.get("/admin/usage")
        refused = await post_form(browser, f"/admin/messages/{message_id}/retry")
        assert refused.status_code == 403
    assert (await client.get(f"/v1/messages/{message_id}", headers=auth(tenant))).json()["status"] == "failed"

    support = await make_user(pool, tenant["tenant_id"], "support")
    async with signed_in(stack.rest_url, support) as browser:
        page = await browser.get(f"/admin/messages/{message_id}")
        assert "Retry" in page.text and "+14155550500" in page.text
        retried = await post_form(browser, f"/admin/messages/{message_id}/retry")
        assert retried.status_code == 303
        shown = await browser.get(retried.headers["location"])
        assert "retried" in shown.text
    events = (await client.get(f"/v1/messages/{message_id}/events", headers=auth(tenant))).json()["data"]
    retry = next(e for e in events if e["outcome"] == "retried")
    assert retry["source"] == "operator" and retry["detail"] == f"retried by admin:{support}"


async def test_a_message_page_shows_its_timeline_and_attempts(
    stack: Stack, pool: Pool, client: httpx.AsyncClient, tenant: dict[str, Any]
) -> None:
    message_id = await send(client, tenant)
    await wait_for_status(client, tenant, message_id, {"read"})
    email = await make_user(pool, tenant["tenant_id"], "developer")
    async with signed_in(stack.rest_url, email) as browser:
        page = await browser.get(f"/admin/messages/{message_id}")
        assert page.status_code == 200
        assert 'data-testid="status">read<' in page.text
        for fact in ("webhook:whatsapp", "delivered", "accepted", "+14155550123"):
            assert fact in page.text, fact
        assert "(updating)" not in page.text  # read is final: the page stops polling
        search = await browser.get("/admin/messages", params={"q": "+14155550123", "status": "read"})
        assert message_id in search.text
        by_id = await browser.get("/admin/messages", params={"q": message_id})
        assert by_id.status_code == 303 and by_id.headers["location"] == f"/admin/messages/{message_id}"


async def test_another_tenant_s_objects_answer_404(
    stack: Stack, pool: Pool, client: httpx.AsyncClient, tenant: dict[str, Any]
) -> None:
    other = await new_tenant(stack)
    theirs = await send(client, other)
    email = await make_user(pool, tenant["tenant_id"], "owner")
    async with signed_in(stack.rest_url, email) as browser:
        assert (await browser.get(f"/admin/messages/{theirs}")).status_code == 404
        assert (await browser.get(f"/admin/messages/{uuid.uuid4()}")).status_code == 404
        assert (await browser.get("/admin/messages/not-an-id")).status_code == 404
        assert (await post_form(browser, f"/admin/messages/{theirs}/retry")).status_code == 404
        templates = (await client.get("/v1/templates", headers=auth(other))).json()["data"]
        assert (await browser.get(f"/admin/templates/{templates[0]['id']}")).status_code == 404
        keys = await pool.fetch("SELECT id FROM api_keys WHERE tenant_id = $1::uuid", other["tenant_id"])
        assert (await post_form(browser, f"/admin/keys/{keys[0]['id']}/revoke")).status_code == 404
        search = await browser.get("/admin/messages")
        assert theirs not in search.text
    assert (await client.get(f"/v1/messages/{theirs}", headers=auth(other))).status_code == 200


async def test_a_key_created_in_the_console_works_once_shown_and_stops_when_revoked(
    stack: Stack, pool: Pool, client: httpx.AsyncClient, tenant: dict[str, Any]
) -> None:
    email = await make_user(pool, tenant["tenant_id"], "developer")
    async with signed_in(stack.rest_url, email) as browser:
        await browser.get("/admin/keys")
        created = await post_form(browser, "/admin/keys", {"name": "console key"})
        assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
        key = created.text.split('data-testid="new-key">')[1].split("<")[0]
        assert key.startswith("sb_")
        assert key not in (await browser.get("/admin/keys")).text  # shown once
        headers = {"Authorization": f"Bearer {key}"}
        assert (await client.get("/v1/messages", headers=headers)).status_code == 200
        [key_id] = await pool.fetch(
            "SELECT id FROM api_keys WHERE tenant_id = $1::uuid AND name = 'console key'", tenant["tenant_id"]
        )
        revoked = await post_form(browser, f"/admin/keys/{key_id['id']}/revoke")
        assert revoked.status_code == 303
    assert (await client.get("/v1/messages", headers=headers)).status_code == 401


async def test_suspending_a_tenant_stops_its_keys_and_console_sessions_at_once(
    stack: Stack, pool: Pool, client: httpx.AsyncClient
) -> None:
    tenant = await new_tenant(stack)
    owner = await make_user(pool, tenant["tenant_id"], "owner")
    operator = await make_user(pool, None, "operator")
    async with signed_in(stack.rest_url, owner) as tenant_browser, signed_in(stack.rest_url, operator) as ops:
        listed = await ops.get("/admin/operator/tenants")
        assert tenant["tenant_id"] in listed.text
        suspended = await post_form(ops, f"/admin/operator/tenants/{tenant['tenant_id']}/suspend")
        assert suspended.status_code == 303
        assert (await client.get("/v1/messages", headers=auth(tenant))).status_code == 401
        assert (await tenant_browser.get("/admin/")).status_code == 303  # signed out
        assert (await sign_in(tenant_browser, owner)).status_code == 401  # and cannot sign in
        assert "suspended" in (await sign_in(tenant_browser, owner)).text

        await post_form(ops, f"/admin/operator/tenants/{tenant['tenant_id']}/reactivate")
        assert (await client.get("/v1/messages", headers=auth(tenant))).status_code == 200
        assert (await sign_in(tenant_browser, owner)).status_code == 303


async def test_signing_out_everywhere_ends_every_session_of_the_user(
    stack: Stack, pool: Pool, tenant: dict[str, Any]
) -> None:
    email = await make_user(pool, tenant["tenant_id"], "admin")
    async with signed_in(stack.rest_url, email) as laptop, signed_in(stack.rest_url, email) as phone:
        await laptop.get("/admin/")
        assert (await phone.get("/admin/")).status_code == 200
        out = await post_form(laptop, "/admin/logout-everywhere")
        assert out.status_code == 303
        assert (await phone.get("/admin/")).status_code == 303
        assert (await laptop.get("/admin/")).status_code == 303


async def test_the_billing_role_sees_usage_and_downloads_the_invoice(
    stack: Stack, pool: Pool, client: httpx.AsyncClient, tenant: dict[str, Any]
) -> None:
    message_id = await send(client, tenant)
    await wait_for_status(client, tenant, message_id, {"delivered", "read"})
    email = await make_user(pool, tenant["tenant_id"], "billing")
    async with signed_in(stack.rest_url, email) as browser:
        for _ in range(50):  # the billable webhook may trail the status by a moment
            usage = await browser.get("/admin/usage")
            if "billable messages" in usage.text:
                break
            await asyncio.sleep(0.1)
        assert "billable messages" in usage.text and "utility" in usage.text
        month = usage.text.split('name="month" type="month" value="')[1][:7]
        csv = await browser.get(f"/admin/invoices/{month}/csv")
        assert csv.status_code == 200 and "utility" in csv.text
        printable = await browser.get(f"/admin/invoices/{month}")
        assert printable.status_code == 200 and "<html" in printable.text.lower()


async def test_the_password_is_never_stored_in_clear(pool: Pool, tenant: dict[str, Any]) -> None:
    email = await make_user(pool, tenant["tenant_id"], "owner")
    stored = await pool.fetchval("SELECT password_hash FROM admin_users WHERE email = $1", email)
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


async def test_a_developer_submits_a_template_and_syncs_from_meta(
    stack: Stack, pool: Pool, tenant: dict[str, Any]
) -> None:
    email = await make_user(pool, tenant["tenant_id"], "developer")
    async with signed_in(stack.rest_url, email) as browser:
        await browser.get("/admin/templates")
        bad = await post_form(browser, "/admin/templates", {"name": "Bad Name", "body": "Hi {{1}}"})
        assert bad.status_code == 422 and "lowercase letters" in bad.text
        created = await post_form(
            browser,
            "/admin/templates",
            {"name": "welcome_back", "language": "en_US", "category": "MARKETING", "body": "Hello {{1}}"},
        )
        assert created.status_code == 303
        page = await browser.get(created.headers["location"])
        assert "welcome_back" in page.text and "APPROVED" in page.text and "Hello {{1}}" in page.text
        again = await post_form(browser, "/admin/templates", {"name": "welcome_back", "body": "Hello {{1}}"})
        assert again.status_code == 422 and "already exists" in again.text
        synced = await post_form(browser, "/admin/templates/sync")
        assert synced.status_code == 303
        assert "synced:" in (await browser.get(synced.headers["location"])).text
    support = await make_user(pool, tenant["tenant_id"], "support")
    async with signed_in(stack.rest_url, support) as browser:
        await browser.get("/admin/messages")
        assert (await post_form(browser, "/admin/templates/sync")).status_code == 403


async def test_conversations_show_what_customers_wrote(
    stack: Stack, pool: Pool, client: httpx.AsyncClient, tenant: dict[str, Any]
) -> None:
    body = notification(
        tenant,
        messages=[text_message("wamid.console-1", "16315551181", "Is my order on its way?", int(time.time()))],
        contacts=[contact("16315551181", "Ada Lovelace")],
    )
    assert (await post_signed(client, tenant, body)).status_code == 200
    email = await make_user(pool, tenant["tenant_id"], "support")
    async with signed_in(stack.rest_url, email) as browser:
        for _ in range(50):  # the ingestor files it a moment after answering Meta
            listed = await browser.get("/admin/conversations")
            if "+16315551181" in listed.text:
                break
            await asyncio.sleep(0.1)
        assert "Ada Lovelace" in listed.text and "open until" in listed.text
        thread = await browser.get("/admin/conversations/%2B16315551181")
        assert "Is my order on its way?" in thread.text


async def test_a_webhook_endpoint_added_in_the_console_gets_a_signed_test_event(
    stack: Stack, pool: Pool, tenant: dict[str, Any]
) -> None:
    email = await make_user(pool, tenant["tenant_id"], "developer")
    async with receiver() as partner, signed_in(stack.rest_url, email) as browser:
        await browser.get("/admin/webhooks")
        added = await post_form(
            browser, "/admin/webhooks", {"url": partner.url, "description": "crm", "event_types": "message.read"}
        )
        assert added.status_code == 201 and added.headers["cache-control"] == "no-store"
        secret = added.text.split('data-testid="secret">')[1].split("<")[0]
        assert secret.startswith("whsec_")
        endpoint_id = added.text.split('href="/admin/webhooks/')[1].split('"')[0]
        page = await browser.get(f"/admin/webhooks/{endpoint_id}")
        assert secret not in page.text and 'value="message.read" checked' in page.text

        sent = await post_form(browser, f"/admin/webhooks/{endpoint_id}/test")
        assert sent.status_code == 303
        (hook,) = await partner.wait_for(1)
        assert standard_webhooks.verify(secret, hook.body, hook.headers) == hook.headers["webhook-id"]
        for _ in range(50):  # the attempt is recorded a moment after the receiver answers
            log = await browser.get(f"/admin/webhooks/{endpoint_id}")
            if "HTTP 204" in log.text:
                break
            await asyncio.sleep(0.1)
        assert hook.headers["webhook-id"] in log.text and "HTTP 204" in log.text

        resent = await post_form(browser, f"/admin/webhooks/{endpoint_id}/events/{hook.headers['webhook-id']}/resend")
        assert resent.status_code == 303
        await partner.wait_for(2)
        rotated = await post_form(browser, f"/admin/webhooks/{endpoint_id}/rotate-secret")
        assert rotated.status_code == 200 and 'data-testid="secret">whsec_' in rotated.text

        bad = await post_form(browser, "/admin/webhooks", {"url": "ftp://example.com/hooks"})
        assert bad.status_code == 422 and "https://" in bad.text
    other = await new_tenant(stack)
    stranger = await make_user(pool, other["tenant_id"], "owner")
    async with signed_in(stack.rest_url, stranger) as browser:
        assert (await browser.get(f"/admin/webhooks/{endpoint_id}")).status_code == 404


async def test_credentials_are_added_write_only_and_tested_with_each_provider(
    stack: Stack, pool: Pool, client: httpx.AsyncClient
) -> None:
    sms = await make_sms_tenant(stack, pool)
    mail = await make_email_tenant(stack, pool)
    sms_email = await make_user(pool, sms["tenant_id"], "developer")
    async with signed_in(stack.rest_url, sms_email) as browser:
        await browser.get("/admin/credentials")
        listed = (await client.get("/v1/credentials", headers=auth(sms))).json()["data"]
        for credential in listed:  # the sandbox knows the WhatsApp token and the Twilio account
            checked = await post_form(browser, f"/admin/credentials/{credential['id']}/test")
            assert "Connection OK" in checked.text, (credential["kind"], checked.text)

        added = await post_form(
            browser,
            "/admin/credentials",
            {
                "kind": "sms",
                "name": "stale",
                "account_sid": "AC" + uuid.uuid4().hex,
                "auth_token": "wrong-token-123",
                "from_number": "+15550100003",
            },
        )
        assert added.status_code == 303
        page = await browser.get(added.headers["location"])
        assert "sms credential stale added" in page.text and "wrong-token-123" not in page.text
        stale = next(
            c for c in (await client.get("/v1/credentials", headers=auth(sms))).json()["data"] if c["name"] == "stale"
        )
        failed = await post_form(browser, f"/admin/credentials/{stale['id']}/test")
        assert "Connection failed" in failed.text and "20003" in failed.text
        rest = await client.post(f"/v1/credentials/{stale['id']}/test", headers=auth(sms))
        assert rest.status_code == 200 and rest.json()["ok"] is False

        missing = await post_form(
            browser, "/admin/credentials", {"kind": "whatsapp", "name": "half", "access_token": "t"}
        )
        assert missing.status_code == 422 and "app_secret" in missing.text
        assert (await post_form(browser, f"/admin/credentials/{uuid.uuid4()}/test")).status_code == 404

    mail_user = await make_user(pool, mail["tenant_id"], "admin")
    async with signed_in(stack.rest_url, mail_user) as browser:
        await browser.get("/admin/credentials")
        [smtp] = [
            c for c in (await client.get("/v1/credentials", headers=auth(mail))).json()["data"] if c["kind"] == "email"
        ]
        checked = await post_form(browser, f"/admin/credentials/{smtp['id']}/test")
        assert "Connection OK" in checked.text and "accepted the connection" in checked.text
        # Another tenant's credential answers like an unknown one.
        assert (await post_form(browser, f"/admin/credentials/{stale['id']}/test")).status_code == 404


# Every console action (a POST) and the permission it needs; ids need not exist, since the role
# check comes before anything is looked up.
ACTIONS = {
    "/admin/messages/{id}/retry": Can.RETRY_MESSAGES,
    "/admin/messages/{id}/discard": Can.RETRY_MESSAGES,
    "/admin/keys": Can.MANAGE_KEYS,
    "/admin/keys/{id}/revoke": Can.MANAGE_KEYS,
    "/admin/templates": Can.MANAGE_SETUP,
    "/admin/templates/sync": Can.MANAGE_SETUP,
    "/admin/credentials": Can.MANAGE_SETUP,
    "/admin/credentials/{id}/test": Can.MANAGE_SETUP,
    "/admin/webhooks": Can.MANAGE_WEBHOOKS,
    "/admin/webhooks/{id}/test": Can.MANAGE_WEBHOOKS,
    "/admin/webhooks/{id}/rotate-secret": Can.MANAGE_WEBHOOKS,
    "/admin/webhooks/{id}/delete": Can.MANAGE_WEBHOOKS,
    "/admin/operator/tenants/{id}/suspend": Can.OPERATE,
    "/admin/operator/tenants/{id}/reactivate": Can.OPERATE,
}


@pytest.mark.parametrize("role", list(Role))
async def test_each_role_is_refused_every_action_its_grants_do_not_allow(
    stack: Stack, pool: Pool, tenant: dict[str, Any], role: Role
) -> None:
    email = await make_user(pool, None if role is Role.OPERATOR else tenant["tenant_id"], role.value)
    async with signed_in(stack.rest_url, email) as client:
        await client.get(home_of(role))
        for action, needed in ACTIONS.items():
            if needed in GRANTS[role]:
                continue
            response = await post_form(client, action.format(id=uuid.uuid4()))
            assert response.status_code == 403, (role, action, response.status_code)
    # Nothing was changed: the tenant is active and its key still works.
    assert (await pool.fetchval("SELECT status FROM tenants WHERE id = $1::uuid", tenant["tenant_id"])) == "active"
