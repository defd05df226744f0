"""Retry storm: Meta answers 130429 to everything for a while, then recovers.

    uv run python -m bench.retry_storm [--runs 3] [--storm 30] [--messages 600]

Per run, a fresh stack (API, 2 worker processes, relay, sandbox) with the production retry
settings (base 1 s, 6 attempts, 15 min maximum age). The sandbox refuses every send of the tenant's
number with 130429 for ``--storm`` seconds (``PUT /_sandbox/whatsapp/phone_numbers/{id}/outage``);
meanwhile the tenant submits ``--messages`` UTILITY templates, spread evenly over the storm, to
distinct recipients. Figures:

* drain: from the end of the storm to the last message accepted by the sandbox (the number's
  80 msg/s alone needs ``messages / 80`` seconds for the backlog);
* lost: messages that ended anything but accepted (``failed``, or still ``queued`` 120 s after);
* sent twice: messages the sandbox accepted more than once (it counts sends per message);
* attempts per message (median, max) and refusals during the storm.
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


async def storm(stack: Any, settings: settings_module.Settings, count: int, seconds: float) -> dict[str, float]:
    facts = await tenant_at(settings, stack.sandbox_url, stack.rest_url, 80)
    headers = {"Authorization": f"Bearer {facts['api_key']}"}
    outage = f"{stack.sandbox_url}/_sandbox/whatsapp/phone_numbers/{facts['phone_number_id']}/outage"
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.put(outage, json={"code": 130429, "seconds": seconds}) as r:
            assert (await r.json())["scheduled"]
        storm_ends = time.time() + seconds
        start = time.monotonic()

        async def one(to: str, at: float) -> None:
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            async with http.post(f"{stack.rest_url}/v1/messages", json={"to": to, "template": TEMPLATE}) as r:
                assert r.status == 202, await r.text()

        spacing = seconds * 0.9 / count  # all submitted while the storm lasts
        await asyncio.gather(*(one(to, start + i * spacing) for i, to in enumerate(recipients(count))))
        pool = await db.create_pool(settings.asyncpg_dsn, min_size=1, max_size=1)
        try:
            deadline = time.monotonic() + seconds + 120
            while time.monotonic() < deadline:
                waiting = await pool.fetchval(
                    "SELECT count(*) FROM messages WHERE tenant_id = $1::uuid AND status = 'queued'",
                    facts["tenant_id"],
                )
                if waiting == 0:
                    break
                await asyncio.sleep(0.5)
            done = await pool.fetchrow(
                "SELECT count(*) FILTER (WHERE provider_message_id IS NOT NULL AND status <> 'failed') AS accepted, "
                "count(*) FILTER (WHERE status = 'failed') AS failed, "
                "count(*) FILTER (WHERE status = 'queued') AS queued FROM messages WHERE tenant_id = $1::uuid",
                facts["tenant_id"],
            )
            last = await pool.fetchval(
                "SELECT extract(epoch FROM max(finished_at)) FROM delivery_attempts "
                "WHERE tenant_id = $1::uuid AND state = 'accepted'",
                facts["tenant_id"],
            )
            attempts = [
                r["n"]
                for r in await pool.fetch(
                    "SELECT count(*) AS n FROM delivery_attempts WHERE tenant_id = $1::uuid GROUP BY message_id",
                    facts["tenant_id"],
                )
            ]
        finally:
            await pool.close()
        async with http.get(f"{stack.sandbox_url}/_sandbox/stats") as r:
            sandbox = await r.json()
        async with http.get(outage.removesuffix("/outage") + "/stats") as r:
            number = await r.json()
    return {
        "drain_s": float(last) - storm_ends,
        "accepted": done["accepted"],
        "lost": count - done["accepted"],
        "sent_twice": sandbox["sent_twice"],
        "attempts_p50": statistics.median(attempts),
        "attempts_max": max(attempts),
        "refused": number["refused_in_outage"],
    }


def run_once(count: int, seconds: float) -> dict[str, float]:
    stack, _, _ = bench_stack(
        "retry_storm",
        13,
        {
            "SWITCHBOARD_API_WORKERS": "2",
            "SWITCHBOARD_WORKER_PROCESSES": "2",
            "SWITCHBOARD_SANDBOX_STATUS_DELAYS_MS": "100,300,600",
            # Production retry settings (the test stack shortens them).
            "SWITCHBOARD_RETRY_BASE_MS": "1000",
            "SWITCHBOARD_MAX_ATTEMPTS": "6",
            "SWITCHBOARD_RETRY_MAX_AGE_SECONDS": "900",
            "SWITCHBOARD_DELIVERY_HOLD_SECONDS": "30",
        },
    )
    settings = settings_module.load(stack.env)
    stack.start(("sandbox", "api", "worker", "relay"))
    try:
        return asyncio.run(storm(stack, settings, count, seconds))
    finally:
        stack.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--storm", type=float, default=30.0, help="seconds of 130429")
    parser.add_argument("--messages", type=int, default=600)
    args = parser.parse_args()
    rows = []
    for run in range(1, args.runs + 1):
        row = run_once(args.messages, args.storm)
        rows.append(row)
        print(f"run {run}/{args.runs}  " + "  ".join(f"{k} {v:g}" for k, v in row.items()), file=sys.stderr)

    def each(key: str, fmt: str = "{:.0f}") -> str:
        return ", ".join(fmt.format(r[key]) for r in rows)

    print(f"\n{args.storm:g} s of 130429, {args.messages} messages submitted during it, {args.runs} runs\n")
    print("| figure | median | runs |")
    print("| --- | --- | --- |")
    drain = statistics.median(r["drain_s"] for r in rows)
    print(f"| drain after the storm (s) | {drain:.1f} | {each('drain_s', '{:.1f}')} |")
    floor = args.messages / 80
    print(f"| (the backlog at the number's 80 msg/s alone takes) | {floor:.1f} | |")
    print(f"| lost (failed or never sent) | {statistics.median(r['lost'] for r in rows):.0f} | {each('lost')} |")
    print(f"| sent twice | {statistics.median(r['sent_twice'] for r in rows):.0f} | {each('sent_twice')} |")
    print(
        f"| attempts per message, median | {statistics.median(r['attempts_p50'] for r in rows):.0f} | "
        f"{each('attempts_p50')} |"
    )
    print(
        f"| attempts per message, max | {statistics.median(r['attempts_max'] for r in rows):.0f} | "
        f"{each('attempts_max')} |"
    )
    print(
        f"| 130429 refusals during the storm | {statistics.median(r['refused'] for r in rows):.0f} | "
        f"{each('refused')} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
