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
* Meta's 130429 or 131057 on a send pauses that sender (every process) for a while; the rest of
  the tenant's senders carry on.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from kernel.scripts import Script, ScriptRunner

__all__ = ["MAX_SLEEP_MS", "SAFETY", "Pacer", "Slot"]

SAFETY = 0.97
MAX_SLEEP_MS = 10_000
PAUSE_MS = 5_000  # after 130429/131057: Meta asks for a few seconds, then tries again

# KEYS: the sender's schedule, the pair's. ARGV: sender interval ms, pair interval ms (0: none),
# the furthest slot a caller may reserve (ms from now). Both schedules move together or not at all:
# the send happens at the later of the two slots, and that is the sender slot taken, so the
# sender's rate holds at the moment of sending. Returns {reserved (1/0), ms until the slot}.
_RESERVE = Script("""
local interval, pair_interval, furthest = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
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


class Pacer:
    def __init__(self, runner: ScriptRunner, pair_interval_ms: int) -> None:
        self._redis = runner
        self._pair_interval_ms = pair_interval_ms

    @staticmethod
    def _sender_key(phone_number_id: str) -> str:
        return f"switchboard:pace:{{{phone_number_id}}}"

    async def reserve(self, phone_number_id: str, to_number: str, mps: int) -> Slot:
        """A slot for one send, within the sender's rate and the pair's. The caller sleeps
        ``wait_ms`` when ``reserved``, else comes back after ``wait_ms`` (nothing was reserved)."""
        interval = max(1, round(1000 / (mps * SAFETY)))
        keys = [self._sender_key(phone_number_id), f"switchboard:pair:{{{phone_number_id}}}:{to_number}"]
        reserved, wait = await self._redis.run(_RESERVE, keys, [interval, self._pair_interval_ms, MAX_SLEEP_MS])
        return Slot(bool(reserved), int(wait))

    async def wait(self, slot: Slot) -> None:
        if slot.wait_ms > 0:
            await asyncio.sleep(slot.wait_ms / 1000)

    async def pause(self, phone_number_id: str, ms: int = PAUSE_MS) -> None:
        """Hold every send from this number for ``ms`` (Meta said it is over its throughput)."""
        await self._redis.run(_PAUSE, [self._sender_key(phone_number_id)], [ms])
