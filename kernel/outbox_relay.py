"""The outbox relay: publishes committed outbox rows to Dramatiq, at least once.

Each pass claims up to ``batch`` unpublished rows with ``FOR UPDATE SKIP LOCKED`` (so several
relays can run side by side without publishing the same row concurrently), enqueues them, and marks
them published in the same transaction. If Redis is down the transaction rolls back and the rows
wait; if the process dies after enqueueing but before committing, the rows are published again and
the idempotent actors absorb the duplicate.

Transactional rows (priority 0: one-time passwords, receipts, and every non-message effect) are
published as soon as they commit. Bulk rows are dispatched fairly instead of first come, first
served: each pass shares its slots equally among the tenants with bulk rows waiting, and a tenant
gets slots only while fewer than ``bulk_in_flight`` of its bulk items are in flight
(:mod:`kernel.inflight`). So one tenant's 50,000 marketing messages wait in the outbox, not in
Redis in front of everyone else's, and a second tenant's bulk work starts on the next pass.

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

from kernel.db import Connection, Pool
from kernel.inflight import Ledger
from kernel.outbox import CHANNEL
from kernel.worker import BATCH

__all__ = ["Relay", "fair_shares"]

log = logging.getLogger("switchboard.relay")

_CLAIM = (
    "SELECT id, topic, payload, tenant_id FROM outbox WHERE published_at IS NULL AND priority = 0 "
    "ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED"
)
# The tenants with bulk rows waiting: a loose index scan (one index probe per tenant, however many
# rows each has waiting).
_BULK_TENANTS = """
WITH RECURSIVE t AS (
    (SELECT tenant_id FROM outbox WHERE published_at IS NULL AND priority > 0 ORDER BY tenant_id LIMIT 1)
    UNION ALL
    SELECT (SELECT o.tenant_id FROM outbox o
            WHERE o.published_at IS NULL AND o.priority > 0 AND o.tenant_id > t.tenant_id
            ORDER BY o.tenant_id LIMIT 1)
    FROM t WHERE t.tenant_id IS NOT NULL
)
SELECT tenant_id FROM t WHERE tenant_id IS NOT NULL
"""
# Each tenant's oldest waiting bulk rows (after those already claimed), up to its share of this pass.
_CLAIM_BULK = """
SELECT o.id, o.topic, o.payload, o.tenant_id
FROM unnest($1::uuid[], $2::int[], $3::bigint[]) AS t (tenant_id, n, after_id)
CROSS JOIN LATERAL (
    SELECT id, topic, payload, tenant_id FROM outbox
    WHERE tenant_id = t.tenant_id AND published_at IS NULL AND priority > 0 AND id > t.after_id
    ORDER BY id LIMIT t.n FOR UPDATE SKIP LOCKED
) o
"""
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
        bulk_in_flight: int = 200,
        room_poll: float = 0.2,
    ) -> None:
        self._pool = pool
        self._dsn = dsn
        self._broker = broker
        self._batch = batch
        self._poll_interval = poll_interval
        # After a wake-up, wait this long for more rows: under load one claim then carries many
        # rows (and one Dramatiq message many deliveries) instead of one each.
        self._linger = linger
        # Room for bulk work frees as workers finish (no notification): while bulk rows wait for
        # room, look again this often.
        self._room_poll = room_poll
        self._ledger = Ledger(broker.client, bulk_in_flight)  # type: ignore[attr-defined]
        self._turn = 0  # which tenant goes first when a pass has fewer slots than tenants
        self._bulk_waiting = False
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
        is reported instead, so one bad row cannot hold up the others. Rows of an actor that
        declares ``in_flight`` are counted in their tenant's ledger first.
        """
        messages, unpublishable = self._messages(rows)
        counted: dict[str, list[str]] = {}
        for row in rows:
            if row["tenant_id"] is None or row["id"] in unpublishable:
                continue
            field = self._broker.get_actor(row["topic"]).options.get("in_flight")
            if field:
                counted.setdefault(str(row["tenant_id"]), []).append(str(row["payload"][field]))
        if counted:
            self._ledger.add(counted)
        for message in messages:
            self._broker.enqueue(message)
        return unpublishable

    async def _publish_claimed(self, conn: Connection, rows: list[asyncpg.Record]) -> int:
        """Publish rows claimed in ``conn``'s transaction and mark them (or set them aside)."""
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

    async def _drain_bulk(self, slots: int) -> int:
        """Publish bulk rows, shared fairly among the tenants with room in the ledger."""
        tenants = [str(r["tenant_id"]) for r in await self._pool.fetch(_BULK_TENANTS)]
        if not tenants:
            self._bulk_waiting = False
            return 0
        room = await asyncio.to_thread(self._ledger.room, tenants)
        self._turn += 1
        rows: list[asyncpg.Record] = []
        async with self._pool.acquire() as conn, conn.transaction():
            after: dict[str, int] = dict.fromkeys(tenants, 0)
            # A tenant with fewer rows than its share leaves slots over: share them again among
            # the others (a few rounds at most; each round's rows follow the last one's).
            for _ in range(3):
                shares = fair_shares(room, slots - len(rows), first=self._turn)
                if not shares:
                    break
                claimed = await conn.fetch(_CLAIM_BULK, list(shares), list(shares.values()), [after[t] for t in shares])
                rows.extend(claimed)
                got: dict[str, int] = {}
                for row in claimed:
                    tenant = str(row["tenant_id"])
                    got[tenant] = got.get(tenant, 0) + 1
                    after[tenant] = max(after[tenant], row["id"])
                for tenant, share in shares.items():
                    # Exhausted (fewer than asked) tenants drop out; the others keep what room is left.
                    room[tenant] = room[tenant] - got.get(tenant, 0) if got.get(tenant, 0) == share else 0
                if sum(got.values()) == sum(shares.values()):
                    break
            published = await self._publish_claimed(conn, _interleave(rows))
        # Rows are left when a tenant had no room, or used its share in full.
        self._bulk_waiting = published >= slots or any(n == 0 for n in room.values())
        return published

    async def drain_once(self) -> int:
        """Publish one batch: transactional rows first, then bulk rows in the slots left; returns
        how many rows it published."""
        async with self._pool.acquire() as conn, conn.transaction():
            published = await self._publish_claimed(conn, await conn.fetch(_CLAIM, self._batch))
        if published < self._batch:
            published += await self._drain_bulk(self._batch - published)
        return published

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
                timeout = self._room_poll if self._bulk_waiting else self._poll_interval
                await asyncio.wait({wake, halt}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
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


def fair_shares(room: dict[str, int], slots: int, *, first: int = 0) -> dict[str, int]:
    """Share ``slots`` among tenants, equally, none beyond its room (water-filling); when there
    are fewer slots than tenants, the ones from position ``first`` (mod their number) go first."""
    order = list(room)
    if order:
        start = first % len(order)
        order = order[start:] + order[:start]
    shares = dict.fromkeys(order, 0)
    open_ = [t for t in order if room[t] > 0]
    while slots > 0 and open_:
        each = max(1, slots // len(open_))
        for tenant in list(open_):
            give = min(each, room[tenant] - shares[tenant], slots)
            shares[tenant] += give
            slots -= give
            if shares[tenant] >= room[tenant]:
                open_.remove(tenant)
            if slots == 0:
                break
    return {t: n for t, n in shares.items() if n}


def _interleave(rows: list[asyncpg.Record]) -> list[asyncpg.Record]:
    """Tenants' rows in turn (a, b, a, b, ...), each tenant's in id order and the tenant with the
    oldest row first, so that no tenant's share waits in the queue behind another's."""
    by_tenant: dict[Any, list[asyncpg.Record]] = {}
    for row in rows:
        by_tenant.setdefault(row["tenant_id"], []).append(row)
    lanes = [sorted(lane, key=lambda r: r["id"]) for lane in by_tenant.values()]
    lanes.sort(key=lambda lane: lane[0]["id"])
    longest = max(map(len, lanes), default=0)
    return [lane[i] for i in range(longest) for lane in lanes if i < len(lane)]
