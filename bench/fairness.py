"""Fairness: one tenant's bulk backlog must not delay another tenant's messages.

    uv run python -m bench.fairness [--runs 3] [--bulk 20000] [--transactional 200] [--other-bulk 200]

Per run, a fresh stack (API, 2 worker processes, relay, sandbox). Tenant B sends
``--transactional`` UTILITY template messages (transactional) at 20/s to distinct recipients,
first on an idle platform, then again right after tenant A has submitted ``--bulk`` MARKETING
template messages (bulk) as fast as it can, from a number that may send 80/s (Meta's default), so
its backlog builds; B sends while it drains. The figure is B's
accept -> submitted latency (message created -> the worker's ``submitted`` event), p50 and p99,
without and with the backlog; the target is p99 with the backlog <= 2x without.

Alongside B, tenant C sends ``--other-bulk`` MARKETING messages (bulk, like A's) at 20/s from a
number of its own: fair dispatch among tenants means C's bulk work is not queued behind A's either.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from typing import Any

import aiohttp

from bench.stack import bench_stack
from bench.throughput import recipients, tenant_at
from kernel import db
from kernel import settings as settings_module

UTILITY = {"name": "order_shipped", "language": "en_US", "params": {"body": ["Ada", "#1042"]}}
PROMO = {
    "name": "weekend_sale",
    "language": "en_US",
    "category": "MARKETING",
    "components": [{"type": "BODY", "text": "Hi {{1}}, 20% off this weekend"}],
}
PROMO_SEND = {"name": "weekend_sale", "language": "en_US", "params": {"body": ["Ada"]}}


# A's number sends 80 messages/s, Meta's default: its backlog drains at that pace while the
# workers keep re-queueing what cannot go yet.
A_MPS = 80


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


async def send_paced(
    rest_url: str, facts: dict[str, Any], count: int, per_second: float, template: dict[str, Any], offset: int
) -> list[str]:
    """Open loop: one message every 1/per_second s, whatever the answers' latency."""
    headers = {"Authorization": f"Bearer {facts['api_key']}"}
    ids: list[str] = []
    async with aiohttp.ClientSession(headers=headers) as http:

        async def one(to: str, at: float) -> None:
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            async with http.post(f"{rest_url}/v1/messages", json={"to": to, "template": template}) as r:
                assert r.status == 202, await r.text()
                ids.append((await r.json())["id"])

        start = time.monotonic()
        targets = recipients(count + offset)[offset:]  # not A's recipients
        await asyncio.gather(*(one(to, start + i / per_second) for i, to in enumerate(targets)))
    return ids


async def promo_template(rest_url: str, facts: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {facts['api_key']}"}
    async with aiohttp.ClientSession(headers=headers) as http, http.post(f"{rest_url}/v1/templates", json=PROMO) as r:
        assert r.status == 201, await r.text()


async def side_by_side(
    rest_url: str, b: dict[str, Any], c: dict[str, Any], count: int, other: int
) -> tuple[list[str], list[str]]:
    """B's transactional and C's bulk messages, sent at the same time, 20/s each."""
    b_ids, c_ids = await asyncio.gather(
        send_paced(rest_url, b, count, 20, UTILITY, 1000),
        send_paced(rest_url, c, other, 20, PROMO_SEND, 100_000),
    )
    return b_ids, c_ids


async def flood(rest_url: str, facts: dict[str, Any], count: int) -> None:
    headers = {"Authorization": f"Bearer {facts['api_key']}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        queue = recipients(count)

        async def submitter() -> None:
            while queue:
                to = queue.pop()
                async with http.post(f"{rest_url}/v1/messages", json={"to": to, "template": PROMO_SEND}) as r:
                    assert r.status == 202, await r.text()

        await asyncio.gather(*(submitter() for _ in range(32)))


async def latencies(dsn: str, ids: list[str], timeout: float = 120) -> list[float]:
    """Each message's accept -> submitted ms; one not submitted within ``timeout`` counts as infinite."""
    pool = await db.create_pool(dsn, min_size=1, max_size=1)
    try:
        deadline = time.monotonic() + timeout
        while True:
            rows = await pool.fetch(
                "SELECT extract(epoch FROM min(e.recorded_at) - m.created_at) * 1000 AS ms "
                "FROM messages m JOIN message_events e ON e.message_id = m.id AND e.to_status = 'submitted' "
                "WHERE m.id = ANY($1::uuid[]) GROUP BY m.id, m.created_at",
                ids,
            )
            if len(rows) == len(ids) or time.monotonic() > deadline:
                return [float(r["ms"]) for r in rows] + [float("inf")] * (len(ids) - len(rows))
            await asyncio.sleep(0.5)
    finally:
        await pool.close()


async def breakdown(dsn: str, ids: list[str]) -> dict[str, float]:
    """Where B's time went, p50 ms per stage: waiting for the relay, then for a worker, then the send."""
    pool = await db.create_pool(dsn, min_size=1, max_size=1)
    try:
        row = await pool.fetchrow(
            "WITH t AS (SELECT m.created_at, o.published_at, a.started_at, "
            "(SELECT min(e.recorded_at) FROM message_events e WHERE e.message_id = m.id AND e.to_status = 'submitted') "
            "AS submitted_at FROM messages m JOIN outbox o ON o.payload->>'message_id' = m.id::text "
            "JOIN delivery_attempts a ON a.message_id = m.id AND a.attempt_number = 1 WHERE m.id = ANY($1::uuid[])) "
            "SELECT "
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM published_at - created_at)) AS relay, "
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - published_at)) AS queue, "
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM submitted_at - started_at)) AS send FROM t",
            ids,
        )
        assert row is not None
        return {f"busy_{k}_p50": float(row[k] or 0) * 1000 for k in ("relay", "queue", "send")}
    finally:
        await pool.close()


