"""The admin console in a real browser (Debian's Chromium driven by Playwright): sign in, watch
a message reach ``read``, retry a failed one, create and revoke an API key. Screenshots of each
main page are saved under ``test-artifacts/admin/``."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from kernel.db import Pool
from tests.conftest import auth, wait_for_status
from tests.fixtures.admin import PASSWORD, make_user
from tests.fixtures.receiver import receiver
from tests.fixtures.stack import Stack

CHROMIUM = "/usr/bin/chromium"
# Flags from the machine notes: without the background-networking ones Chromium keeps dialling
# Google's hosts, which this closed network refuses.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "admin"
UTILITY = {"name": "order_shipped", "language": "en_US", "params": {"body": ["Ada", "#1042"]}}


def _prepare() -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)")
    SHOTS.mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    _prepare()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield launched
        await launched.close()


async def open_console(browser: Browser, stack: Stack, email: str) -> Page:
    context = await browser.new_context(base_url=stack.rest_url, viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await page.goto("/admin/")
    await expect(page).to_have_url(re.compile(r"/admin/login"))
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    return page


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def send(client: httpx.AsyncClient, facts: dict[str, Any], to: str) -> str:
    response = await client.post("/v1/messages", json={"to": to, "template": UTILITY}, headers=auth(facts))
    assert response.status_code == 202, response.text
    message_id: str = response.json()["id"]
    return message_id


async def test_an_owner_watches_a_message_reach_read_and_retries_a_failed_one(
    browser: Browser, stack: Stack, pool: Pool, client: httpx.AsyncClient, tenant: dict[str, Any]
) -> None:
    page = await open_console(browser, stack, await make_user(pool, tenant["tenant_id"], "owner"))
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    message_id = await send(client, tenant, "+14155550123")
    await page.goto(f"/admin/messages/{message_id}")
    # The page polls while the message is in flight; it reaches read without a reload.
    await expect(page.get_by_test_id("status")).to_have_text("read", timeout=20_000)
    await expect(page.locator("ol.timeline")).to_contain_text("webhook:whatsapp")
    await shot(page, "message")

    failed_id = await send(client, tenant, "+14155550500")  # the sandbox answers 5xx every time
    await wait_for_status(client, tenant, failed_id, {"failed"})
    await page.goto("/admin/dead-letters")
    await page.get_by_role("link", name=failed_id).click()
    await expect(page.get_by_test_id("status")).to_have_text("failed")
    await page.get_by_role("button", name="Retry").click()
    await expect(page.get_by_role("status")).to_contain_text("retried")
    await expect(page.locator("ol.timeline")).to_contain_text("retried by admin:")

    await page.goto("/admin/")
    await expect(page.locator("svg.chart")).to_be_visible()
    await shot(page, "dashboard")
    await page.goto("/admin/messages")
    await page.get_by_label("Status").select_option("read")
    await expect(page.locator("#results")).to_contain_text(message_id)
    await expect(page).to_have_url(re.compile(r"status=read"))
    await shot(page, "messages")
    for name in ("templates", "senders", "credentials", "usage"):
        await page.goto(f"/admin/{name}")
        await shot(page, name)


async def test_a_developer_creates_a_key_that_works_then_revokes_it(
    browser: Browser, stack: Stack, pool: Pool, client: httpx.AsyncClient, tenant: dict[str, Any]
) -> None:
    page = await open_console(browser, stack, await make_user(pool, tenant["tenant_id"], "developer"))
    await page.get_by_role("link", name="API keys").click()
    await page.get_by_label("Name").fill("browser key")
    await page.get_by_role("button", name="Create key").click()
    key = await page.get_by_test_id("new-key").inner_text()
    await shot(page, "keys")
    headers = {"Authorization": f"Bearer {key}"}
    assert (await client.get("/v1/messages", headers=headers)).status_code == 200

    prefix = key.split("_")[1][:8]
    row = page.locator("tr", has_text="browser key")
    await row.get_by_role("button", name=re.compile("Revoke")).click()
    await expect(page.get_by_role("status")).to_contain_text("Key revoked")
    assert prefix  # the revoked key is listed as such:
    await expect(page.locator("tr", has_text="browser key")).to_contain_text("revoked")
    assert (await client.get("/v1/messages", headers=headers)).status_code == 401


async def test_a_developer_adds_a_webhook_endpoint_and_sends_a_test_event(
    browser: Browser, stack: Stack, pool: Pool, tenant: dict[str, Any]
) -> None:
    page = await open_console(browser, stack, await make_user(pool, tenant["tenant_id"], "developer"))
    async with receiver() as partner:
        await page.get_by_role("link", name="Webhooks").click()
        await page.get_by_label("URL").fill(partner.url)
        await page.get_by_label("message.failed").check()
        await page.get_by_role("button", name="Add endpoint").click()
        await expect(page.get_by_test_id("secret")).to_contain_text("whsec_")
        await page.get_by_role("link", name="Open the endpoint").click()
        await page.get_by_role("button", name="Send test event").click()
        await expect(page.get_by_role("status")).to_contain_text("test event")
        (hook,) = await partner.wait_for(1)
        await page.reload()
        await expect(page.locator("tr", has_text=hook.headers["webhook-id"])).to_contain_text("HTTP 204")
        await shot(page, "webhook-endpoint")


async def test_the_operator_lists_tenants_and_checks_health(browser: Browser, stack: Stack, pool: Pool) -> None:
    page = await open_console(browser, stack, await make_user(pool, None, "operator"))
    await expect(page.get_by_role("heading", name="Tenants")).to_be_visible()
    await shot(page, "operator-tenants")
    await page.get_by_role("link", name="System health").click()
    await expect(page.locator("main")).to_contain_text("PostgreSQL")
    await shot(page, "operator-health")
