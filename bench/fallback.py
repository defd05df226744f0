"""Fallback latency: WhatsApp fails, how soon is the SMS with Twilio?

    uv run python -m bench.fallback [--runs 3] [--messages 200] [--rate 20]

Per run, a fresh stack (API, workers, relay, sandbox). A tenant with a WhatsApp number and a Twilio
account sends ``--messages`` UTILITY templates with SMS fallback at ``--rate``/s, open loop, to
numbers that are not on WhatsApp (the sandbox accepts them, then reports ``failed`` with 131026
after its first status delay). Two figures per message, from the audit trail:

* failure -> SMS submitted: the ``failed`` webhook's event to the SMS channel's ``submitted`` event
  (reconciliation, the fallback step, the relay, an SMS worker and Twilio's answer);
* accepted -> SMS submitted: the message's creation to the same event (the whole path a tenant
  waits through, including the sandbox's 100 ms before it reports the failure).

Every message must have exactly one SMS (the sandbox counts them).
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
from entrypoints.dev import provision_demo, register_sender, register_twilio
from kernel import db
from kernel import settings as settings_module
from kernel.crypto import MasterKey

TEMPLATE = {"name": "order_shipped", "language": "en_US", "params": {"body": ["Ada", "#1042"]}}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


async def tenant(settings: settings_module.Settings, stack: Any) -> dict[str, Any]:
    facts = await provision_demo(settings, MasterKey(settings.require_master_key()), None, fallback=True)
    facts["webhook_url"] = f"{stack.rest_url}/webhooks/whatsapp/{facts['channel_key']}"
    await asyncio.to_thread(register_sender, stack.sandbox_url, facts)
    await asyncio.to_thread(register_twilio, stack.sandbox_url, facts)
    return facts


async def send(rest_url: str, facts: dict[str, Any], count: int, rate: float, first: int = 200) -> list[str]:
    """``count`` messages to +1 415 NXX-0000, exchanges from ``first`` (distinct recipients)."""
    ids: list[str] = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {facts['api_key']}"}) as http:

        async def one(n: int, at: float) -> None:
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            body = {
                "to": f"+1415{first + n:03d}0000",  # ...0000: not on WhatsApp
                "template": TEMPLATE,
                "fallback": {"sms": {"text": f"Hi Ada, order #{n} shipped."}},
            }
            async with http.post(f"{rest_url}/v1/messages", json=body) as r:
                assert r.status == 202, await r.text()
                ids.append((await r.json())["id"])

        start = time.monotonic()
        await asyncio.gather(*(one(n, start + n / rate) for n in range(count)))
    return ids


async def measure(dsn: str, ids: list[str], timeout: float = 120) -> tuple[list[float], list[float]]:
    pool = await db.create_pool(dsn, min_size=1, max_size=1)
    try:
        deadline = time.monotonic() + timeout
        while True:
            rows = await pool.fetch(
                "SELECT extract(epoch FROM s.at - f.at) * 1000 AS after_failure, "
                "extract(epoch FROM s.at - m.created_at) * 1000 AS after_accept FROM messages m "
                "JOIN LATERAL (SELECT min(recorded_at) AS at FROM message_events e WHERE e.message_id = m.id "
                "  AND e.reported_status = 'failed' AND e.source = 'webhook:whatsapp') f ON f.at IS NOT NULL "
                "JOIN LATERAL (SELECT min(recorded_at) AS at FROM message_events e WHERE e.message_id = m.id "
                "  AND e.reported_status = 'submitted' AND e.source = 'worker:sms') s ON s.at IS NOT NULL "
                "WHERE m.id = ANY($1::uuid[])",
                ids,
            )
            if len(rows) == len(ids) or time.monotonic() > deadline:
                return [float(r["after_failure"]) for r in rows], [float(r["after_accept"]) for r in rows]
            await asyncio.sleep(0.5)
    finally:
        await pool.close()


async def sms_count(sandbox_url: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(f"{sandbox_url}/_sandbox/twilio/messages") as r:
        count: int = (await r.json())["count"]
        return count


def run_once(count: int, rate: float) -> dict[str, float]:
    stack, dsn, _ = bench_stack(
        "fallback",
        13,
        {
            "SWITCHBOARD_API_WORKERS": "2",
            "SWITCHBOARD_WORKER_PROCESSES": "2",
            "SWITCHBOARD_SANDBOX_STATUS_DELAYS_MS": "100,300,600",
        },
    )
    settings = settings_module.load(stack.env)
    stack.start(("sandbox", "api", "worker", "relay"))
    try:
        facts = asyncio.run(tenant(settings, stack))
        asyncio.run(measure(dsn, asyncio.run(send(stack.rest_url, facts, 10, rate, first=900))))  # warm-up
        before = asyncio.run(sms_count(stack.sandbox_url))
        ids = asyncio.run(send(stack.rest_url, facts, count, rate))
        after_failure, after_accept = asyncio.run(measure(dsn, ids))
        time.sleep(1)
        sent = asyncio.run(sms_count(stack.sandbox_url)) - before
    finally:
        stack.stop()
    return {
        "failure_p50": statistics.median(after_failure),
        "failure_p99": percentile(after_failure, 99),
        "accept_p50": statistics.median(after_accept),
        "accept_p99": percentile(after_accept, 99),
        "fell_back": len(after_failure),
        "sms_sent": sent,
        "messages": count,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--messages", type=int, default=200, help="at most 700")
    parser.add_argument("--rate", type=float, default=20)
    args = parser.parse_args()
    rows = []
    for run in range(1, args.runs + 1):
        row = run_once(args.messages, args.rate)
        rows.append(row)
        print(f"run {run}/{args.runs}  " + "  ".join(f"{k} {v:.1f}" for k, v in row.items()), file=sys.stderr)

    def med(key: str) -> float:
        return statistics.median(r[key] for r in rows)

    title = f"WhatsApp failure -> SMS submitted, {args.messages} messages at {args.rate:g}/s"
    print(f"\n{title}, medians of {args.runs} runs\n")
    print("| figure | p50 ms | p99 ms |")
    print("| --- | --- | --- |")
    print(f"| failed webhook -> SMS submitted | {med('failure_p50'):.0f} | {med('failure_p99'):.0f} |")
    print(f"| accepted -> SMS submitted | {med('accept_p50'):.0f} | {med('accept_p99'):.0f} |")
    each = ", ".join(f"{r['fell_back']:.0f}/{r['sms_sent']:.0f}" for r in rows)
    print(f"| messages that fell back / SMS sent (each run) | {each} of {args.messages} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
