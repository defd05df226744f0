"""The raw log of provider callbacks, written with group commit.

Every verified callback is stored (bytes, kept headers, body hash) together with an outbox row that
queues its reconciliation, before the provider gets its 200. Under load, callbacks that arrive while
a write is in flight are stored together by the next one: one statement and one commit for many
callbacks, so the database's cost per callback falls as traffic rises, while a lone callback is
written at once (no added latency when idle). A caller is answered only after its own row commits.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from uuid import UUID

import msgspec

from kernel.db import Pool
from kernel.outbox import CHANNEL

__all__ = ["RawEvent", "RawLog"]

log = logging.getLogger("switchboard.webhooks")


@dataclass(frozen=True, slots=True)
class RawEvent:
    tenant_id: UUID
    credential_id: UUID
    provider: str
    headers: dict[str, str]
    body: bytes
    body_sha256: bytes
    query: str = ""  # the callback URL's query string (Twilio's name our message there)


# ``input`` is referenced twice, so PostgreSQL materializes it: each row's id is drawn exactly once,
# and the final SELECT maps every id back to its position in the batch.
_INSERT = f"""
WITH input AS (
    SELECT nextval('raw_events_id_seq') AS id, t.*
    FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::bytea[], $6::bytea[], $7::text[])
         WITH ORDINALITY AS t(tenant_id, credential_id, provider, headers, body, body_sha256, query, ord)
), r AS (
    INSERT INTO raw_events (id, tenant_id, credential_id, provider, headers, body, body_sha256, query)
    SELECT id, tenant_id, credential_id, provider, headers::jsonb, body, body_sha256, query FROM input
), o AS (
    INSERT INTO outbox (topic, payload)
    SELECT 'webhooks.reconcile', jsonb_build_object('raw_event_id', id, 'tenant_id', tenant_id)
    FROM input ORDER BY id
)
SELECT id, ord FROM input, pg_notify('{CHANNEL}', '')
"""

_MAX_ROWS = 256
_MAX_BYTES = 16 * 1024 * 1024


class RawLog:
    """Stores callbacks for one process; :meth:`store` returns the raw event id once committed."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._pending: list[tuple[RawEvent, asyncio.Future[int]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def store(self, event: RawEvent) -> int:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((event, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_pending())
        # Shielded: a caller that goes away must not cancel a write other callers share.
        return await asyncio.shield(future)

    def _take(self) -> list[tuple[RawEvent, asyncio.Future[int]]]:
        size = count = 0
        for count, (event, _) in enumerate(self._pending, start=1):
            size += len(event.body)
            if count >= _MAX_ROWS or size >= _MAX_BYTES:
                break
        batch, self._pending = self._pending[:count], self._pending[count:]
        return batch

    async def _write_pending(self) -> None:
        try:
            while self._pending:
                batch = self._take()
                try:
                    ids = await self._insert([event for event, _ in batch])
                except Exception as error:  # every waiter of this batch answers 500; Meta retries
                    log.exception("raw events not stored", extra={"fields": {"count": len(batch)}})
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    continue
                for (_, future), raw_id in zip(batch, ids, strict=True):
                    if not future.done():
                        future.set_result(raw_id)
        finally:
            self._writer = None

    async def _insert(self, events: list[RawEvent]) -> list[int]:
        columns = (
            [e.tenant_id for e in events],
            [e.credential_id for e in events],
            [e.provider for e in events],
            [msgspec.json.encode(e.headers).decode() for e in events],
            [e.body for e in events],
            [e.body_sha256 for e in events],
            [e.query for e in events],
        )
        rows = await self._pool.fetch(_INSERT, *columns)
        by_position = {row["ord"]: row["id"] for row in rows}
        return [by_position[position] for position in range(1, len(events) + 1)]