async def backlog(dsn: str, tenant_id: str) -> int:
    pool = await db.create_pool(dsn, min_size=1, max_size=1)
    try:
        left: int = await pool.fetchval(
            "SELECT count(*) FROM messages WHERE tenant_id = $1::uuid AND status = 'queued'", tenant_id
        )
        return left
    finally:
        await pool.close()


def run_once(bulk: int, count: int, other: int) -> dict[str, float]:
    stack, dsn, _ = bench_stack(
        "fairness",
        14,
        {
            "SWITCHBOARD_API_WORKERS": "2",
            "SWITCHBOARD_WORKER_PROCESSES": "2",
            "SWITCHBOARD_WORKER_THREADS": "16",
            "SWITCHBOARD_SANDBOX_STATUS_DELAYS_MS": "100,300,600",
        },
    )
    settings = settings_module.load(stack.env)
    stack.start(("sandbox", "api", "worker", "relay"))
    try:
        a, b, c = (asyncio.run(tenant_at(settings, stack.sandbox_url, stack.rest_url, mps)) for mps in (A_MPS, 80, 80))
        for facts in (a, c):
            asyncio.run(promo_template(stack.rest_url, facts))
        asyncio.run(latencies(dsn, asyncio.run(send_paced(stack.rest_url, b, 20, 20, UTILITY, 1000))))  # warm-up
        idle_b, idle_c = asyncio.run(side_by_side(stack.rest_url, b, c, count, other))
        idle, idle_bulk = asyncio.run(latencies(dsn, idle_b)), asyncio.run(latencies(dsn, idle_c))
        started = time.monotonic()
        asyncio.run(flood(stack.rest_url, a, bulk))
        flooded = time.monotonic() - started
        waiting = asyncio.run(backlog(dsn, a["tenant_id"]))
        busy_b, busy_c = asyncio.run(side_by_side(stack.rest_url, b, c, count, other))
        busy, busy_bulk = asyncio.run(latencies(dsn, busy_b)), asyncio.run(latencies(dsn, busy_c))
        still = asyncio.run(backlog(dsn, a["tenant_id"]))
        stages = asyncio.run(breakdown(dsn, busy_b))
    finally:
        stack.stop()
    return {
        "idle_p50": statistics.median(idle),
        "idle_p99": percentile(idle, 99),
        "busy_p50": statistics.median(busy),
        "busy_p99": percentile(busy, 99),
        "busy_submitted": sum(ms != float("inf") for ms in busy),
        "c_idle_p50": statistics.median(idle_bulk),
        "c_idle_p99": percentile(idle_bulk, 99),
        "c_busy_p50": statistics.median(busy_bulk),
        "c_busy_p99": percentile(busy_bulk, 99),
        "c_busy_submitted": sum(ms != float("inf") for ms in busy_bulk),
        "bulk_submit_s": flooded,
        "bulk_queued_at_start": waiting,
        "bulk_queued_at_end": still,
        **stages,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--bulk", type=int, default=20_000)
    parser.add_argument("--transactional", type=int, default=200)
    parser.add_argument("--other-bulk", type=int, default=200)
    args = parser.parse_args()
    rows = []
    for run in range(1, args.runs + 1):
        row = run_once(args.bulk, args.transactional, args.other_bulk)
        rows.append(row)
        print(f"run {run}/{args.runs}  " + "  ".join(f"{k} {v:.1f}" for k, v in row.items()), file=sys.stderr)

    def med(key: str) -> float:
        return statistics.median(r[key] for r in rows)

    ratios = [r["busy_p99"] / r["idle_p99"] for r in rows]
    c_ratios = [r["c_busy_p99"] / r["c_idle_p99"] for r in rows]
    print(f"\nAccept -> submitted latency, medians of {args.runs} runs\n")
    print("| figure | without A's backlog | with A's backlog |")
    print("| --- | --- | --- |")
    print(f"| B (transactional) p50 ms | {med('idle_p50'):.0f} | {med('busy_p50'):.0f} |")
    print(f"| B (transactional) p99 ms | {med('idle_p99'):.0f} | {med('busy_p99'):.0f} |")
    print(f"| B p99 ratio (per run) | | {statistics.median(ratios):.2f}x ({', '.join(f'{x:.2f}' for x in ratios)}) |")
    print(f"| C (bulk) p50 ms | {med('c_idle_p50'):.0f} | {med('c_busy_p50'):.0f} |")
    print(f"| C (bulk) p99 ms | {med('c_idle_p99'):.0f} | {med('c_busy_p99'):.0f} |")
    print(
        f"| C p99 ratio (per run) | | {statistics.median(c_ratios):.2f}x ({', '.join(f'{x:.2f}' for x in c_ratios)}) |"
    )
    print(
        f"| A's bulk messages still queued when B and C started / finished | | "
        f"{med('bulk_queued_at_start'):.0f} / {med('bulk_queued_at_end'):.0f} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
