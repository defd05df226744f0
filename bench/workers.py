"""Worker throughput: how many messages per second one worker process delivers, and two.

    uv run python -m bench.workers [--runs 3] [--messages 3000] [--processes 1 2]

One stack (API with 2 processes, relay, sandbox; PostgreSQL and Redis local) on this 2-core
machine. Per run and process count: a fresh tenant whose number may send far more than the workers
can (so pacing never waits), ``--messages`` UTILITY templates submitted while no worker runs, so
they wait in Redis; then ``switchboard worker`` starts with ``SWITCHBOARD_WORKER_PROCESSES`` set.
The rate is the messages accepted by the sandbox over the time from the first acceptance to the
last (worker start-up left out). The sandbox's status webhooks for those messages are reconciled
by the same workers meanwhile, as in production.
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
from bench.throughput import TEMPLATE, recipients, tenant_at
from kernel import db
from kernel import settings as settings_module


async def backlog(stack: Any, settings: settings_module.Settings, count: int) -> dict[str, Any]:
    """A tenant with ``count`` messages waiting in Redis for a worker."""
    facts = await tenant_at(settings, stack.sandbox_url, stack.rest_url, 100_000)
    queue = recipients(count)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {facts['api_key']}"}) as http:

        async def submitter() -> None:
            while queue:
                body = {"to": queue.pop(), "template": TEMPLATE}
                async with http.post(f"{stack.rest_url}/v1/messages", json=body) as r:
                    assert r.status == 202, await r.text()

        await asyncio.gather(*(submitter() for _ in range(32)))
    pool = await db.create_pool(settings.asyncpg_dsn, min_size=1, max_size=1)
    try:
        while await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"):  # all published
            await asyncio.sleep(0.2)
    finally:
        await pool.close()
    return facts


async def rate(settings: settings_module.Settings, facts: dict[str, Any], count: int) -> tuple[float, float]:
    """(messages/s between the first and last acceptance, seconds that took) once all are sent."""
    pool = await db.create_pool(settings.asyncpg_dsn, min_size=1, max_size=1)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            row = await pool.fetchrow(
                "SELECT count(*) AS n, extract(epoch FROM max(finished_at) - min(finished_at)) AS span "
                "FROM delivery_attempts WHERE tenant_id = $1::uuid AND state = 'accepted'",
                facts["tenant_id"],
            )
            if row["n"] >= count:
                return (row["n"] - 1) / float(row["span"]), float(row["span"])
            await asyncio.sleep(0.5)
    finally:
        await pool.close()
    raise RuntimeError(f"not all {count} messages were sent within 600 s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    stack, _, logs = bench_stack(
        "workers",
        13,
        {
            "SWITCHBOARD_API_WORKERS": "2",
            "SWITCHBOARD_WORKER_THREADS": "16",
            "SWITCHBOARD_SANDBOX_STATUS_DELAYS_MS": "100,300,600",
        },
    )
    settings = settings_module.load(stack.env)
    stack.start(("sandbox", "api", "relay"))
    rates: dict[int, list[float]] = {p: [] for p in args.processes}
    try:
        for run in range(1, args.runs + 1):
            for processes in args.processes:
                facts = asyncio.run(backlog(stack, settings, args.messages))
                stack.start_process("worker", env={"SWITCHBOARD_WORKER_PROCESSES": str(processes)})
                try:
                    per_s, span = asyncio.run(rate(settings, facts, args.messages))
                finally:
                    stack.stop_process("worker")
                rates[processes].append(per_s)
                print(
                    f"run {run}/{args.runs}  {processes} process(es): {per_s:.0f} msg/s ({span:.1f} s)",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        stack.stop()

    base = statistics.median(rates[args.processes[0]])
    print(f"\nWorker throughput to the sandbox, {args.messages} messages waiting, {args.runs} runs (logs in {logs})\n")
    print("| worker processes | msg/s, median | runs | per process | vs 1 process |")
    print("| --- | --- | --- | --- | --- |")
    for processes in args.processes:
        median = statistics.median(rates[processes])
        runs = ", ".join(f"{r:.0f}" for r in rates[processes])
        print(f"| {processes} | {median:.0f} | {runs} | {median / processes:.0f} | {median / base:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
