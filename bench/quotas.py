"""What tenant quotas cost a submission: REST with quotas on vs off, in the same run.

    uv run python -m bench.quotas [--runs 5] [--duration 8]

Two API servers (2 workers each) on one fresh database and one Redis: one with quotas (a Lua
token bucket and monthly counters, one Redis round trip per request), one with
``SWITCHBOARD_QUOTAS=off``. The tenant's plan is high enough that nothing is refused, so both do
the same work apart from the quota check. Each run measures both at each concurrency, alternating
which goes first.

Three costs are shown: throughput (1 - on/off) and the machine's CPU per request (every process
but the load generator: API, Redis, PostgreSQL), each the median over runs of the paired
difference; and the extra CPU per request of the API server under test plus Redis (read from
/proc for those processes only, so other work on a shared machine cannot blur it), as a share of
the machine's CPU per request with quotas off.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
from collections.abc import Awaitable

import asyncpg

from bench.load import Result, median, rest_load
from bench.stack import bench_stack
from entrypoints.dev import provision_demo
from kernel import settings as settings_module
from kernel.crypto import MasterKey

BODY = {
    "to": "+14155550123",
    "template": {"name": "order_shipped", "language": "en_US", "params": {"body": ["Ada", "#1042"]}},
}


async def unlimited_plan(dsn: str, tenant_id: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO plans (id, rate_per_second, burst, monthly_messages, max_batch) "
            "VALUES ('bench', 100000, 100000, 1000000000, 1000)"
        )
        await conn.execute("UPDATE tenants SET plan_id = 'bench' WHERE id = $1::uuid", tenant_id)
    finally:
        await conn.close()


def _busy_seconds() -> float:
    """CPU time this machine has spent, from /proc/stat (user, nice, system, irq, softirq; not the
    time the hypervisor gave to other machines)."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    return (fields[0] + fields[1] + fields[2] + fields[5] + fields[6]) / 100


def _own_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _tree_seconds(roots: list[int]) -> float:
    """CPU time of these processes and all their descendants (utime + stime, from /proc)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / 100
    total = 0.0
    for pid, seconds in times.items():
        walk = pid
        while walk > 1 and walk not in roots:
            walk = parents.get(walk, 0)
        if walk in roots:
            total += seconds
    return total


def measured(load: Awaitable[Result], seconds: float, servers: list[int]) -> tuple[Result, float, float]:
    """The load's result, and CPU microseconds per request over the ``seconds`` the load runs
    (warm-up included, at the measured rate): the machine's (all but the load generator), and
    that of ``servers`` (the API under test and Redis) alone, which other processes cannot blur."""
    busy, own, mine = _busy_seconds(), _own_seconds(), _tree_seconds(servers)
    result = asyncio.run(load)  # type: ignore[arg-type]
    machine = (_busy_seconds() - busy) - (_own_seconds() - own)
    requests = max(1.0, result.rate * seconds)
    return result, machine * 1e6 / requests, (_tree_seconds(servers) - mine) * 1e6 / requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--control", action="store_true", help="quotas off on both servers (A/A)")
    args = parser.parse_args()

    # --control: both servers without quotas (an A/A run), to see how far noise alone moves the figures.
    control = {"SWITCHBOARD_QUOTAS": "off"} if args.control else {}
    stack, dsn, _ = bench_stack("quotas", 12, {"SWITCHBOARD_API_WORKERS": "2", **control})
    settings = settings_module.load(stack.env)
    facts = asyncio.run(provision_demo(settings, MasterKey(settings.require_master_key()), None))
    asyncio.run(unlimited_plan(dsn, facts["tenant_id"]))
    headers = {"Authorization": f"Bearer {facts['api_key']}"}
    stack.start(("api",))
    off_url = stack.start_api_replica("api-quotas-off", {"SWITCHBOARD_QUOTAS": "off"})
    urls = {"on": f"{stack.rest_url}/v1/messages", "off": f"{off_url}/v1/messages"}
    results: dict[tuple[str, int], list[Result]] = {}
    cpu: dict[tuple[str, int], list[float]] = {}
    own_cpu: dict[tuple[str, int], list[float]] = {}
    redis_pid = int(subprocess.run(["pgrep", "-o", "redis-server"], capture_output=True, text=True).stdout.split()[0])
    pids = {"on": [stack.processes["api"].pid, redis_pid], "off": [stack.processes["api-quotas-off"].pid, redis_pid]}
    try:
        for url in urls.values():  # both servers warm (connections, statement caches) before any figure
            asyncio.run(rest_load(url, headers, BODY, max(args.concurrency), 0.0, 3.0))
        for run in range(1, args.runs + 1):
            for concurrency in args.concurrency:
                order = ("on", "off") if run % 2 else ("off", "on")
                for name in order:
                    result, per_request, per_request_own = measured(
                        rest_load(urls[name], headers, BODY, concurrency, args.warmup, args.duration),
                        args.warmup + args.duration,
                        pids[name],
                    )
                    results.setdefault((name, concurrency), []).append(result)
                    cpu.setdefault((name, concurrency), []).append(per_request)
                    own_cpu.setdefault((name, concurrency), []).append(per_request_own)
                    print(
                        f"run {run}/{args.runs}  quotas {name:3} c={concurrency:<3} {result.rate:7.0f}/s  "
                        f"p50 {result.percentile(50):6.1f} ms  p99 {result.percentile(99):6.1f} ms  "
                        f"server CPU {per_request:5.0f} us/request (API + Redis {per_request_own:4.0f})  "
                        f"errors {result.errors}",
                        file=sys.stderr,
                        flush=True,
                    )
    finally:
        stack.stop_process("api-quotas-off")
        stack.stop()

    print(f"\nREST submission with quotas on and off, median of {args.runs} runs of {args.duration:.0f} s\n")
    print(
        "| concurrency | quotas | req/s | p50 ms | p99 ms | errors | server CPU us/req | API + Redis us/req "
        "| throughput cost (per run) | CPU cost (per run) | API + Redis extra, of server CPU |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for concurrency in args.concurrency:
        on, off = results[("on", concurrency)], results[("off", concurrency)]
        rate_costs = [1 - a.rate / b.rate for a, b in zip(on, off, strict=True)]
        cpu_costs = [a / b - 1 for a, b in zip(cpu[("on", concurrency)], cpu[("off", concurrency)], strict=True)]
        extra = median(own_cpu[("on", concurrency)]) - median(own_cpu[("off", concurrency)])
        share = extra / median(cpu[("off", concurrency)])
        for name, runs in (("off", off), ("on", on)):
            costs = ("", "")
            attributable = f"{extra:.0f} us ({share:.1%})" if name == "on" else ""
            if name == "on":
                costs = tuple(  # type: ignore[assignment]
                    f"{median(c):.1%} ({', '.join(f'{x:.1%}' for x in c)})" for c in (rate_costs, cpu_costs)
                )
            print(
                f"| {concurrency} | {name} | {median([r.rate for r in runs]):.0f} | "
                f"{median([r.percentile(50) for r in runs]):.1f} | {median([r.percentile(99) for r in runs]):.1f} | "
                f"{sum(r.errors for r in runs)} | {median(cpu[(name, concurrency)]):.0f} | "
                f"{median(own_cpu[(name, concurrency)]):.0f} | {costs[0]} | {costs[1]} | {attributable} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
