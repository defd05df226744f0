"""The partner webhook actor (a thin shell over :mod:`webhooks.outbound.sender`)."""

from __future__ import annotations

from datetime import timedelta

import httpx

from kernel.worker import resources, task
from tenants.vault import Vault
from webhooks.outbound import sender
from webhooks.outbound.dispatch import TOPIC

__all__ = ["deliver_partner"]


def _http() -> httpx.AsyncClient:
    # Redirects are not followed: a public URL must not be able to bounce us inside (ssrf.py).
    return httpx.AsyncClient(timeout=sender.TIMEOUT_SECONDS, follow_redirects=False, trust_env=False)


@task(TOPIC, queue="webhooks", time_limit_ms=60_000)
async def deliver_partner(delivery_id: int, attempt: int) -> None:
    res = resources()
    settings = res.settings
    policy = res.extra(
        "partner_webhook_policy",
        lambda: sender.Policy(
            schedule=settings.webhook_retry_schedule,
            allow_private=settings.webhook_allow_private,
            disable_after=timedelta(hours=settings.webhook_disable_after_hours),
        ),
    )
    vault = res.extra("vault", lambda: Vault(res.keyring))
    http = res.extra("partner_webhook_http", _http)
    await sender.deliver(await res.pool(), vault, http, policy, delivery_id, attempt)
