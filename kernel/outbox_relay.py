"""The outbox relay: publishes committed outbox rows to Dramatiq, at least once.

Each pass claims up to ``batch`` unpublished rows with ``FOR UPDATE SKIP LOCKED`` (so several
relays can run side by side without publishing the same row concurrently), enqueues them, and marks
them published in the same transaction. If Redis is down the transaction rolls back and the rows
wait; if the process dies after enqueueing but before committing, the rows are published again and
the idempotent actors absorb the duplicate.

It never reads ``WHERE id > last_seen``: ids are assigned at insert, not at commit, so a
transaction that commits late would have its rows skipped forever.

The relay wakes on ``NOTIFY`` from writers and also polls, so a lost notification (or a listener
reconnect) delays publication by at most ``poll_interval`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import asyncpg
import dramatiq
from dramatiq.broker import Broker
from dramatiq.errors import ActorNotFound

from kernel.db import Pool
from kernel.outbox import CHANNEL

__all__ = ["Relay"]

log = logging.getLogger("switchboard.relay")

_CLAIM = "SELECT id, topic, payload FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED"
_MARK = "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])"
_SET_ASIDE = "UPDATE outbox SET published_at = now(), error = $2 WHERE id = $1"
_PURGE = "DELETE FROM outbox WHERE published_at < now() - interval '1 hour' AND error IS NULL"


class Relay:
    def __init__(self, pool: Pool, dsn: str, broker: Broker, *, batch: int = 500, poll_interval: float = 1.0) -> None:
        self._pool = pool
        self._dsn = dsn
        self._broker = broker
        self._batch = batch
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()
        self.published = 0

    def _message(self, row: asyncpg.Record) -> dramatiq.Message[Any]:
        actor = self._broker.get_actor(row["topic"])
        # The outbox id is the Dramatiq message id: re-publications of one row are recognisable.
        return dramatiq.Message(
            queue_name=actor.queue_name,
            actor_name=actor.actor_name,
            args=(),
            kwargs=row["payload"],
            options={},
            message_id=f"outbox-{row['id']}",
        )

    def _publish(self, rows: list[asyncpg.Record]) -> dict[int, str]:
        """Enqueue every row; returns the rows that can never be published, with the reason.

        Broker failures raise (the whole batch is retried later); a row that names no known actor
        is reported instead, so one bad row cannot hold up the others.
        """
        unpublishable: dict[int, str] = {}
        for row in rows:
            try:
                message = self._message(row)
            except ActorNotFound:
                unpublishable[row["id"]] = f"no actor named {row['topic']!r}"
                continue
            self._broker.enqueue(message)
        return unpublishable

    async def drain_once(self) -> int:
        """Publish one batch; returns how many rows it published."""
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(_CLAIM, self._batch)
            if not rows:
                return 0
            # The broker client is synchronous; keep the loop free to receive notifications.
            unpublishable = await asyncio.to_thread(self._publish, rows)
            await conn.execute(_MARK, [r["id"] for r in rows if r["id"] not in unpublishable])
            for row_id, reason in unpublishable.items():
                log.error("outbox row set aside", extra={"fields": {"outbox_id": row_id, "reason": reason}})
                await conn.execute(_SET_ASIDE, row_id, reason)
        self.published += len(rows)
        return len(rows)

    async def _listen(self) -> asyncpg.Connection[asyncpg.Record] | None:
        try:
            conn = await asyncpg.connect(self._dsn)
            await conn.add_listener(CHANNEL, lambda *_: self._wake.set())
            return conn
        except (OSError, asyncpg.PostgresError) as error:
            log.warning("LISTEN unavailable, polling only", extra={"fields": {"error": str(error)}})
            return None

    async def run(self, stop: asyncio.Event) -> None:
        listener = await self._listen()
        failures = 0
        last_purge = time.monotonic()
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    published = await self.drain_once()
                    failures = 0
                except Exception as error:  # the broker or the database is down: back off, keep the rows
                    failures += 1
                    delay = min(10.0, 0.2 * 2**failures)
                    log.warning(
                        "publish failed; rows kept", extra={"fields": {"error": repr(error), "retry_in_s": delay}}
                    )
                    await _sleep_or_stop(stop, delay)
                    continue
                if published >= self._batch:
                    continue
                if time.monotonic() - last_purge > 60:
                    last_purge = time.monotonic()
                    await self._pool.execute(_PURGE)
                if listener is None or listener.is_closed():
                    listener = await self._listen()
                wake = asyncio.create_task(self._wake.wait())
                halt = asyncio.create_task(stop.wait())
                await asyncio.wait({wake, halt}, timeout=self._poll_interval, return_when=asyncio.FIRST_COMPLETED)
                wake.cancel()
                halt.cancel()
        finally:
            if listener is not None and not listener.is_closed():
                with contextlib.suppress(Exception):
                    await listener.close()


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
