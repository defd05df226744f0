"""One attempt of one partner webhook delivery, and what it leads to.

The attempt is recorded whatever happens. A 2xx settles the delivery; 410 Gone disables the
endpoint; anything else (an error status, a timeout, a refused URL) is retried on the schedule
(``SWITCHBOARD_WEBHOOK_RETRY_SCHEDULE``), or after ``Retry-After`` when a 429 or 503 gives one,
and fails for good once the schedule is used up. An endpoint that fails without a single success
for ``SWITCHBOARD_WEBHOOK_DISABLE_AFTER_HOURS`` is disabled, with the reason on it.

The actor carries the attempt count it was leased at, so a redelivered task (a worker that died
after sending) finds the count moved on and sends nothing: the partner sees each attempt once,
and the same ``webhook-id`` on every attempt lets it drop what it already had.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import asyncpg
import httpx
import msgspec

from kernel import standard_webhooks
from kernel.db import Connection, Pool, unit_of_work
from tenants.vault import Vault
from webhooks.outbound.service import KIND
from webhooks.outbound.ssrf import UnsafeUrl, pinned

__all__ = ["TIMEOUT_SECONDS", "Policy", "deliver"]

log = logging.getLogger("switchboard.partner_webhooks")

TIMEOUT_SECONDS = 15.0
MAX_RETRY_AFTER = 86400.0
USER_AGENT = "Switchboard-Webhooks/1"

_LOAD = """
SELECT d.id, d.tenant_id, d.endpoint_id, d.event_id, d.status, d.attempts, d.attempt_floor, ev.payload,
       e.url, e.sealed_secrets, e.previous_expires_at, e.status AS endpoint_status, e.failing_since
FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id JOIN webhook_endpoints e ON e.id = d.endpoint_id
WHERE d.id = $1
"""


@dataclass(frozen=True, slots=True)
class Policy:
    schedule: tuple[float, ...]
    allow_private: bool
    disable_after: timedelta


@dataclass(slots=True)
class _Result:
    status: int | None = None
    body: str | None = None
    error: str | None = None
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


async def _signing_secrets(vault: Vault, pool: Pool, row: asyncpg.Record) -> list[str]:
    opened = await vault.open(pool, row["tenant_id"], KIND, row["endpoint_id"], row["sealed_secrets"])
    secrets = [opened["secret"]]
    expires = row["previous_expires_at"]
    if "previous" in opened and expires is not None and expires > datetime.now(UTC):
        secrets.append(opened["previous"])
    return secrets


async def _attempt(pool: Pool, vault: Vault, http: httpx.AsyncClient, policy: Policy, row: asyncpg.Record) -> _Result:
    try:
        target = await pinned(row["url"], allow_private=policy.allow_private)
        body = msgspec.json.encode(row["payload"])
        headers = standard_webhooks.headers(await _signing_secrets(vault, pool, row), row["event_id"], body)
        headers |= {"content-type": "application/json", "user-agent": USER_AGENT, **target.headers}
        response = await http.post(target.url, content=body, headers=headers, extensions=target.extensions)
    except UnsafeUrl as unsafe:
        return _Result(error=f"refused to call: {unsafe}")
    except httpx.TimeoutException:
        return _Result(error=f"no answer within {TIMEOUT_SECONDS:g} s")
    except httpx.HTTPError as error:
        return _Result(error=f"{type(error).__name__}: {error}"[:500])
    result = _Result(status=response.status_code, body=response.text[:1024])
    if response.status_code in (429, 503):
        result.retry_after = _retry_after(response.headers.get("retry-after"))
    return result


async def deliver(
    pool: Pool, vault: Vault, http: httpx.AsyncClient, policy: Policy, delivery_id: int, attempt: int
) -> None:
    row = await pool.fetchrow(_LOAD, delivery_id)
    if row is None or row["status"] != "pending" or row["attempts"] != attempt:
        return  # settled, deleted, or this lease was already used (a redelivered task)
    fields = {"tenant_id": str(row["tenant_id"]), "endpoint_id": str(row["endpoint_id"]), "event_id": row["event_id"]}
    if row["endpoint_status"] != "enabled":
        async with unit_of_work(pool) as conn:
            await _settle(conn, row, "failed", _Result(error="the endpoint is disabled"), None, counted=False)
        return
    started = time.perf_counter()
    result = await _attempt(pool, vault, http, policy, row)
    duration_ms = int(1000 * (time.perf_counter() - started))
    async with unit_of_work(pool) as conn:
        await conn.execute(
            "INSERT INTO webhook_attempts (tenant_id, delivery_id, attempt, response_status, response_body, error, "
            "duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            row["tenant_id"],
            delivery_id,
            attempt + 1,
            result.status,
            result.body,
            result.error,
            duration_ms,
        )
        if result.succeeded:
            await _settle(conn, row, "succeeded", result, None)
            await conn.execute("UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1", row["endpoint_id"])
            return
        if result.status == 410:
            await _settle(conn, row, "failed", result, None)
            await _disable(conn, row, "the endpoint answered 410 Gone")
            log.warning("partner endpoint disabled: 410 Gone", extra={"fields": fields})
            return
        waits_used = attempt - row["attempt_floor"]
        if waits_used >= len(policy.schedule):
            await _settle(conn, row, "failed", result, None)
        else:
            wait = result.retry_after if result.retry_after is not None else policy.schedule[waits_used]
            await _settle(conn, row, "pending", result, wait)
        failing_since = row["failing_since"] or datetime.now(UTC)
        if row["failing_since"] is None:
            await conn.execute(
                "UPDATE webhook_endpoints SET failing_since = now() WHERE id = $1 AND failing_since IS NULL",
                row["endpoint_id"],
            )
        elif datetime.now(UTC) - failing_since >= policy.disable_after:
            hours = policy.disable_after.total_seconds() / 3600
            await _disable(
                conn, row, f"failed without a success for {hours:g} hours (since {failing_since:%Y-%m-%d %H:%M} UTC)"
            )
            log.warning("partner endpoint disabled: failing too long", extra={"fields": fields})


async def _settle(
    conn: Connection, row: asyncpg.Record, status: str, result: _Result, wait: float | None, *, counted: bool = True
) -> None:
    await conn.execute(
        "UPDATE webhook_deliveries SET status = $3, attempts = attempts + $4, last_response_status = $5, "
        "last_error = $6, next_attempt_at = CASE WHEN $7::float8 IS NULL THEN NULL "
        "ELSE now() + make_interval(secs => $7::float8) END, updated_at = now() "
        "WHERE id = $1 AND attempts = $2 AND status = 'pending'",
        row["id"],
        row["attempts"],
        status,
        1 if counted else 0,
        result.status,
        result.error or (None if result.succeeded else f"HTTP {result.status}"),
        wait,
    )


async def _disable(conn: Connection, row: asyncpg.Record, reason: str) -> None:
    await conn.execute(
        "UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = $2 WHERE id = $1 AND status = 'enabled'",
        row["endpoint_id"],
        reason,
    )
