"""Delivering a message's fallback channel (SMS, email) idempotently, whichever the provider.

The same three steps as WhatsApp (:mod:`messaging.delivery`): claim (the channel row must still be
``queued``; the attempt is recorded before the call), call the provider outside any transaction,
record the outcome. A pending attempt found at claim time means an earlier worker may have
reached the provider, which may have no idempotency key (Twilio and SMTP have none): the task waits
out the hold period, during which the provider's callback would settle it (matched by our message
id, which the SMS's callback URL and the email's Message-ID carry), and only then sends again.

What a channel reports also goes through the message's state machine (source ``worker:<channel>``):
a ``delivered`` SMS proves the message arrived, whatever WhatsApp said. A permanent failure, or
retries used up, moves the route on to the next channel (:mod:`messaging.fallback`). The
provider-specific part is a :class:`ChannelSender`.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from typing import Any, Protocol
from uuid import UUID

import asyncpg
import dramatiq

from billing import meter
from billing.pricing import ANY, country_of
from kernel.db import Connection, Pool, unit_of_work
from kernel.settings import Settings
from kernel.worker import Resources
from messaging import channels_repository, repository
from messaging.classification import Kind
from messaging.delivery import backoff_ms
from messaging.fallback import fall_back
from messaging.outcomes import Outcome, SendResult, finish_attempt
from messaging.states import Status
from messaging.status_reports import record_status
from tenants.vault import Vault

__all__ = ["ChannelSender", "deliver"]

log = logging.getLogger("switchboard.delivery.channel")


class ChannelSender(Protocol):
    channel: str  # sms | email: also the credential kind it sends with

    async def send(
        self, res: Resources, claim: asyncpg.Record, secrets: dict[str, str]
    ) -> tuple[SendResult, dict[str, Any]]:
        """Make the provider call; return its result and the fields to record on the channel row
        when it is accepted (e.g. SMS encoding and segments)."""


async def _give_up(
    conn: Connection, claim: Mapping[str, Any] | asyncpg.Record, status: str, detail: str, code: int | None = None
) -> None:
    """This channel is done without delivering: record it, and let the route move on."""
    channel = claim["channel"]
    await channels_repository.set_channel(
        conn, claim["tenant_id"], claim["id"], channel, status=status, detail=detail, error_code=code
    )
    if status == "failed":
        await record_status(conn, claim, Status.FAILED, source=f"worker:{channel}", detail=detail, error_code=code)
    await fall_back(
        conn, claim["tenant_id"], claim["id"], channel, f"{channel} {status}: {detail}", source=f"worker:{channel}"
    )


async def _claim(
    pool: Pool, settings: Settings, tenant_id: UUID, message_id: UUID, channel: str
) -> tuple[asyncpg.Record, int, int] | None:
    async with unit_of_work(pool) as conn:
        # The message first, then its channel row: the order reconciliation locks them in.
        if await repository.lock_status(conn, tenant_id, message_id) is None:
            return None
        claim = await channels_repository.claim(conn, tenant_id, message_id, channel)
        if claim is None:
            return None
        if claim["leg_status"] != "queued":
            if claim["attempt_state"] == "pending":
                await repository.settle_pending_attempt(conn, tenant_id, claim["attempt_id"], claim["leg_provider_id"])
            return None
        if claim["attempt_state"] == "pending":
            wait = settings.delivery_hold_seconds - claim["attempt_age"].total_seconds()
            if wait > 0:
                raise dramatiq.Retry(delay=int(wait * 1000) + 250)
            await repository.finish_attempt(
                conn, tenant_id, claim["attempt_id"], state="ambiguous", error_detail="no outcome in the hold period"
            )
        if claim["credential_id"] is None:
            await _give_up(conn, claim, "skipped", f"the tenant has no {channel} credential")
            return None
        opted_out = await channels_repository.opt_out_reason(conn, tenant_id, channel, claim["recipient"], ["all"])
        if opted_out is not None:
            await _give_up(conn, claim, "skipped", f"opted_out: the recipient is suppressed on {channel} ({opted_out})")
            return None
        number = (claim["attempt_number"] or 0) + 1
        if number > settings.max_attempts:
            await _give_up(conn, claim, "failed", f"gave up after {settings.max_attempts} attempts")
            return None
        attempt_id = await repository.start_attempt(conn, tenant_id, message_id, channel, number)
    return claim, attempt_id, number


async def deliver(res: Resources, sender: ChannelSender, tenant_id: UUID, message_id: UUID) -> None:
    settings = res.settings
    pool = await res.pool()
    claimed = await _claim(pool, settings, tenant_id, message_id, sender.channel)
    if claimed is None:
        return
    claim, attempt_id, number = claimed
    vault: Vault = res.extra("vault", lambda: Vault(res.keyring))
    secrets = await vault.open(pool, tenant_id, sender.channel, claim["credential_id"], claim["sealed_secrets"])
    result, facts = await sender.send(res, claim, secrets)
    retry_in = await _record(pool, settings, claim, attempt_id, number, result, facts)
    if retry_in is not None:
        raise dramatiq.Retry(delay=retry_in)


async def _record(
    pool: Pool,
    settings: Settings,
    claim: asyncpg.Record,
    attempt_id: int,
    number: int,
    result: SendResult,
    facts: dict[str, Any],
) -> int | None:
    """Record the outcome; returns the delay before a retry, if one is due."""
    tenant_id, message_id, channel = claim["tenant_id"], claim["id"], claim["channel"]
    async with unit_of_work(pool) as conn:
        if result.outcome is Outcome.AMBIGUOUS:
            log.warning(
                "provider call outcome unknown", extra={"fields": {"channel": channel, "detail": result.detail}}
            )
            return int(settings.delivery_hold_seconds * 1000) + 250
        await finish_attempt(conn, tenant_id, attempt_id, result)
        message = await repository.lock_status(conn, tenant_id, message_id)
        assert message is not None
        if result.outcome is Outcome.ACCEPTED:
            await channels_repository.set_channel(
                conn,
                tenant_id,
                message_id,
                channel,
                status="submitted",
                provider_message_id=result.provider_id,
                **facts,
            )
            detail = f"{channel} accepted as {result.provider_id}"
            await record_status(conn, message, Status.SUBMITTED, source=f"worker:{channel}", detail=detail)
            # Billed once accepted, per segment for SMS; an email has no destination country.
            billable = meter.Billable(
                key=f"{channel}:{result.provider_id}",
                message_id=message_id,
                channel=channel,
                category="message",
                country=country_of(claim["recipient"]) if channel == "sms" else ANY,
                source=f"worker:{channel}",
                units=int(facts.get("segments") or 1),
            )
            await meter.record(conn, tenant_id, [billable])
            return None
        verdict = result.verdict
        code = f"({result.error_code}) " if result.error_code is not None else ""
        detail = (f"{verdict.reason}: " if verdict else "") + code + (result.detail or "")
        if result.outcome is Outcome.RETRYABLE and number < settings.max_attempts:
            return backoff_ms(settings.retry_base_ms, number) + random.randint(0, 50)
        if verdict is not None and verdict.kind is Kind.OPT_OUT:
            await channels_repository.add_opt_out(
                conn,
                tenant_id,
                channel=channel,
                address=claim["recipient"],
                scope="all",
                reason=verdict.reason,
                error_code=result.error_code,
                message_id=message_id,
            )
        await _give_up(conn, {**dict(claim), "status": message["status"]}, "failed", detail, result.error_code)
    return None
