"""Delivering one message through WhatsApp, idempotently.

Three steps, each safe to repeat:

1. **Claim**: only a ``queued`` message is delivered, and the attempt is recorded *before* the
   provider call, so a worker that dies mid-call leaves a ``pending`` attempt behind. The common
   case (no attempt in flight) is one statement, made safe without a lock by the unique attempt
   number; anything else takes the message's row lock (:func:`_claim_carefully`).
2. **Call** the provider, outside any transaction.
3. **Record** the outcome: an accepted send on a still-``queued`` message in one statement;
   otherwise, under the row lock, through the state machine (a status webhook got there first, a
   retry, or ``failed``).

A redelivered task for a message that is no longer ``queued`` does nothing. A ``pending`` attempt
found at claim time means an earlier worker may have reached Meta (which has no idempotency key):
the task waits for the hold period, during which the provider's status webhook, correlated by our
message id in ``biz_opaque_callback_data``, moves the message on if the send went through. Only
after the hold does it send again.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import asyncpg
import dramatiq

from kernel.db import Connection, Pool, unit_of_work
from kernel.scripts import ScriptRunner
from kernel.settings import Settings
from kernel.worker import Resources
from messaging import channels_repository, repository
from messaging.classification import Kind
from messaging.fallback import fall_back
from messaging.outcomes import finish_attempt
from messaging.pacing import Pacer, next_day_ms, tier_limit
from messaging.states import Status, apply
from messaging.status_reports import record_status
from messaging.whatsapp import Outcome, SendResult, WhatsAppClients, send
from tenants import repository as tenants_repository
from tenants import service as tenants_service
from tenants.vault import Vault

__all__ = ["deliver"]

log = logging.getLogger("switchboard.delivery")

CHANNEL = "whatsapp"
# What an accepted send does to a message that is still queued, as the state machine says; the
# one-statement fast path writes exactly this (and only when the message is indeed still queued).
ACCEPTANCE = apply(Status.QUEUED, Status.SUBMITTED)
MAX_BACKOFF_MS = 60_000
# A throttled send comes back sooner: the number's pause (in the pacer) already spaces the
# retries, and a long wait after the provider recovers only delays the backlog.
MAX_THROTTLE_BACKOFF_MS = 10_000
DEFAULT_MPS = 80
RATE_TTL = 30.0
# Meta's "this number is sending too fast" (130429 throughput, 131057 account in maintenance).
SENDER_OVER_THROUGHPUT = frozenset({130429, 131057})


def backoff_ms(base_ms: int, attempt: int, cap_ms: int = MAX_BACKOFF_MS) -> int:
    """Exponential backoff with full jitter (anywhere from 0 to the exponential bound, capped at a
    minute; attempt 1 is the first retry): retries of many messages failed by one outage spread
    out instead of returning together."""
    return int(random.uniform(0, min(cap_ms, base_ms * 2 ** (min(attempt, 30) - 1))))


def _throttled(result: SendResult) -> bool:
    return result.verdict is not None and result.verdict.throttle


def _spent(claim: asyncpg.Record, number: int) -> int:
    """How much of the round's allowance attempt ``number`` makes used (throttled ones are free)."""
    return int(number - claim["attempt_floor"] - claim["throttled_attempts"])


def _failure_detail(result: SendResult) -> str:
    """``<reason>: (<code>) <provider's words>``: the stable reason first, for dead letters."""
    prefix = f"{result.verdict.reason}: " if result.verdict is not None else ""
    code = f"({result.error_code}) " if result.error_code is not None else ""
    return prefix + code + (result.detail or result.outcome.value)


