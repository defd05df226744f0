"""Recently authenticated callers: a submission skips its key lookup, and its write proves the caller.

A submission is the request tenant apps make most, and its key lookup is a statement and a round
trip of its own. :meth:`Callers.run` gives the work a principal remembered from an earlier request
with the same ``Authorization`` value; the work's write checks, in its own statement, that the
key is live, its tenant active and the key's, tenant's and plan's rows the very versions the
principal was read from (its fingerprint: :func:`tenants.repository.caller_current`), and raises
:class:`~tenants.domain.StaleCaller` if not.

Every other outcome is settled against a fresh lookup: an error (a refused key must not read as a
validation problem; a changed plan must not refuse at the old rate) and a result the write did not
prove (an idempotent replay stores nothing). With the same fingerprint the outcome stands; with
another, or a stale write, the work runs again for the fresh principal. So a revoked key, a
suspended tenant, a new template or a changed plan answer exactly as without the memory, from the
first request after the change; what is saved is the lookup of a request that succeeds. A failed
lookup is never remembered.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from kernel.db import Connection
from kernel.errors import SwitchboardError
from tenants.auth import authenticate
from tenants.domain import Principal, StaleCaller

__all__ = ["Callers"]

T = TypeVar("T")


class Callers:
    """One per process. Principals are remembered under a digest of the header value (the key itself
    is not kept), for ``ttl`` seconds: the write's check keeps them correct; the time limit only
    keeps the memory to callers still calling."""

    def __init__(self, ttl: float = 300.0, size: int = 10_000) -> None:
        self._ttl = ttl
        self._size = size
        self._known: dict[bytes, tuple[Principal, float]] = {}

    async def run(
        self,
        conn: Connection,
        authorization: str | None,
        work: Callable[[Principal, bool], Awaitable[T]],
        proved: Callable[[T], bool],
    ) -> T:
        """``work(caller, remembered)``'s result; ``remembered`` asks the work's write to check the
        caller (see the module docstring); ``proved(result)`` says whether it did."""
        slot = hashlib.sha256(authorization.encode()).digest() if authorization else None
        remembered = self._recall(slot)
        fresh: Principal | None = None
        if remembered is not None:
            try:
                result = await work(remembered, True)
            except StaleCaller:
                pass
            except SwitchboardError:
                fresh = await self._look_up(conn, authorization, slot)
                if fresh.fingerprint == remembered.fingerprint:
                    raise
            else:
                if proved(result):
                    return result
                fresh = await self._look_up(conn, authorization, slot)
                if fresh.fingerprint == remembered.fingerprint:
                    return result
        return await work(fresh or await self._look_up(conn, authorization, slot), False)

    async def _look_up(self, conn: Connection, authorization: str | None, slot: bytes | None) -> Principal:
        if slot is None:
            return await authenticate(conn, authorization)
        self._known.pop(slot, None)  # a key that fails now is not tried from memory again
        caller = await authenticate(conn, authorization)
        if len(self._known) >= self._size:
            self._known.clear()
        self._known[slot] = (caller, time.monotonic() + self._ttl)
        return caller

    def _recall(self, slot: bytes | None) -> Principal | None:
        if slot is None:
            return None
        found = self._known.get(slot)
        if found is None or found[1] < time.monotonic():
            return None
        return found[0]
