"""Tenant quotas at the edge: a submission rate (token bucket) and monthly message quotas, checked
atomically in Redis in one round trip before anything is written.

Both edges call :meth:`Quotas.take` through the service layer, after validation (a refused request
consumes nothing) and before the database write; a write that fails gives the quota back
(:meth:`Admission.refund`).

**Redis unavailable.** Accepting messages matters more than metering them to the last one: the
gate falls back to a per-process token bucket at a quarter of the plan's rate and burst (so a few
API processes together stay near the plan), keeps accepting, counts
``switchboard_quota_fallback_total`` and logs once per outage. Monthly quotas are not enforced
during the outage (they cannot be, without the shared counter). Redis is tried again after
:data:`RETRY_REDIS_AFTER` seconds. The quota client (:mod:`kernel.scripts`) gives up within 250 ms
and does not retry, so an outage costs a request at most that, once a second.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from kernel.errors import ErrorKind, Throttled
from kernel.metrics import incr_local
from kernel.scripts import Script, ScriptError, ScriptRunner, encode
from tenants.domain import Plan, Principal

__all__ = ["Admission", "Quotas", "TenantQuota", "for_caller", "month_key", "quota_client"]

log = logging.getLogger("switchboard.quotas")

FALLBACK_SHARE = 0.25
RETRY_REDIS_AFTER = 1.0
BUCKET_TTL_MS = 3_600_000
MONTH_TTL_S = 40 * 86_400  # a month's counters outlive the month by about ten days

# Admits a batch of requests (from one process, gathered while the previous call was in flight), in
# order, each atomically. Per request i: KEYS[3i-2..3i] = bucket, month total, month per channel;
# ARGV[1] = count, then 7 per request: capacity, refill per second, cost, month limit (-1: none),
# channel limit (-1: none), bucket ttl ms, month ttl s. Returns 5 per request: verdict (0 admitted,
# 1 over the rate, 2 over the month, 3 over the channel's month), wait ms, tokens left, month left,
# channel left (-1: unlimited). The monthly check comes first: when both are exhausted, "buy more"
# is the truthful answer. A refusal writes nothing: the bucket's state (tokens at ts) reads the same
# later at a constant rate, and after a plan change the time since it was last written refills at
# the new rate, as it would have if the refused request had not come.
_ADMIT = Script("""
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local out = {}
local function left(limit, n) if limit < 0 then return -1 end return math.max(0, limit - n) end
for i = 1, tonumber(ARGV[1]) do
  local a, k = 1 + (i - 1) * 7, (i - 1) * 3
  local cap, rate, cost = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local month_limit, channel_limit = tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5])
  local s = redis.call('HMGET', KEYS[k + 1], 'tokens', 'ts')
  local tokens = math.min(cap, (tonumber(s[1]) or cap) + (now - (tonumber(s[2]) or now)) * rate / 1000)
  local used, used_channel = 0, 0
  if month_limit >= 0 then used = tonumber(redis.call('GET', KEYS[k + 2]) or '0') end
  if channel_limit >= 0 then used_channel = tonumber(redis.call('GET', KEYS[k + 3]) or '0') end
  local verdict, wait = 0, 0
  if month_limit >= 0 and used + cost > month_limit then
    verdict = 2
  elseif channel_limit >= 0 and used_channel + cost > channel_limit then
    verdict = 3
  elseif tokens < cost then
    verdict = 1
    wait = math.ceil((cost - tokens) * 1000 / rate)
  else
    tokens = tokens - cost
    -- Counted only when capped: an unlimited plan has nothing to compare them with.
    if month_limit >= 0 then
      used = redis.call('INCRBY', KEYS[k + 2], cost)
      if used == cost then redis.call('EXPIRE', KEYS[k + 2], ARGV[a + 7]) end
    end
    if channel_limit >= 0 then
      used_channel = redis.call('INCRBY', KEYS[k + 3], cost)
      if used_channel == cost then redis.call('EXPIRE', KEYS[k + 3], ARGV[a + 7]) end
    end
    redis.call('HSET', KEYS[k + 1], 'tokens', tostring(tokens), 'ts', now)
    redis.call('PEXPIRE', KEYS[k + 1], ARGV[a + 6])
  end
  local n = #out
  out[n + 1], out[n + 2], out[n + 3] = verdict, wait, math.floor(tokens)
  out[n + 4], out[n + 5] = left(month_limit, used), left(channel_limit, used_channel)
end
return out
""")
MAX_BATCH = 100

# Give back what an admission took (its write failed): tokens up to the capacity, counters down.
_REFUND = Script("""
local cap, cost = tonumber(ARGV[1]), tonumber(ARGV[2])
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens') or cap)
redis.call('HSET', KEYS[1], 'tokens', tostring(math.min(cap, tokens + cost)))
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('DECRBY', KEYS[2], cost) end
if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('DECRBY', KEYS[3], cost) end
return 1
""")


def quota_client(url: str) -> ScriptRunner:
    """The quota store's client: fails within 250 ms, so an outage never stalls submissions."""
    return ScriptRunner(url, timeout=0.25)


