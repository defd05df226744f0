"""The outbox relay: publishes committed outbox rows to Dramatiq, at least once.

Each pass claims up to ``batch`` unpublished rows with ``FOR UPDATE SKIP LOCKED`` (so several
relays can run side by side without publishing the same row concurrently), enqueues them, and marks
them published in the same transaction. If Redis is down the transaction rolls back and the rows
wait; if the process dies after enqueueing but before committing, the rows are published again and
the idempotent actors absorb the duplicate.

It never reads ``WHERE id > last_seen``: ids are assigned at insert, not at commit, so a
transaction that commits late would have its rows skipped forever.

The relay wakes on ``NOTIFY`` from writers and also polls, so a lost notification (or a listener
reconnect) delays publication by at most ``poll_interval`` seconds. After a wake-up it lingers a
few milliseconds so that, under load, one pass carries many rows; consecutive rows for a batch
actor (:func:`kernel.worker.batch_task`) then share one Dramatiq message. A row that can never be
published (its topic names no actor) is set aside with an ``error`` rather than retried forever
in front of every row behind it.
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
from kernel.worker import BATCH

__all__ = ["Relay"]

log = logging.getLogger("switchboard.relay")

_CLAIM = (
    "SELECT id, topic, payload FROM outbox WHERE published_at IS NULL ORDER BY priority, id LIMIT $1 "
    "FOR UPDATE SKIP LOCKED"
)
_MARK = "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])"
_SET_ASIDE = "UPDATE outbox SET published_at = now(), error = $2 WHERE id = $1"
_PURGE = "DELETE FROM outbox WHERE published_at < now() - interval '1 hour' AND error IS NULL"


class Relay:
    def __init__(
        self,
        pool: Pool,
        dsn: str,
        broker: Broker,
        *,
        batch: int = 500,
        poll_interval: float = 1.0,
        linger: float = 0.01,
    ) -> None:
        self._pool = pool
        self._dsn = dsn
        self._broker = broker
        self._batch = batch
        self._poll_interval = poll_interval
        # After a wake-up, wait this long for more rows: under load one claim then carries many
        # rows (and one Dramatiq message many deliveries) instead of one each.
        self._linger = linger
        self._wake = asyncio.Event()
        self.published = 0

    def _messages(self, rows: list[asyncpg.Record]) -> tuple[list[dramatiq.Message[Any]], dict[int, str]]:
        """Dramatiq messages for the rows, and the rows that can never be published (with why).

        The outbox id is the Dramatiq message id, so re-publications of a row are recognisable;
        consecutive rows of a batch actor (``max_batch`` option) share one message.
        """
        messages: list[dramatiq.Message[Any]] = []
        unpublishable: dict[int, str] = {}
        open_batch: tuple[str, list[dict[str, Any]], int] | None = None  # (topic, items, first id)

        def close_batch() -> None:
            nonlocal open_batch
            if open_batch is not None:
                topic, items, first = open_batch
                actor = self._broker.get_actor(topic)
                messages.append(self._message(actor, {BATCH: items}, f"outbox-{first}+{len(items) - 1}"))
                open_batch = None

        for row in rows:
            try:
                actor = self._broker.get_actor(row["topic"])
            except ActorNotFound:
                unpublishable[row["id"]] = f"no actor named {row['topic']!r}"
                continue
            max_batch = actor.options.get("max_batch")
            if not max_batch:
                close_batch()
                messages.append(self._message(actor, row["payload"], f"outbox-{row['id']}"))
                continue
            if open_batch is not None and (open_batch[0] != row["topic"] or len(open_batch[1]) >= max_batch):
                close_batch()
            if open_batch is None:
                open_batch = (row["topic"], [], row["id"])
            open_batch[1].append(row["payload"])
        close_batch()
        return messages, unpublishable

    @staticmethod
    def _message(actor: Any, kwargs: dict[str, Any], message_id: str) -> dramatiq.Message[Any]:
        return dramatiq.Message(
            queue_name=actor.queue_name,
            actor_name=actor.actor_name,
            args=(),
            kwargs=kwargs,
            options={},
            message_id=message_id,
        )

    def _publish(self, rows: list[asyncpg.Record]) -> dict[int, str]:
        """Enqueue every row; returns the rows that can never be published, with the reason.

        Broker failures raise (the whole batch is retried later); a row that names no known actor
        is reported instead, so one bad row cannot hold up the others.
        """
        messages, unpublishable = self._messages(rows)
        for message in messages:
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
                if self._wake.is_set() and not stop.is_set():
                    await asyncio.sleep(self._linger)
        finally:
            if listener is not None and not listener.is_closed():
                with contextlib.suppress(Exception):
                    await listener.close()


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
