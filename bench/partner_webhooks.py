"""Partner webhook deliveries per second, to a receiver on loopback.

    uv run python -m bench.partner_webhooks [--runs 3] [--events 2000]

Per run, a fresh stack (API, 2 worker processes, relay). A tenant registers one endpoint: a local
aiohttp receiver answering 204. ``--events`` events and their deliveries are written straight into
the database, due two seconds later (the backlog a burst of messages leaves); the figure is how
many the platform delivers per second from that moment: the relay's dispatcher leases them into the
outbox, the relay publishes, the workers sign each one (Standard Webhooks) and POST it. Every event
must arrive exactly once (the receiver counts distinct webhook-ids), and the database must agree.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import aiohttp
from aiohttp import web

from bench.stack import bench_stack
from entrypoints.dev import provision_demo
from kernel import db
from kernel import settings as settings_module
from kernel.crypto import MasterKey
from tests.fixtures.services import free_port

_BACKLOG = """
WITH ev AS (
    INSERT INTO webhook_events (id, tenant_id, type, payload)
    SELECT 'msg_' || replace(gen_random_uuid()::text, '-', ''), $1, 'webhook.test',
           jsonb_build_object('type', 'webhook.test', 'timestamp', now(), 'data', jsonb_build_object('n', g))
    FROM generate_series(1, $2) g
    RETURNING id
)
INSERT INTO webhook_deliveries (tenant_id, endpoint_id, event_id, next_attempt_at)
SELECT $1, $3, id, $4 FROM ev
"""


async def run_async(stack: Any, dsn: str, settings: settings_module.Settings, events: int) -> dict[str, float]:
    facts = await provision_demo(settings, MasterKey(settings.require_master_key()), None)
    seen: dict[str, int] = {}
    done = asyncio.Event()
    finished_at = 0.0

    async def handle(request: web.Request) -> web.Response:
        nonlocal finished_at
        await request.read()
        ident = request.headers["webhook-id"]
        seen[ident] = seen.get(ident, 0) + 1
        if len(seen) >= events and not done.is_set():
            finished_at = time.time()
            done.set()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hooks", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    pool = await db.create_pool(dsn, min_size=1, max_size=2)
    try:
        headers = {"Authorization": f"Bearer {facts['api_key']}"}
        endpoint = {"url": f"http://127.0.0.1:{port}/hooks"}
        async with (
            aiohttp.ClientSession(headers=headers) as http,
            http.post(f"{stack.rest_url}/v1/webhook-endpoints", json=endpoint) as r,
        ):
            assert r.status == 201, await r.text()
            endpoint_id = (await r.json())["endpoint"]["id"]
        due = datetime.now(UTC) + timedelta(seconds=2)
        await pool.execute(_BACKLOG, UUID(facts["tenant_id"]), events, UUID(endpoint_id), due)
        await asyncio.wait_for(done.wait(), timeout=300)
        await asyncio.sleep(1)  # anything sent twice would arrive now
        succeeded = await pool.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1 AND status = 'succeeded'",
            UUID(endpoint_id),
        )
    finally:
        await pool.close()
        await runner.cleanup()
    elapsed = finished_at - due.timestamp()
    return {
        "per_second": events / elapsed,
        "seconds": elapsed,
        "received": len(seen),
        "twice": sum(1 for n in seen.values() if n > 1),
        "succeeded": succeeded,
    }


def run_once(events: int) -> dict[str, float]:
    stack, dsn, _ = bench_stack(
        "partner_webhooks",
        14,
        {"SWITCHBOARD_WORKER_PROCESSES": "2", "SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE": "1"},
    )
    settings = settings_module.load(stack.env)
    stack.start(("api", "worker", "relay"))
    try:
        return asyncio.run(run_async(stack, dsn, settings, events))
    finally:
        stack.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    rows = []
    for run in range(1, args.runs + 1):
        row = run_once(args.events)
        rows.append(row)
        print(f"run {run}: {row['per_second']:,.0f} deliveries/s", file=sys.stderr, flush=True)
    print(f"\nPartner webhook deliveries, {args.events} events, {args.runs} runs (2 worker processes)\n")
    print("| run | deliveries/s | seconds | received | sent twice | succeeded in db |")
    print("| --- | --- | --- | --- | --- | --- |")
    for i, r in enumerate(rows, 1):
        print(
            f"| {i} | {r['per_second']:,.0f} | {r['seconds']:.2f} | {r['received']:.0f} | {r['twice']:.0f} "
            f"| {r['succeeded']:.0f} |"
        )
    print(f"\nmedian: {statistics.median(r['per_second'] for r in rows):,.0f} deliveries/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
