"""Provider throughput in the workers: each sender number's messages/s and the pair rate, shared by
every worker process through Redis.

Each limit is a GCRA schedule (one key holding the next free slot): a caller reserves the next slot
and sleeps until it, so sends leave evenly spaced, in the order they reserved, and never faster
than the limit in any window, whatever the number of processes. Waiting is not failing: no attempt
is recorded and no retry is spent while a send waits for its slot. A slot further away than
:data:`MAX_SLEEP_MS` is not reserved; the task is put back on the queue until then
(``dramatiq.Retry`` before the message is claimed).

* Sender rate: ``senders.throughput_mps`` (Meta's 80 by default, up to 1,000), paced at
  :data:`SAFETY` of it so that scheduling jitter never pushes a second over the limit.
* Pair rate: one message per ``SWITCHBOARD_PAIR_INTERVAL_MS`` (6 s, Meta's 131056) to the same
  recipient from the same sender; later ones wait, in order.
* Daily unique recipients per WhatsApp Business Account, by its messaging tier (TIER_250, TIER_2K,
  ... counted per UTC day, an approximation of Meta's moving 24 hours): a message to a new
  recipient once the tier is reached waits for the next day or fails, as the tenant's plan says.
* Meta's 130429 or 131057 on a send pauses that sender (every process) for a while; the rest of
  the tenant's senders carry on.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kernel.scripts import Script, ScriptRunner

__all__ = ["MAX_SLEEP_MS", "SAFETY", "Pacer", "Slot", "next_day_ms", "tier_limit"]

SAFETY = 0.97
MAX_SLEEP_MS = 10_000
PAUSE_MS = 5_000  # after 130429/131057: Meta asks for a few seconds, then tries again

# KEYS: the sender's schedule, the pair's, the account's recipients today. ARGV: sender interval ms,
# pair interval ms (0: none), the furthest slot a caller may reserve (ms from now), the account's
# daily unique-recipient limit (-1: none), the recipient, the day set's ttl (s).
# Both schedules move together or not at all: the send happens at the later of the two slots, and
# that is the sender slot taken, so the sender's rate holds at the moment of sending. A recipient
# already messaged today never counts again; a new one is counted only once its slot is reserved.
# Returns {1 reserved / 0 not (come back later) / 2 the daily limit is reached, ms until the slot}.
_RESERVE = Script("""
local interval, pair_interval, furthest = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tier = tonumber(ARGV[4])
local new_recipient = false
if tier >= 0 and redis.call('SISMEMBER', KEYS[3], ARGV[5]) == 0 then
  if redis.call('SCARD', KEYS[3]) >= tier then return {2, 0} end
  new_recipient = true
end
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local slot = math.max(tonumber(redis.call('GET', KEYS[1]) or now), now)
if pair_interval > 0 then slot = math.max(slot, tonumber(redis.call('GET', KEYS[2]) or now)) end
local wait = slot - now
if wait > furthest then return {0, wait} end
redis.call('SET', KEYS[1], tostring(slot + interval), 'PX', wait + interval + 1000)
if pair_interval > 0 then
  redis.call('SET', KEYS[2], tostring(slot + pair_interval), 'PX', wait + pair_interval + 1000)
end
if new_recipient then
  redis.call('SADD', KEYS[3], ARGV[5])
  redis.call('EXPIRE', KEYS[3], ARGV[6])
end
return {1, wait}
""")

# Push a schedule's next free slot to at least ``ARGV[1]`` ms from now.
_PAUSE = Script("""
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local until_ = now + tonumber(ARGV[1])
local slot = tonumber(redis.call('GET', KEYS[1]) or 0)
if slot < until_ then redis.call('SET', KEYS[1], tostring(until_), 'PX', tonumber(ARGV[1]) + 1000) end
return 1
""")


@dataclass(frozen=True, slots=True)
class Slot:
    reserved: bool
    wait_ms: int
    tier_reached: bool = False


_TIER = re.compile(r"TIER_(\d+)(K?)")


def tier_limit(messaging_tier: str | None) -> int | None:
    """Unique recipients a day for Meta's messaging tier (TIER_250, TIER_2K, TIER_10K, ...); None
    for TIER_UNLIMITED or a tier not known yet."""
    match = _TIER.fullmatch((messaging_tier or "").upper())
    if match is None:
        return None
    return int(match.group(1)) * (1000 if match.group(2) else 1)


def next_day_ms(now: datetime) -> int:
    """Milliseconds until the next UTC day, when the daily recipient count starts again."""
    tomorrow = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
    return int((tomorrow - now).total_seconds() * 1000)


class Pacer:
    def __init__(self, runner: ScriptRunner, pair_interval_ms: int) -> None:
        self._redis = runner
        self._pair_interval_ms = pair_interval_ms

    @staticmethod
    def _sender_key(phone_number_id: str) -> str:
        return f"switchboard:pace:{{{phone_number_id}}}"

    async def reserve(
        self,
        phone_number_id: str,
        to_number: str,
        mps: int,
        *,
        account: str = "",
        daily_recipients: int | None = None,
        today: str = "",
    ) -> Slot:
        """A slot for one send, within the sender's rate, the pair's and the account's (WABA's)
        daily unique-recipient tier. The caller sleeps ``wait_ms`` when ``reserved``; otherwise it
        comes back after ``wait_ms``, or, when ``tier_reached``, tomorrow (or fails the message)."""
        interval = max(1, round(1000 / (mps * SAFETY)))
        keys = [
            self._sender_key(phone_number_id),
            f"switchboard:pair:{{{phone_number_id}}}:{to_number}",
            f"switchboard:tier:{{{account}}}:{today}",
        ]
        limit = -1 if daily_recipients is None else daily_recipients
        verdict, wait = await self._redis.run(
            _RESERVE, keys, [interval, self._pair_interval_ms, MAX_SLEEP_MS, limit, to_number, 2 * 86_400]
        )
        return Slot(verdict == 1, int(wait), tier_reached=verdict == 2)

    async def wait(self, slot: Slot) -> None:
        if slot.wait_ms > 0:
            await asyncio.sleep(slot.wait_ms / 1000)

    async def pause(self, phone_number_id: str, ms: int = PAUSE_MS) -> None:
        """Hold every send from this number for ``ms`` (Meta said it is over its throughput)."""
        await self._redis.run(_PAUSE, [self._sender_key(phone_number_id)], [ms])