def month_key(now: datetime) -> str:
    return f"{now.year:04d}-{now.month:02d}"


def _seconds_to_month_end(now: datetime) -> int:
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return max(1, math.ceil((datetime(year, month, 1, tzinfo=UTC) - now).total_seconds()))


@dataclass(slots=True)
class Admission:
    """What one admitted request took, for the response headers and a refund."""

    plan: Plan
    channel: str
    cost: int
    tokens_left: int
    month_limit: int | None  # the tighter of the month's overall and per-channel quotas
    month_left: int | None
    month_reset: int  # seconds
    refund_to: Callable[[Admission, int], Any] | None = None
    refunded: bool = False

    async def refund(self, count: int | None = None) -> None:
        """Give back what was taken, or ``count`` of it (a batch that stored fewer than it took)."""
        if self.refund_to is not None and not self.refunded:
            self.refunded = True
            await self.refund_to(self, self.cost if count is None else count)

    def headers(self) -> dict[str, str]:
        return rate_limit_headers(
            self.plan, self.tokens_left, self.month_limit, self.month_left, self.month_reset, wait=0.0
        )


def rate_limit_headers(
    plan: Plan, tokens_left: int, month_limit: int | None, month_left: int | None, month_reset: int, wait: float
) -> dict[str, str]:
    """IETF ``RateLimit-Policy`` and ``RateLimit`` (draft-ietf-httpapi-ratelimit-headers):
    the burst policy (``q`` requests per ``w`` seconds of refill) and, when capped, the month's."""
    window = max(1, math.ceil(plan.burst / plan.rate_per_second))
    policies = [f'"burst";q={plan.burst};w={window}']
    limits = [f'"burst";r={tokens_left};t={math.ceil(wait)}']
    if month_limit is not None and month_left is not None:
        policies.append(f'"monthly";q={month_limit};w={month_reset}')
        limits.append(f'"monthly";r={month_left};t={month_reset}')
    return {"RateLimit-Policy": ", ".join(policies), "RateLimit": ", ".join(limits)}


@dataclass(slots=True)
class _LocalBucket:
    tokens: float
    at: float = field(default_factory=time.monotonic)


