"""Does metering keep up with reconciliation, and how fast is a big tenant's usage query?

    uv run python -m bench.metering [--runs 3] [--statuses 20000] [--events 1000000]

In one process, against a fresh database:

* ``reconcile``: WhatsApp ``delivered`` statuses applied through ``messaging.status_reports.apply_reports``
  in notifications of 100 (as the webhook reconciler batches them), without pricing: statuses/s;
* ``reconcile + meter``: the same with ``pricing.billable`` on every status, so each also becomes a
  billable event (priced, inserted once, added to the day's usage) in the same transaction:
  statuses/s. The two are interleaved batch by batch, so that the tables' growth, autovacuum and
  checkpoints weigh on both alike;
* ``meter alone``: ``billing.meter.record`` of 100 events at a time: billable events/s.

Metering keeps up when ``meter alone`` is at least ``reconcile`` (the issue's figure), and the cost
it adds to reconciliation is the ratio of the two ``reconcile`` rows. Then a tenant is given
``--events`` billable events over 30 days (through the same insert, 10,000 at a time), and
``GET /v1/usage``'s service call for the month is timed (p50 of 50 calls). Figures are medians of
the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from uuid import UUID

from billing import meter
from billing import service as billing_service
from kernel import db
from kernel.crypto import MasterKey
from messaging import service, status_reports
from messaging.schemas import SendMessage, TextContent
from messaging.states import Status
from messaging.status_reports import Report
from migrations import upgrade
from tenants.vault import Vault
from tests.fixtures.builders import tenant_with_sender
from tests.fixtures.services import recreate_database

DATABASE = "switchboard_bench_metering"
BATCH = 100


async def _messages(pool: db.Pool, tenant_id: UUID, n: int) -> list[UUID]:
    ids = []
    async with pool.acquire() as conn:
        for _ in range(n):
            message, _ = await service.submit(
                conn, tenant_id, SendMessage(to="+14155550123", text=TextContent(body="x"))
            )
            ids.append(message.id)
    return ids


def _reports(ids: list[UUID], billable: bool) -> list[Report]:
    return [
        Report(
            message_id=message_id,
            provider_message_id=f"wamid.{message_id.hex}",
            status=Status.DELIVERED,
            source="webhook:whatsapp",
            dedupe_key=f"wamid.{message_id.hex}:delivered",
            occurred_at=datetime.now(UTC),
            billable_category="utility" if billable else None,
        )
        for message_id in ids
    ]


async def _reconcile(
    pool: db.Pool, tenant_id: UUID, plain_ids: list[UUID], billed_ids: list[UUID]
) -> tuple[float, float]:
    """Statuses/s without and with metering, their batches interleaved so that the tables' growth,
    autovacuum and checkpoints weigh on both alike."""
    spent = {False: 0.0, True: 0.0}
    plain, billed = _reports(plain_ids, False), _reports(billed_ids, True)
    for start in range(0, len(plain), BATCH):
        for billable, reports in ((False, plain), (True, billed)):
            started = time.perf_counter()
            async with db.unit_of_work(pool) as conn:
                await status_reports.apply_reports(conn, tenant_id, reports[start : start + BATCH])
            spent[billable] += time.perf_counter() - started
    return len(plain) / spent[False], len(billed) / spent[True]


async def _meter(pool: db.Pool, tenant_id: UUID, n: int, spread: timedelta | None = None, batch: int = BATCH) -> float:
    now = datetime.now(UTC)
    started = time.perf_counter()
    for start in range(0, n, batch):
        events = [
            meter.Billable(
                key=f"sms:{uuid.uuid4().hex}",
                message_id=uuid.uuid4(),
                channel=("whatsapp", "sms", "email")[i % 3],
                category=("utility", "message", "message")[i % 3],
                country=("US", "GB", "IN", "BR")[i % 4],
                source="bench",
                units=1 + i % 2,
                occurred_at=now - (spread * (i / n) if spread else timedelta(0)),
            )
            for i in range(start, min(start + batch, n))
        ]
        async with db.unit_of_work(pool) as conn:
            await meter.record(conn, tenant_id, events)
    return n / (time.perf_counter() - started)


async def main(runs: int, statuses: int, events: int) -> None:
    dsn = await recreate_database(DATABASE)
    await asyncio.to_thread(upgrade, dsn)
    pool = await db.create_pool(dsn, min_size=1, max_size=2)
    vault = Vault(MasterKey(os.urandom(32)))
    rows = []
    try:
        for run in range(runs):
            async with pool.acquire() as conn:
                tenant_id = await tenant_with_sender(conn, vault, f"bench-{run}")
            plain_ids = await _messages(pool, tenant_id, statuses)
            billed_ids = await _messages(pool, tenant_id, statuses)
            plain, billed = await _reconcile(pool, tenant_id, plain_ids, billed_ids)
            alone = await _meter(pool, tenant_id, statuses)
            rows.append((plain, billed, alone))
            print(f"run {run + 1}: reconcile {plain:,.0f}/s, with metering {billed:,.0f}/s, meter alone {alone:,.0f}/s")
        async with pool.acquire() as conn:
            big = await tenant_with_sender(conn, vault, "big")
        print(f"loading {events:,} billable events over 30 days...")
        await _meter(pool, big, events, spread=timedelta(days=30), batch=10_000)
        today = datetime.now(UTC).date()
        samples = []
        async with pool.acquire() as conn:
            for _ in range(50):
                started = time.perf_counter()
                usage = await billing_service.usage(conn, big, today - timedelta(days=31), today + timedelta(days=1))
                samples.append((time.perf_counter() - started) * 1000)
        billed_total = sum(t.events for t in usage.totals)
    finally:
        await pool.close()

    def median(i: int) -> float:
        return statistics.median(r[i] for r in rows)

    print()
    print("| figure | median of runs |")
    print("| --- | --- |")
    print(f"| reconcile (statuses/s) | {median(0):,.0f} |")
    print(f"| reconcile + meter (statuses/s) | {median(1):,.0f} |")
    print(f"| meter alone (billable events/s) | {median(2):,.0f} |")
    print(f"| reconcile + meter / reconcile | {median(1) / median(0):.2f}x |")
    print(f"| meter alone / reconcile | {median(2) / median(0):.2f}x |")
    print(
        f"| usage query, {billed_total:,} events, {len(usage.data)} rows (p50 ms) | {statistics.median(samples):.1f} |"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--statuses", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.statuses, args.events))
