"""Webhook ingest and reconciliation throughput.

    uv run python -m bench.webhooks [--runs 3] [--duration 10]

On a fresh database, with the API on 2 workers, the relay and 2 worker processes:

1. **acks**: signed single-status notifications POSTed closed-loop (concurrency 64) for
   ``--duration`` seconds with the workers stopped: acknowledged POSTs per second and latency.
   Every acknowledged POST is stored raw with its outbox row before its 200 (checked by count).
2. **reconciliation**: 3,000 notifications of 50 statuses each (sent, delivered, read for 50,000
   messages: 150,000 status events) are stored first; then the workers start, and the rate is
   the events applied per second from the first applied to the last.
3. **lag**: with everything running, single-status notifications at a fixed 500/s for
   ``--duration`` seconds: ack latency at the client, and POST-to-applied lag (raw event stored →
   status event recorded, both PostgreSQL timestamps).

Each phase runs ``--runs`` times; the table shows the median with every run's figure beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from typing import Any

from bench.cpu import cpu_seconds
from bench.load import raw_http_load
from bench.stack import bench_stack
from entrypoints.dev import provision_demo
from kernel import db
from kernel import settings as settings_module
from kernel.crypto import MasterKey
from tests.fixtures.stack import Stack
from webhooks.signature import sign

CONCURRENCY = 64


def notification(phone_number_id: str, statuses: list[dict[str, Any]]) -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550100001", "phone_number_id": phone_number_id},
        "statuses": statuses,
    }
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(body).encode()


def status(wamid: str, name: str, timestamp: int) -> dict[str, Any]:
    return {"id": wamid, "status": name, "timestamp": str(timestamp), "recipient_id": "14155550123"}


def request(facts: dict[str, Any], body: bytes) -> bytes:
    head = (
        f"POST /webhooks/whatsapp/{facts['channel_key']} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nX-Hub-Signature-256: {sign(facts['app_secret'], body)}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def messages(pool: db.Pool, tenant_id: uuid.UUID, prefix: str, count: int) -> list[str]:
    """``count`` messages already handed to the provider, with wamids ``<prefix>.<n>``."""
    await pool.execute(
        "INSERT INTO messages (id, tenant_id, request_hash, channel, to_number, content, status, provider_message_id) "
        "SELECT gen_random_uuid(), $1, '\\x00', 'whatsapp', '+14155550123', '{}', 'submitted', $2 || '.' || n "
        "FROM generate_series(0, $3 - 1) AS n",
        tenant_id,
        prefix,
        count,
    )
    # What autovacuum would do after a bulk load (it is off on this project's machines): without
    # statistics the planner would guess at every query of the phase.
    await pool.execute("ANALYZE messages")
    return [f"{prefix}.{n}" for n in range(count)]


async def wait_until_reconciled(pool: db.Pool, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not await pool.fetchval("SELECT count(*) FROM raw_events WHERE state = 'received'"):
            return
        await asyncio.sleep(0.2)
    raise RuntimeError("raw events not reconciled in time")


async def acks(stack: Stack, facts: dict[str, Any], pool: db.Pool, duration: float, run: int) -> dict[str, float]:
    now = int(time.time())
    # Statuses of real messages, so that reconciling them afterwards finds every one.
    wamids = await messages(pool, uuid.UUID(facts["tenant_id"]), f"wamid.ack.{run}", 20_000)
    requests = [request(facts, notification(facts["phone_number_id"], [status(w, "sent", now)])) for w in wamids]
    before_rows = await pool.fetchval("SELECT count(*) FROM raw_events")
    cpu_before = cpu_seconds()
    result = await raw_http_load("127.0.0.1", stack.http_port, requests, CONCURRENCY, duration)
    cpu_after = cpu_seconds()
    stored = await pool.fetchval("SELECT count(*) FROM raw_events") - before_rows
    acked = len(result.latencies)

    def cpu(name: str) -> float:
        return (cpu_after.get(name, 0.0) - cpu_before.get(name, 0.0)) * 1000 / max(1, stored)

    return {
        "acks_per_s": result.rate,
        "ack_p50_ms": result.percentile(50),
        "ack_p99_ms": result.percentile(99),
        "ack_errors": result.errors,
        "acked_but_not_stored": max(0, acked - stored),
        "cpu_ms_per_ack[api]": cpu("api"),
        "cpu_ms_per_ack[postgres]": cpu("postgres"),
        "cpu_ms_per_ack[load generator]": cpu("load generator"),
    }


async def reconciliation(stack: Stack, facts: dict[str, Any], pool: db.Pool, run: int) -> dict[str, float]:
    tenant_id = uuid.UUID(facts["tenant_id"])
    wamids = await messages(pool, tenant_id, f"wamid.rec.{run}", 50_000)
    now = int(time.time())
    requests = [
        request(
            facts,
            notification(facts["phone_number_id"], [status(w, name, now + step) for w in wamids[i : i + 50]]),
        )
        for step, name in enumerate(("sent", "delivered", "read"))
        for i in range(0, len(wamids), 50)
    ]
    stack.stop_process("worker")
    first_id = await pool.fetchval("SELECT coalesce(max(id), 0) FROM message_events")
    # Each exactly once (the load driver cycles through its requests), over 16 connections.
    chunks = [requests[i::16] for i in range(16)]
    await asyncio.gather(*(_send_all(stack.http_port, chunk) for chunk in chunks))
    cpu_before = cpu_seconds()
    stack.start_process("worker")
    await wait_until_reconciled(pool)
    cpu_after = cpu_seconds()
    row = await pool.fetchrow(
        "SELECT count(*) AS n, extract(epoch FROM max(recorded_at) - min(recorded_at)) AS span "
        "FROM message_events WHERE id > $1 AND source = 'webhook:whatsapp'",
        first_id,
    )
    applied = await pool.fetchval(
        "SELECT count(*) FROM messages WHERE tenant_id = $1 AND provider_message_id LIKE $2 AND status = 'read'",
        tenant_id,
        f"wamid.rec.{run}.%",
    )
    return {
        "status_events": row["n"],
        "events_per_s": row["n"] / float(row["span"]),
        "messages_read": applied,
        **{
            f"cpu_us_per_event[{name}]": (cpu_after.get(name, 0.0) - cpu_before.get(name, 0.0)) * 1e6 / row["n"]
            for name in ("worker", "postgres", "relay")
        },
    }


async def _send_all(port: int, requests: list[bytes]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for raw in requests:
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            if head[9:12] != b"200":
                raise RuntimeError(f"webhook refused: {head[:40]!r}")
            length = next(int(line[15:]) for line in head.split(b"\r\n") if line[:15].lower() == b"content-length:")
            await reader.readexactly(length)
    finally:
        writer.close()


async def lag(stack: Stack, facts: dict[str, Any], pool: db.Pool, duration: float, run: int) -> dict[str, float]:
    rate = 500.0
    tenant_id = uuid.UUID(facts["tenant_id"])
    wamids = await messages(pool, tenant_id, f"wamid.lag.{run}", int(rate * duration) + 100)
    now = int(time.time())
    requests = [request(facts, notification(facts["phone_number_id"], [status(w, "delivered", now)])) for w in wamids]
    first_raw = await pool.fetchval("SELECT coalesce(max(id), 0) FROM raw_events")
    result = await raw_http_load("127.0.0.1", stack.http_port, requests, CONCURRENCY, duration, rate=rate)
    await wait_until_reconciled(pool)
    row = await pool.fetchrow(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM e.recorded_at - r.received_at)) AS p50, "
        "percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM e.recorded_at - r.received_at)) AS p99 "
        "FROM message_events e JOIN raw_events r ON r.id = e.raw_event_id WHERE r.id > $1",
        first_raw,
    )
    return {
        "posts_per_s": result.rate,
        "ack_p50_ms": result.percentile(50),
        "ack_p99_ms": result.percentile(99),
        "applied_lag_p50_ms": float(row["p50"]) * 1000,
        "applied_lag_p99_ms": float(row["p99"]) * 1000,
    }


async def measure(
    stack: Stack, facts: dict[str, Any], dsn: str, phase: str, duration: float, run: int
) -> dict[str, float]:
    pool = await db.create_pool(dsn, min_size=1, max_size=4)
    try:
        # What autovacuum does on a production server (it is off on this project's machines):
        # without it, the dead rows of the queue tables (outbox, raw events) pile up run after run.
        await pool.execute("VACUUM ANALYZE")
        if phase == "acks":
            stack.stop_process("worker")
            try:
                return await acks(stack, facts, pool, duration, run)
            finally:
                stack.start_process("worker")
                await wait_until_reconciled(pool)
        if phase == "reconciliation":
            return await reconciliation(stack, facts, pool, run)
        return await lag(stack, facts, pool, duration, run)
    finally:
        await pool.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--phases", default="acks,reconciliation,lag")
    args = parser.parse_args()

    stack, dsn, logs = bench_stack(
        "webhooks", 11, {"SWITCHBOARD_API_WORKERS": "2", "SWITCHBOARD_WORKER_PROCESSES": "2"}
    )
    stack.start(("api", "worker", "relay"))
    results: dict[str, list[dict[str, float]]] = {}
    try:
        settings = settings_module.load(stack.env)
        facts = asyncio.run(provision_demo(settings, MasterKey(settings.require_master_key()), None))
        for run in range(args.runs):
            for phase in args.phases.split(","):
                figures = asyncio.run(measure(stack, facts, dsn, phase, args.duration, run))
                results.setdefault(phase, []).append(figures)
                print(f"run {run + 1}/{args.runs} {phase}: {json.dumps(figures)}", file=sys.stderr)
    finally:
        stack.stop()
    print(f"\nWebhooks: API on 2 workers, 2 worker processes, {args.runs} runs (logs in {logs})\n")
    print("| phase | figure | median | runs |")
    print("| --- | --- | --- | --- |")
    for phase, runs in results.items():
        for name in runs[0]:
            values = [r[name] for r in runs]
            each = ", ".join(f"{v:.1f}" for v in values)
            print(f"| {phase} | {name} | {statistics.median(values):.1f} | {each} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