async def _claim_carefully(
    pool: Pool, settings: Settings, tenant_id: UUID, message_id: UUID
) -> tuple[asyncpg.Record, int, int] | None:
    """The slow path, under the message's row lock: an attempt in flight, a message already past
    ``queued``, or attempts used up. Returns the claim with a new attempt, or None (nothing to send)."""
    async with unit_of_work(pool) as conn:
        claim = await repository.claim_for_delivery(conn, tenant_id, message_id, CHANNEL)
        if claim is None:
            return None
        pending = claim["attempt_state"] == "pending"
        if claim["status"] != Status.QUEUED:
            if pending:
                await repository.settle_pending_attempt(
                    conn, tenant_id, claim["attempt_id"], claim["provider_message_id"]
                )
            return None
        if pending:
            wait = settings.delivery_hold_seconds - claim["attempt_age"].total_seconds()
            if wait > 0:
                raise dramatiq.Retry(delay=int(wait * 1000) + 250)
            await repository.finish_attempt(
                conn,
                tenant_id,
                claim["attempt_id"],
                state="ambiguous",
                error_detail="no outcome recorded and no status webhook within the hold period",
            )
        number = (claim["attempt_number"] or 0) + 1
        if _spent(claim, number) > settings.max_attempts:
            detail = f"gave up after {settings.max_attempts} attempts"
            await record_status(conn, claim, Status.FAILED, source="worker", detail=detail)
            await fall_back(conn, tenant_id, message_id, CHANNEL, f"whatsapp failed: {detail}", source="worker")
            return None
        attempt_id = await repository.start_attempt(conn, tenant_id, message_id, CHANNEL, number)
    return claim, attempt_id, number


@dataclass(frozen=True, slots=True)
class Limits:
    mps: int
    account: str  # the WhatsApp Business Account, whose daily recipients the tier counts
    daily_recipients: int | None
    tier: str | None
    fail_over_tier: bool