class Quotas:
    """One per process. ``take`` admits a request or raises :class:`~kernel.errors.Throttled`."""

    def __init__(self, client: ScriptRunner, clock: Callable[[], datetime] | None = None) -> None:
        self._redis = client
        self._clock = clock or (lambda: datetime.now(UTC))
        self._redis_down_until = 0.0
        self._local: dict[UUID, _LocalBucket] = {}
        self._waiting: list[tuple[bytes, bytes, asyncio.Future[list[int]]]] = []
        self._flushing = False
        self._flusher: asyncio.Future[None] | None = None
        # A request's keys and arguments as Redis reads them, encoded once: the same few tenants
        # and plans come back on every request (cleared when full; they are cheap to make again).
        self._encoded: dict[tuple[Any, ...], bytes] = {}

    @staticmethod
    def _keys(tenant_id: UUID, channel: str, month: str) -> list[str]:
        base = f"switchboard:quota:{{{tenant_id}}}"
        return [f"{base}:rate", f"{base}:{month}", f"{base}:{month}:{channel}"]

    async def take(self, tenant_id: UUID, plan: Plan, channel: str, cost: int = 1) -> Admission:
        now = self._clock()
        month = month_key(now)
        reset = _seconds_to_month_end(now)
        if time.monotonic() >= self._redis_down_until:
            channel_limit = plan.monthly_by_channel.get(channel)
            monthly = -1 if plan.monthly_messages is None else plan.monthly_messages
            try:
                verdict, wait_ms, tokens, month_left, channel_left = await self._admit(
                    self._encode((tenant_id, channel, month), lambda: self._keys(tenant_id, channel, month)),
                    self._encode(
                        (plan.burst, plan.rate_per_second, cost, monthly, channel_limit),
                        lambda: [
                            plan.burst,
                            plan.rate_per_second,
                            cost,
                            monthly,
                            -1 if channel_limit is None else channel_limit,
                            BUCKET_TTL_MS,
                            MONTH_TTL_S,
                        ],
                    ),
                )
            except Exception as error:  # whatever fails in the store, submissions go on
                self._redis_down(error)
            else:
                capped = [
                    (int(left), limit)
                    for left, limit in ((month_left, plan.monthly_messages), (channel_left, channel_limit))
                    if limit is not None
                ]
                left, limit = min(capped) if capped else (None, None)
                if verdict == 0:
                    refund = self._give_back(tenant_id, month)
                    return Admission(plan, channel, cost, int(tokens), limit, left, reset, refund)
                headers = rate_limit_headers(plan, int(tokens), limit, left, reset, wait_ms / 1000)
                if verdict == 1:
                    raise Throttled(
                        f"over this tenant's rate of {plan.rate_per_second:g} messages/s "
                        f"(burst {plan.burst}); retry after {wait_ms} ms",
                        kind=ErrorKind.RATE_LIMITED,
                        subject=f"tenant:{tenant_id}:rate",
                        retry_after=wait_ms / 1000,
                        headers=headers,
                    )
                scope = "" if verdict == 2 else f"{channel} "
                limit = plan.monthly_messages if verdict == 2 else channel_limit
                raise Throttled(
                    f"this tenant's monthly {scope}quota of {limit} messages is used up until {month} ends "
                    "(in UTC); a larger plan raises it",
                    kind=ErrorKind.QUOTA_EXHAUSTED,
                    subject=f"tenant:{tenant_id}:monthly" + ("" if verdict == 2 else f":{channel}"),
                    retry_after=reset,
                    headers=headers,
                )
        return self._take_locally(tenant_id, plan, channel, cost, reset)

    def _encode(self, key: tuple[Any, ...], values: Callable[[], list[Any]]) -> bytes:
        found = self._encoded.get(key)
        if found is None:
            if len(self._encoded) >= 10_000:
                self._encoded.clear()
            found = self._encoded[key] = encode(*values())
        return found

    async def _admit(self, keys: bytes, args: bytes) -> list[int]:
        """One request's verdict. Requests that arrive while a call is in flight go together in the
        next one (group commit): under load, one round trip and one script run serve many."""
        future: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._waiting.append((keys, args, future))
        if not self._flushing:
            self._flushing = True
            self._flusher = asyncio.ensure_future(self._flush())  # held: the loop keeps only weak refs
        return await future

    async def _flush(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                encoded = b"".join(item[0] for item in batch) + encode(len(batch)) + b"".join(item[1] for item in batch)
                try:
                    # Per request 3 keys and 7 arguments (see _ADMIT), and the count before them.
                    flat = await self._redis.run_encoded(_ADMIT, 3 * len(batch), encoded, 10 * len(batch) + 1)
                except Exception as error:  # each caller falls back on its own (see take)
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    continue
                for i, (_, _, future) in enumerate(batch):
                    if not future.done():
                        future.set_result(flat[i * 5 : i * 5 + 5])
        finally:
            self._flushing = False

    def _give_back(self, tenant_id: UUID, month: str) -> Callable[[Admission, int], Any]:
        async def refund(admission: Admission, cost: int) -> None:
            try:
                await self._redis.run(
                    _REFUND, self._keys(tenant_id, admission.channel, month), [admission.plan.burst, cost]
                )
            except Exception as error:  # a lost refund only errs on the tenant's side
                self._redis_down(error)

        return refund

    def _redis_down(self, error: Exception) -> None:
        if time.monotonic() >= self._redis_down_until:
            unexpected = not isinstance(error, ScriptError)
            log.warning(
                "Redis unavailable for quotas: limiting per process at a quarter of each plan's rate",
                extra={"fields": {"error": f"{type(error).__name__}: {error}"}},
                exc_info=unexpected,  # a bug rather than an outage: keep its traceback for us
            )
        self._redis_down_until = time.monotonic() + RETRY_REDIS_AFTER

    def _take_locally(self, tenant_id: UUID, plan: Plan, channel: str, cost: int, reset: int) -> Admission:
        rate, capacity = plan.rate_per_second * FALLBACK_SHARE, max(1.0, plan.burst * FALLBACK_SHARE)
        now = time.monotonic()
        bucket = self._local.setdefault(tenant_id, _LocalBucket(capacity, now))
        bucket.tokens = min(capacity, bucket.tokens + (now - bucket.at) * rate)
        bucket.at = now
        incr_local("quota_fallback_total", tenant_id=str(tenant_id))
        if bucket.tokens < cost:
            wait = (cost - bucket.tokens) / rate
            raise Throttled(
                f"over this tenant's rate (limited per process while the quota store is unavailable); "
                f"retry after {math.ceil(wait * 1000)} ms",
                kind=ErrorKind.RATE_LIMITED,
                subject=f"tenant:{tenant_id}:rate",
                retry_after=wait,
                headers=rate_limit_headers(plan, int(bucket.tokens), None, None, reset, wait),
            )
        bucket.tokens -= cost
        return Admission(plan, channel, cost, int(bucket.tokens), None, None, reset)


def for_caller(quotas: Quotas | None, caller: Principal) -> TenantQuota | None:
    """The caller's quota for one request, or None when quotas are off (``quotas`` is None)."""
    return TenantQuota(quotas, caller.tenant_id, caller.plan) if quotas is not None else None


class TenantQuota:
    """One request's view of the gate: the caller's tenant and plan, and what was admitted (for the
    response headers)."""

    def __init__(self, quotas: Quotas, tenant_id: UUID, plan: Plan) -> None:
        self._quotas = quotas
        self.tenant_id = tenant_id
        self.plan = plan
        self.admission: Admission | None = None

    async def take(self, channel: str, cost: int = 1) -> Admission:
        self.admission = await self._quotas.take(self.tenant_id, self.plan, channel, cost)
        return self.admission
