"""What resolution (sender + template, cached) and the template linter add to a submission.

    uv run python -m bench.resolution [--runs 5] [--calls 2000]

In one process, against a fresh database, ``messaging.service.submit`` stores template messages
(named parameters, a document header, two buttons: the linter's longest path) in three variants,
interleaved in blocks so drift and noise hit each alike:

* ``full``: the real path, warm (the route cache hit under the tenant's config_version);
* ``cold``: the real path without a config_version, so the route is read from PostgreSQL each time;
* ``bare``: resolution and linting replaced by their precomputed result (what is left: validation,
  the idempotency-free insert of message, event and outbox row).

The table shows per-call p50 of each variant per run, the difference full - bare (the cost of
resolution and linting, the issue's <= 0.3 ms target), and the p50 of resolution + linting timed
alone (warm). Figures are the median of the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import msgspec

from kernel import db
from kernel.crypto import MasterKey
from messaging import service
from messaging.schemas import SendMessage
from migrations import upgrade
from tenants import service as tenants_service
from tenants.vault import Vault
from tests.fixtures.builders import RECEIPT_PARAMS, RECEIPT_TEMPLATE, tenant_with_sender
from tests.fixtures.services import recreate_database

DATABASE = "switchboard_bench_resolution"
TEMPLATE = {**RECEIPT_TEMPLATE, "status": "APPROVED"}
REQUEST = msgspec.convert(
    {"to": "+14155550123", "template": {"name": "receipt_ready", "language": "en_US", "params": RECEIPT_PARAMS}},
    SendMessage,
)


async def timed(call: Callable[[], Awaitable[Any]], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def main(runs: int, calls: int, block: int) -> None:
    dsn = await recreate_database(DATABASE)
    await asyncio.to_thread(upgrade, dsn)  # alembic runs its own event loop
    pool = await db.create_pool(dsn, min_size=1, max_size=2)
    vault = Vault(MasterKey(os.urandom(32)))
    async with pool.acquire() as conn:
        tenant_id: UUID = await tenant_with_sender(conn, vault, "bench")
        await tenants_service.put_template(conn, tenant_id, waba_id="w", **TEMPLATE)
        version: int = await conn.fetchval("SELECT config_version FROM tenants WHERE id = $1", tenant_id)

    real_resolve = service.resolve
    async with pool.acquire() as conn:
        precomputed = await real_resolve(conn, tenant_id, REQUEST, version)

    async def bare_resolve(*_: Any) -> Any:
        return precomputed

    rows = []
    async with pool.acquire() as conn:

        async def full() -> None:
            await service.submit(conn, tenant_id, REQUEST, config_version=version)

        async def cold() -> None:
            await service.submit(conn, tenant_id, REQUEST)

        async def bare() -> None:
            service.resolve = bare_resolve  # type: ignore[assignment]
            try:
                await service.submit(conn, tenant_id, REQUEST, config_version=version)
            finally:
                service.resolve = real_resolve

        async def resolve_alone() -> None:
            await real_resolve(conn, tenant_id, REQUEST, version)

        await timed(full, 200)  # warm up: connection, statement cache, route cache
        await timed(bare, 200)
        for run in range(1, runs + 1):
            samples: dict[str, list[float]] = {"full": [], "cold": [], "bare": [], "alone": []}
            for _ in range(calls // block):
                for name, call in (("full", full), ("bare", bare), ("cold", cold), ("alone", resolve_alone)):
                    samples[name] += await timed(call, block)
            p50 = {name: statistics.median(values) for name, values in samples.items()}
            rows.append(p50)
            print(
                f"run {run}: full {p50['full']:.3f} ms, bare {p50['bare']:.3f} ms, cold {p50['cold']:.3f} ms, "
                f"resolution+lint alone {p50['alone'] * 1000:.1f} us",
                flush=True,
            )
            # Keep runs comparable: the table grows by 3 x calls rows per run.
            await conn.execute("VACUUM ANALYZE messages")
            await conn.execute("VACUUM ANALYZE message_events")
            await conn.execute("VACUUM ANALYZE outbox")
    await pool.close()

    def med(key: str) -> float:
        return statistics.median(r[key] for r in rows)

    diffs = [r["full"] - r["bare"] for r in rows]
    cold_diffs = [r["cold"] - r["bare"] for r in rows]
    print()
    print(f"{'figure (median of ' + str(runs) + ' runs)':<52} {'value':>10}")
    print(f"{'submit p50, warm (full)':<52} {med('full'):>7.3f} ms")
    print(f"{'submit p50, resolution and lint precomputed (bare)':<52} {med('bare'):>7.3f} ms")
    print(f"{'added by resolution + lint, warm (full - bare)':<52} {statistics.median(diffs):>7.3f} ms")
    print(f"{'added without the route cache (cold - bare)':<52} {statistics.median(cold_diffs):>7.3f} ms")
    print(f"{'resolution + lint timed alone, warm, p50':<52} {med('alone') * 1000:>7.1f} us")
    print(f"{'per-run full - bare (ms)':<52} {', '.join(f'{d:.3f}' for d in diffs)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2000, help="calls per variant per run")
    parser.add_argument("--block", type=int, default=50, help="calls per variant before switching")
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.calls, args.block))
