"""Batch submission throughput at the service layer (no HTTP): how far from 20,000 msg/s?

    uv run python -m bench.batch [--runs 3] [--batches 10] [--concurrency 2]

In one process, against a fresh database, ``messaging.batch.submit_batch`` stores batches of 1,000
template messages to 1,000 different recipients (validation, resolution, linting, one multi-row
insert; quota and budget off), ``--concurrency`` batches in flight at once on their own
connections, as two API workers would have. After one warm-up batch per connection, each run
submits ``--batches`` batches per connection; the table shows messages per second, the median of
the runs, against the issue's 20,000 msg/s, and the CPU a message costs this process and PostgreSQL
(steadier than the rate on a shared machine).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from uuid import UUID

import msgspec

from bench.cpu import cpu_seconds
from kernel import db
from kernel.crypto import MasterKey
from kernel.runtime import tune_gc
from messaging import batch
from messaging.schemas import SendMessage
from migrations import upgrade
from tenants import service as tenants_service
from tenants.vault import Vault
from tests.fixtures.builders import RECEIPT_PARAMS, RECEIPT_TEMPLATE, tenant_with_sender
from tests.fixtures.services import recreate_database

DATABASE = "switchboard_bench_batch"
# A thousand different recipients, as a real batch has (phone number validation is a large part
# of the per-message cost, and must not be flattered by one number).
REQUESTS = [
    msgspec.convert(
        {
            "to": f"+1415555{i:04d}",
            "template": {"name": "receipt_ready", "language": "en_US", "params": RECEIPT_PARAMS},
        },
        SendMessage,
    )
    for i in range(1000)
]


async def main(runs: int, batches: int, concurrency: int) -> None:
    dsn = await recreate_database(DATABASE)
    await asyncio.to_thread(upgrade, dsn)
    pool = await db.create_pool(dsn, min_size=concurrency, max_size=concurrency)
    rates: list[float] = []
    python: list[float] = []  # this process's CPU per message
    database: list[float] = []  # PostgreSQL's

    async def submitter(tenant_id: UUID, version: int, count: int) -> None:
        async with pool.acquire() as conn:
            for _ in range(count):
                items = await batch.submit_batch(conn, tenant_id, REQUESTS, config_version=version)
                assert all(i.error is None for i in items)

    try:
        async with pool.acquire() as conn:
            tenant_id = await tenant_with_sender(conn, Vault(MasterKey(os.urandom(32))), "bench")
            await tenants_service.put_template(
                conn, tenant_id, waba_id="w", **{**RECEIPT_TEMPLATE, "status": "APPROVED"}
            )
            version: int = await conn.fetchval("SELECT config_version FROM tenants WHERE id = $1", tenant_id)
        # One batch per connection first: prepared statements, caches and the tables' first pages.
        await asyncio.gather(*(submitter(tenant_id, version, 1) for _ in range(concurrency)))
        tune_gc()  # as the API and gRPC servers do once started
        for run in range(runs):
            started, own, postgres = time.perf_counter(), time.process_time(), cpu_seconds().get("postgres", 0.0)
            await asyncio.gather(*(submitter(tenant_id, version, batches) for _ in range(concurrency)))
            messages = concurrency * batches * 1000
            rate = messages / (time.perf_counter() - started)
            rates.append(rate)
            python.append((time.process_time() - own) / messages * 1e6)
            database.append((cpu_seconds().get("postgres", 0.0) - postgres) / messages * 1e6)
            cost = f"{python[-1]:.0f} µs Python and {database[-1]:.0f} µs PostgreSQL per message"
            print(f"run {run + 1}: {rate:,.0f} msg/s, {cost}")
    finally:
        await pool.close()
    print()
    print("| figure | median of runs | target |")
    print("| --- | --- | --- |")
    print(f"| batch submission, 1,000 per batch (msg/s) | {statistics.median(rates):,.0f} | 20,000 |")
    print(f"| Python CPU per message (µs) | {statistics.median(python):.0f} | |")
    print(f"| PostgreSQL CPU per message (µs) | {statistics.median(database):.0f} | |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batches", type=int, default=10, help="batches per submitter and run")
    parser.add_argument("--concurrency", type=int, default=2, help="batches in flight at once")
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.batches, args.concurrency))
