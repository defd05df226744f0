"""Sustained per-sender rate against the sandbox enforcing the number's limit (as Meta does, 130429).

    uv run python -m bench.throughput [--runs 3] [--limits 80 1000] [--seconds 12]

One stack (API, 2 worker processes, relay, sandbox) with the pair rate on (6 s) and distinct
recipients. Per run and limit: a fresh tenant whose number is configured at the limit (our pacing)
and registered in the sandbox at the same limit (its 130429); ``limit x seconds`` template
messages are submitted at once, so a backlog waits for the workers; the sandbox then reports what
the number sent in each one-second window. The sustained rate is the median of the full windows
(the first and last, partial, are left out); the target is within 5 % of the limit and never above
it in any window.
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
from entrypoints.dev import provision_demo, register_sender
from kernel import db
from kernel import settings as settings_module
from kernel.crypto import MasterKey
from sandbox.scripts import Script, script_for

TEMPLATE = {"name": "order_shipped", "language": "en_US", "params": {"body": ["Ada", "#1042"]}}


def recipients(count: int) -> list[str]:
    numbers = (f"+1415{7000000 + i:07d}" for i in range(count * 2))
    return [n for n in numbers if script_for(n.lstrip("+")) is Script.NORMAL][:count]


async def tenant_at(settings: settings_module.Settings, sandbox_url: str, rest_url: str, mps: int) -> dict[str, Any]:
    facts = await provision_demo(settings, MasterKey(settings.require_master_key()), None)
    facts["webhook_url"] = f"{rest_url}/webhooks/whatsapp/{facts['channel_key']}"
    facts["throughput_mps"] = mps
    await asyncio.to_thread(register_sender, sandbox_url, facts)
    pool = await db.create_pool(settings.asyncpg_dsn, min_size=1, max_size=1)
    try:
        await pool.execute("UPDATE senders SET throughput_mps = $2 WHERE tenant_id = $1::uuid", facts["tenant_id"], mps)
        # The bench tenant's plan must not be what limits it.
        await pool.execute(
            "INSERT INTO plans (id, rate_per_second, burst, max_batch) VALUES ('bench', 100000, 100000, 1000) "
            "ON CONFLICT DO NOTHING"
        )
        await pool.execute("UPDATE tenants SET plan_id = 'bench' WHERE id = $1::uuid", facts["tenant_id"])
    finally:
        await pool.close()
    return facts


async def run_once(stack: Any, settings: settings_module.Settings, mps: int, seconds: float) -> dict[str, float]:
    facts = await tenant_at(settings, stack.sandbox_url, stack.rest_url, mps)
    count = int(mps * seconds)
    headers = {"Authorization": f"Bearer {facts['api_key']}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        queue = list(recipients(count))

        async def submitter() -> None:
            while queue:
                to = queue.pop()
                async with http.post(f"{stack.rest_url}/v1/messages", json={"to": to, "template": TEMPLATE}) as r:
                    assert r.status == 202, await r.text()

        await asyncio.gather(*(submitter() for _ in range(32)))
        stats_url = f"{stack.sandbox_url}/_sandbox/whatsapp/phone_numbers/{facts['phone_number_id']}/stats"
        deadline = time.monotonic() + seconds * 4 + 60
        stats: dict[str, Any] = {}
        while time.monotonic() < deadline:
            async with http.get(stats_url) as r:
                stats = await r.json()
            if stats["sent"] >= count:
                break
            await asyncio.sleep(1)
    windows = [n for _, n in stats["per_second"]]
    full = windows[1:-1] or windows
    return {
        "limit": mps,
        "messages": count,
        "sent": stats["sent"],
        "sustained_per_s": statistics.median(full),
        "max_window": max(windows, default=0),
        "windows_over_limit": sum(1 for n in windows if n > mps),
        "refused_130429": stats["refused_over_limit"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--limits", type=int, nargs="+", default=[80, 1000])
    parser.add_argument("--seconds", type=float, default=12.0, help="the backlog, in seconds at the limit")
    args = parser.parse_args()

    stack, _, logs = bench_stack(
        "throughput",
        13,
        {
            "SWITCHBOARD_API_WORKERS": "2",
            "SWITCHBOARD_WORKER_PROCESSES": "2",
            "SWITCHBOARD_WORKER_THREADS": "16",
            "SWITCHBOARD_PAIR_INTERVAL_MS": "6000",
            "SWITCHBOARD_SANDBOX_STATUS_DELAYS_MS": "100,300,600",
        },
    )
    settings = settings_module.load(stack.env)
    stack.start(("sandbox", "api", "worker", "relay"))
    rows: list[dict[str, float]] = []
    try:
        for run in range(1, args.runs + 1):
            for mps in args.limits:
                row = asyncio.run(run_once(stack, settings, mps, args.seconds))
                rows.append(row)
                print(f"run {run}/{args.runs}  {row}", file=sys.stderr, flush=True)
    finally:
        stack.stop()

    print(f"\nSustained sends per number against the sandbox's limit, {args.runs} runs (logs in {logs})\n")
    print("| limit (mps) | messages | sustained/s, median (runs) | of limit | max 1-s window | windows over | 130429 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for mps in args.limits:
        mine = [r for r in rows if r["limit"] == mps]
        rates = [r["sustained_per_s"] for r in mine]
        rate = statistics.median(rates)
        print(
            f"| {mps} | {int(mine[0]['messages'])} | {rate:.1f} ({', '.join(f'{x:.0f}' for x in rates)}) | "
            f"{rate / mps:.1%} | {max(r['max_window'] for r in mine):.0f} | "
            f"{sum(r['windows_over_limit'] for r in mine):.0f} | {sum(r['refused_130429'] for r in mine):.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
