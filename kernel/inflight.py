"""Each tenant's bulk work in flight, shared through Redis: what makes bulk dispatch fair.

The relay publishes a tenant's bulk rows only while fewer than ``limit`` of them are in flight
(published and not yet finished), and shares each pass among the tenants that have room. A
tenant with 50,000 marketing messages therefore has at most ``limit`` of them in Redis at a time,
and another tenant's bulk work queued behind them is published on the next pass, not after them.

One sorted set per tenant: members are the items' ids (a message id), scored by when they were
published. The relay adds members before it enqueues (so a fast worker cannot finish an item
before it is counted); a worker removes an item when it is done with it. An item that is
published twice (the relay died between enqueueing and committing) is one member, removed once.
Members older than ``stale_after`` are dropped when room is counted: an item whose worker crashed
without finishing, or that waits for tomorrow's tier, must not hold its tenant's room forever.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping

import redis

from kernel.scripts import Script, ScriptError, ScriptRunner

__all__ = ["Ledger", "WorkerLedger", "key"]

log = logging.getLogger("switchboard.inflight")

STALE_AFTER_S = 900.0


def key(tenant: str) -> str:
    return f"switchboard:inflight:{{{tenant}}}"


class Ledger:
    """The relay's side: how much room each tenant has, and what was published (synchronous, as
    the broker client the relay publishes with)."""

    def __init__(self, client: redis.Redis, limit: int, stale_after: float = STALE_AFTER_S) -> None:
        self._client = client
        self.limit = limit
        self._stale_after = stale_after

    def room(self, tenants: Iterable[str]) -> dict[str, int]:
        """How many more items each tenant may have published now (one round trip)."""
        tenants = list(tenants)
        cutoff = (time.time() - self._stale_after) * 1000
        pipe = self._client.pipeline(transaction=False)
        for tenant in tenants:
            pipe.zremrangebyscore(key(tenant), "-inf", cutoff)
            pipe.zcard(key(tenant))
        replies = pipe.execute()
        return {tenant: max(0, self.limit - int(replies[2 * i + 1])) for i, tenant in enumerate(tenants)}

    def add(self, members: Mapping[str, list[str]]) -> None:
        now = time.time() * 1000
        pipe = self._client.pipeline(transaction=False)
        for tenant, ids in members.items():
            pipe.zadd(key(tenant), dict.fromkeys(ids, now))
            # A tenant that stops sending leaves nothing behind.
            pipe.expire(key(tenant), int(self._stale_after * 2))
        pipe.execute()


# KEYS: one per tenant; ARGV: for each key in turn, its member count and then its members.
_REMOVE = Script(
    """
local at = 1
for i, k in ipairs(KEYS) do
    local n = tonumber(ARGV[at])
    if n > 0 then redis.call('ZREM', k, unpack(ARGV, at + 1, at + n)) end
    at = at + n + 1
end
return 0
"""
)


class WorkerLedger:
    """The workers' side: an item is done (delivered, failed for good, or found to need nothing)."""

    def __init__(self, runner: ScriptRunner) -> None:
        self._runner = runner

    async def done(self, members: Mapping[str, list[str]]) -> None:
        if not members:
            return
        keys: list[str] = []
        args: list[int | str] = []
        for tenant, ids in members.items():
            keys.append(key(tenant))
            args.append(len(ids))
            args.extend(ids)
        try:
            await self._runner.run(_REMOVE, keys, args)
        except ScriptError as error:
            # The members go stale and are dropped by the relay; until then the tenant has less room.
            log.warning("could not mark bulk items done", extra={"fields": {"error": str(error)}})
