"""Batch submission throughput at the service layer (no HTTP): how far from 20,000 msg/s?

    uv run python -m bench.batch [--runs 3] [--batches 5]

In one process, against a fresh database, ``messaging.batch.submit_batch`` stores batches of 1,000
template messages (with resolution, linting, quota off, one connection) and the table shows
messages per second, the median of the runs. Each message is submitted on its own, as a single
send is, so this is the per-message path times 1,000: the figure the issue's 20,000 msg/s target
is compared with.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

import msgspec

from kernel import db
from kernel.crypto import MasterKey
from messaging import batch
from messaging.schemas import SendMessage
from migrations import upgrade
from tenants import service as tenants_service
from tenants.vault import Vault
from tests.fixtures.builders import RECEIPT_PARAMS, RECEIPT_TEMPLATE, tenant_with_sender
from tests.fixtures.services import recreate_database

DATABASE = "switchboard_bench_batch"
REQUEST = msgspec.convert(
    {"to": "+14155550123", "template": {"name": "receipt_ready", "language": "en_US", "params": RECEIPT_PARAMS}},
    SendMessage,
)


async def main(runs: int, batches: int) -> None:
    dsn = await recreate_database(DATABASE)
    await asyncio.to_thread(upgrade, dsn)
    pool = await db.create_pool(dsn, min_size=1, max_size=2)
    rates = []
    try:
        async with pool.acquire() as conn:
            tenant_id = await tenant_with_sender(conn, Vault(MasterKey(os.urandom(32))), "bench")
            await tenants_service.put_template(
                conn, tenant_id, waba_id="w", **{**RECEIPT_TEMPLATE, "status": "APPROVED"}
            )
            version: int = await conn.fetchval("SELECT config_version FROM tenants WHERE id = $1", tenant_id)
            for run in range(runs):
                started = time.perf_counter()
                for _ in range(batches):
                    items = await batch.submit_batch(conn, tenant_id, [REQUEST] * 1000, config_version=version)
                    assert all(i.error is None for i in items)
                rate = batches * 1000 / (time.perf_counter() - started)
                rates.append(rate)
                print(f"run {run + 1}: {rate:,.0f} msg/s")
    finally:
        await pool.close()
    print()
    print("| figure | median of runs | target |")
    print("| --- | --- | --- |")
    print(f"| batch submission, 1,000 per batch (msg/s) | {statistics.median(rates):,.0f} | 20,000 |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batches", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.batches))