class SenderLimits:
    """Each sender's limits, read at most every :data:`RATE_TTL` seconds per process."""

    def __init__(self) -> None:
        self._limits: dict[str, tuple[float, Limits]] = {}

    async def get(self, pool: Pool, tenant_id: UUID, phone_number_id: str) -> Limits:
        now = time.monotonic()
        cached = self._limits.get(phone_number_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        row = await repository.sender_limits(pool, tenant_id, phone_number_id)
        limits = (
            Limits(DEFAULT_MPS, "", None, None, False)
            if row is None
            else Limits(
                row["throughput_mps"],
                row["waba_id"],
                tier_limit(row["messaging_tier"]),
                row["messaging_tier"],
                row["tier_policy"] == "fail",
            )
        )
        self._limits[phone_number_id] = (now + RATE_TTL, limits)
        return limits


async def _pace(res: Resources, pool: Pool, tenant_id: UUID, message_id: UUID, sender: str, to: str) -> Pacer | None:
    """Wait for this send's slot (sender rate, pair rate and daily tier, across all workers); a
    slot too far ahead puts the task back on the queue for then, before anything is claimed.
    Returns None when the message was failed instead (daily tier reached, and the plan says fail)."""
    pacer: Pacer = res.extra(
        "pacer", lambda: Pacer(ScriptRunner(res.settings.redis_url), res.settings.pair_interval_ms)
    )
    limits: Limits = await res.extra("sender_limits", SenderLimits).get(pool, tenant_id, sender)
    now = datetime.now(UTC)
    slot = await pacer.reserve(
        sender,
        to,
        limits.mps,
        account=limits.account,
        daily_recipients=limits.daily_recipients,
        today=now.date().isoformat(),
    )
    if slot.tier_reached:
        if not limits.fail_over_tier:
            log.info("waiting for tomorrow's recipient tier", extra={"fields": {"tier": limits.tier}})
            raise dramatiq.Retry(delay=next_day_ms(now) + random.randint(0, 60_000))
        detail = (
            f"the WhatsApp account's daily limit of {limits.daily_recipients} new recipients ({limits.tier}) is reached"
        )
        async with unit_of_work(pool) as conn:
            message = await repository.lock_status(conn, tenant_id, message_id)
            if message is not None and message["status"] == Status.QUEUED:
                await record_status(conn, message, Status.FAILED, source="worker", detail=detail)
        return None
    if not slot.reserved:
        raise dramatiq.Retry(delay=slot.wait_ms)
    await pacer.wait(slot)
    return pacer


async def _opted_out(pool: Pool, claim: asyncpg.Record, attempt_id: int) -> bool:
    """A MARKETING template to someone who stopped marketing (131050) is failed, not sent."""
    if claim["content"].get("category") != "MARKETING":
        return False
    reason = await channels_repository.opt_out_reason(
        pool, claim["tenant_id"], CHANNEL, claim["to_number"], ["marketing"]
    )
    if reason is None:
        return False
    detail = f"opted_out: the recipient stopped marketing messages ({reason})"
    async with unit_of_work(pool) as conn:
        await repository.finish_attempt(conn, claim["tenant_id"], attempt_id, state="skipped", error_detail=detail)
        message = await repository.lock_status(conn, claim["tenant_id"], claim["id"])
        if message is not None and message["status"] == Status.QUEUED:
            await record_status(conn, message, Status.FAILED, source="worker", detail=detail)
    return True


async def _gave_up(
    conn: Connection, settings: Settings, claim: asyncpg.Record, number: int, result: SendResult
) -> bool:
    """Whether a retryable failure is final: the round's attempts or its time are used up. A
    failure that says when to come back (131049: a day) is not held to the round's time; a
    throttle does not use up an attempt."""
    if not _throttled(result) and _spent(claim, number) >= settings.max_attempts:
        return True
    if result.verdict is not None and result.verdict.not_before_ms is not None:
        return False
    started = await repository.round_started_at(conn, claim["tenant_id"], claim["id"], CHANNEL, claim["attempt_floor"])
    return started is not None and (datetime.now(UTC) - started).total_seconds() > settings.retry_max_age_seconds


def _retry_delay(settings: Settings, number: int, result: SendResult) -> int:
    not_before = result.verdict.not_before_ms if result.verdict is not None else None
    if not_before is not None:
        return not_before + random.randint(0, 60_000)
    if _throttled(result):
        return backoff_ms(settings.retry_base_ms, number, MAX_THROTTLE_BACKOFF_MS)
    return backoff_ms(settings.retry_base_ms, number)


async def _fail(conn: Connection, message: asyncpg.Record, claim: asyncpg.Record, result: SendResult) -> None:
    """Fail the message for good, and act on what the failure says about the tenant's setup or
    the recipient."""
    detail = _failure_detail(result)
    await record_status(conn, message, Status.FAILED, source="worker", detail=detail, error_code=result.error_code)
    verdict = result.verdict
    if verdict is None:
        return
    if verdict.fallback or verdict.retryable:  # another channel may reach them, or retries ran out
        await fall_back(conn, claim["tenant_id"], claim["id"], CHANNEL, f"whatsapp failed: {detail}", source="worker")
    if verdict.credential_unhealthy:
        await tenants_repository.set_credential_health(
            conn, claim["tenant_id"], claim["credential_id"], "failing", detail
        )
        log.warning("credential refused by the provider", extra={"fields": {"reason": verdict.reason}})
    if verdict.kind is Kind.OPT_OUT:
        await channels_repository.add_opt_out(
            conn,
            claim["tenant_id"],
            channel=CHANNEL,
            address=claim["to_number"],
            scope="marketing",
            reason=verdict.reason,
            error_code=result.error_code,
            message_id=claim["id"],
        )


async def deliver(
    res: Resources, tenant_id: UUID, message_id: UUID, *, sender: str | None = None, to: str | None = None
) -> None:
    settings = res.settings
    pool = await res.pool()
    vault: Vault = res.extra("vault", lambda: Vault(res.keyring))
    clients: WhatsAppClients = res.extra(
        "whatsapp", lambda: WhatsAppClients(settings.graph_url, settings.provider_timeout_seconds)
    )
    pacer = None
    if sender and to:
        pacer = await _pace(res, pool, tenant_id, message_id, sender, to)
        if pacer is None:
            return

    claim = await repository.try_claim(pool, tenant_id, message_id, CHANNEL, settings.max_attempts)
    if claim is None:
        log.warning("message to deliver does not exist")
        return
    if claim["new_attempt_id"] is not None:
        attempt_id, number = claim["new_attempt_id"], claim["new_attempt_number"]
    else:
        claimed = await _claim_carefully(pool, settings, tenant_id, message_id)
        if claimed is None:
            return
        claim, attempt_id, number = claimed
    if await _opted_out(pool, claim, attempt_id):
        return
    # Opened secrets are cached by ciphertext in the vault: usually no database or crypto work.
    secrets = await tenants_service.open_whatsapp_secrets(
        pool, vault, tenant_id, claim["credential_id"], claim["sealed_secrets"]
    )

    client = clients.get(secrets.access_token, str(claim["credential_config"].get("graph_api_version", "v23.0")))
    result = await send(
        client,
        sender=claim["phone_number_id"],
        to=claim["to_number"],
        content=claim["content"],
        tracker=str(message_id),
    )

    if pacer is not None and result.error_code in SENDER_OVER_THROUGHPUT:
        # Meta says this number is over its throughput: every worker holds its sends for a while.
        await pacer.pause(claim["phone_number_id"])
        log.warning("sender paused", extra={"fields": {"sender": claim["phone_number_id"], "code": result.error_code}})

    if result.outcome is Outcome.ACCEPTED and claim["credential_health"] != "ok":
        # The tenant fixed the credential (or the provider recovered): it works again.
        await tenants_repository.set_credential_health(pool, tenant_id, claim["credential_id"], "ok", None)
    if result.outcome is Outcome.ACCEPTED:
        assert result.provider_id is not None
        if await repository.record_acceptance(
            pool,
            tenant_id=tenant_id,
            message_id=message_id,
            attempt_id=attempt_id,
            provider_message_id=result.provider_id,
            from_status=ACCEPTANCE.previous,
            to_status=ACCEPTANCE.current,
            outcome=ACCEPTANCE.outcome,
            http_status=result.http_status,
            latency_ms=result.latency_ms,
        ):
            return
        # A status webhook moved the message first: apply the state machine under the lock.

    retry_in: int | None = None
    async with unit_of_work(pool) as conn:
        message = await repository.lock_status(conn, tenant_id, message_id)
        assert message is not None
        if result.outcome is Outcome.AMBIGUOUS:
            # Leave the attempt pending: the status webhook or the hold period settles it.
            log.warning("provider call outcome unknown", extra={"fields": {"detail": result.detail}})
            retry_in = int(settings.delivery_hold_seconds * 1000) + 250
        elif result.outcome is Outcome.ACCEPTED:
            assert result.provider_id is not None
            await finish_attempt(conn, tenant_id, attempt_id, result)
            await record_status(
                conn,
                message,
                Status.SUBMITTED,
                source="worker",
                detail=f"accepted as {result.provider_id}",
                provider_message_id=result.provider_id,
                replace_provider_message_id=True,
            )
        else:
            await finish_attempt(conn, tenant_id, attempt_id, result)
            if result.outcome is Outcome.RETRYABLE and not await _gave_up(conn, settings, claim, number, result):
                retry_in = _retry_delay(settings, number, result)
                if _throttled(result):
                    await repository.count_throttled(conn, tenant_id, message_id)
                log.info(
                    "retrying", extra={"fields": {"attempt": number, "code": result.error_code, "delay_ms": retry_in}}
                )
            else:
                await _fail(conn, message, claim, result)
    if retry_in is not None:
        raise dramatiq.Retry(delay=retry_in)
