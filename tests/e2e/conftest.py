"""Tenants with fallback channels, on the real processes."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from kernel import db, standard_webhooks
from kernel import settings as settings_module
from kernel.crypto import MasterKey
from kernel.db import Pool
from tenants import service as tenants_service
from tenants.vault import Vault
from tests.conftest import new_tenant
from tests.fixtures.stack import Stack


@pytest.fixture
async def sms_tenant(stack: Stack, pool: Pool) -> dict[str, Any]:
    return await make_sms_tenant(stack, pool)


async def make_sms_tenant(stack: Stack, pool: Pool) -> dict[str, Any]:
    """A tenant with WhatsApp and a Twilio account (registered in the sandbox, as if in Twilio's console)."""
    facts = await new_tenant(stack)
    settings = settings_module.load(stack.env)
    account_sid, token = "AC" + uuid.uuid4().hex, "token-" + uuid.uuid4().hex
    async with db.unit_of_work(pool) as conn:
        await tenants_service.add_sms_credential(
            conn,
            Vault(MasterKey(settings.require_master_key())),
            uuid.UUID(facts["tenant_id"]),
            name="twilio",
            account_sid=account_sid,
            auth_token=token,
            from_number="+15550100002",
        )
    async with httpx.AsyncClient() as http:
        registered = await http.put(
            f"{stack.sandbox_url}/_sandbox/twilio/accounts/{account_sid}", json={"auth_token": token}
        )
        assert registered.status_code == 200
    return facts


@pytest.fixture
async def email_tenant(stack: Stack, pool: Pool) -> dict[str, Any]:
    return await make_email_tenant(stack, pool)


async def make_email_tenant(stack: Stack, pool: Pool) -> dict[str, Any]:
    """A tenant with WhatsApp and an SMTP server (the sandbox's) whose delivery events come to us,
    but no SMS account."""
    facts = await new_tenant(stack)
    settings = settings_module.load(stack.env)
    # Its own sender address: the sandbox routes a sender's events to one tenant.
    from_address, secret = f"orders-{uuid.uuid4().hex[:8]}@shop.example", standard_webhooks.new_secret()
    async with db.unit_of_work(pool) as conn:
        mail = await tenants_service.add_email_credential(
            conn,
            Vault(MasterKey(settings.require_master_key())),
            uuid.UUID(facts["tenant_id"]),
            name="smtp",
            host="127.0.0.1",
            port=stack.smtp_port,
            tls="none",
            from_address=from_address,
            webhook_secret=secret,
        )
    # Where the (sandbox) mail provider posts its events, as set in a provider's dashboard.
    hook = {"webhook_url": f"{stack.rest_url}/webhooks/email/{mail.channel_key}", "webhook_secret": secret}
    async with httpx.AsyncClient() as http:
        registered = await http.put(f"{stack.sandbox_url}/_sandbox/email/senders/{from_address}", json=hook)
        assert registered.status_code == 200
    facts["email_channel_key"], facts["email_webhook_secret"] = mail.channel_key, secret
    return facts
