"""Submission throughput and latency: REST and gRPC against the reference handler.

    uv run python -m bench.submit [--runs 3] [--duration 8]

Starts `switchboard api` (2 workers) and `switchboard grpc` (2 processes) against a fresh database, and the
reference handler (bench/reference_app.py: the same SQL, no framework) under the same uvicorn
setup. Each run measures every target at concurrency 16 and 64, interleaved. The table shows the
median of the runs; a target's ratio is the median of its runs' ratios to the reference measured
just before it, at the same concurrency. The serving processes' CPU per request (read from /proc,
warm-up included) says where a difference comes from without the machine's noise: the load
generator and PostgreSQL share the same two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
from switchboard.messaging.v1 import messaging_pb2 as pb

from bench.cpu import cpu_seconds
from bench.load import Result, grpc_load, h2load, median, rest_load
from entrypoints.dev import provision_demo
from kernel import settings as settings_module
from kernel.crypto import MasterKey
from migrations import upgrade
from tests.fixtures.services import free_port, recreate_database
from tests.fixtures.stack import ROOT, Stack

BODY = {
    "to": "+14155550123",
    "template": {"name": "order_shipped", "language": "en_US", "params": {"body": ["Ada", "#1042"]}},
}
GRPC_REQUEST = pb.SendMessageRequest(
    to="+14155550123",
    template=pb.TemplateContent(
        name="order_shipped", language="en_US", params=pb.TemplateParams(body=["Ada", "#1042"])
    ),
)


# The gRPC path h2load POSTs to, and the framing of a gRPC request body: a flag byte (not
# compressed) and the message's length, big-endian, before the message.
GRPC_PATH = "/switchboard.messaging.v1.MessagingService/SendMessage"


def grpc_frame(message: Any) -> bytes:
    payload: bytes = message.SerializeToString()
    return b"\x00" + len(payload).to_bytes(4, "big") + payload


def reaped_children_cpu() -> float:
    """CPU seconds of this process's children that have exited (h2load, once a run is over)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def stored_messages(dsn: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        count: int = await connection.fetchval("SELECT count(*) FROM messages")
        return count
    finally:
        await connection.close()


# The process tree that serves each target, as bench.e2e.cpu_seconds names it.
SERVER = {"reference": "reference", "REST": "api", "gRPC": "grpc"}


@dataclass(frozen=True)
class Measured:
    result: Result
    server_cpu: float  # µs of the serving processes' CPU per completed request
    postgres_cpu: float
    generator_cpu: float  # the load generator's, on the same cores: HTTP/2 costs it more than HTTP/1.1


def start_reference(dsn: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "REFERENCE_DSN": dsn}
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bench.reference_app:app",
                "--port",
                str(port),
                "--workers",
                "2",
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
        except urllib.error.HTTPError:
            return process
        except OSError:
            time.sleep(0.2)
            continue
        return process
    raise RuntimeError("reference server did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds measured per target and concurrency")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    parser.add_argument(
        "--targets",
        nargs="+",
        default=["REST", "gRPC"],
        choices=["REST", "gRPC"],
        help="measured beside the reference",
    )
    parser.add_argument(
        "--client",
        choices=["h2load", "python"],
        default="h2load",
        help="load generator: nghttp2's h2load (C, little CPU per call) or the Python clients (aiohttp, grpcio)",
    )
    args = parser.parse_args()

    dsn = asyncio.run(recreate_database("switchboard_bench"))
    upgrade(dsn)
    logs = Path(tempfile.mkdtemp(prefix="sb-bench-"))
    stack = Stack(
        dsn,
        "redis://127.0.0.1:6379/11",
        logs,
        {"SWITCHBOARD_API_WORKERS": "2", "SWITCHBOARD_GRPC_PROCESSES": "2", "SWITCHBOARD_LOG_LEVEL": "WARNING"},
    )
    settings = settings_module.load(stack.env)
    facts = asyncio.run(provision_demo(settings, MasterKey(settings.require_master_key()), None))
    headers = {"Authorization": f"Bearer {facts['api_key']}"}
    # A plan whose rate is far above what two cores can submit: the quota check runs (it is part
    # of the path measured) but never refuses.
    stack.cli("plans", "set", "bench", "--rate", "100000", "--burst", "100000").check_returncode()
    stack.cli("tenant", "plan", "--tenant", facts["tenant_id"], "bench").check_returncode()
    reference_port = free_port()
    reference_url = f"http://127.0.0.1:{reference_port}/"
    stack.start(("api", "grpc"))
    reference = start_reference(dsn, reference_port, logs / "reference.log")
    results: dict[tuple[str, int], list[Measured]] = {}

    def load(name: str, concurrency: int) -> Coroutine[Any, Any, Result]:
        """One target's load (made only when it is measured: a coroutine must be awaited once made)."""
        timing = (concurrency, args.warmup, args.duration)
        if args.client == "h2load":
            if name == "gRPC":
                grpc_headers = {**headers, "content-type": "application/grpc", "te": "trailers"}
                url = f"http://{stack.grpc_target}{GRPC_PATH}"
                return h2load(url, grpc_headers, grpc_frame(GRPC_REQUEST), *timing, http1=False, expect=200)
            url = reference_url if name == "reference" else f"{stack.rest_url}/v1/messages"
            rest_headers = {**headers, "content-type": "application/json"}
            return h2load(url, rest_headers, msgspec.json.encode(BODY), *timing, http1=True, expect=202)
        if name == "reference":
            return rest_load(reference_url, headers, BODY, *timing)
        if name == "REST":
            return rest_load(f"{stack.rest_url}/v1/messages", headers, BODY, *timing)
        return grpc_load(stack.grpc_target, facts["api_key"], GRPC_REQUEST, *timing)

    try:
        for run in range(1, args.runs + 1):
            for concurrency in args.concurrency:
                for name in ("reference", *args.targets):
                    stored_before = asyncio.run(stored_messages(dsn))
                    before, reaped_before = cpu_seconds(), reaped_children_cpu()
                    result = asyncio.run(load(name, concurrency))
                    after, reaped = cpu_seconds(), reaped_children_cpu() - reaped_before
                    # h2load has exited by now: its CPU is the reaped children's, not in /proc.
                    after["load generator"] = after.get("load generator", 0.0) + reaped
                    # Every call that answered must have stored its message: h2load cannot see a
                    # gRPC error (it travels in trailers after a 200), this can.
                    stored = asyncio.run(stored_messages(dsn)) - stored_before
                    result.errors = max(result.errors, result.completed - stored)
                    cpu = {
                        part: (after.get(part, 0) - before.get(part, 0)) / max(1, result.completed) * 1e6
                        for part in after
                    }
                    measured = Measured(
                        result, cpu[SERVER[name]], cpu.get("postgres", 0.0), cpu.get("load generator", 0.0)
                    )
                    results.setdefault((name, concurrency), []).append(measured)
                    print(
                        f"run {run}/{args.runs}  {name:9} c={concurrency:<3} {result.rate:8.0f}/s  "
                        f"p50 {result.percentile(50):6.1f} ms  p99 {result.percentile(99):6.1f} ms  "
                        f"server CPU {measured.server_cpu:5.0f} µs/req  errors {result.errors}",
                        file=sys.stderr,
                        flush=True,
                    )
    finally:
        reference.terminate()
        reference.wait(20)
        stack.stop()

    print(
        f"\nSubmission, median of {args.runs} runs of {args.duration:.0f} s "
        f"(2 API workers, 2 gRPC processes; load generator {args.client}, on the same 2 cores)\n"
    )
    print(
        "| target | concurrency | req/s | p50 ms | p99 ms | errors | ratio to reference "
        "| server CPU µs/req | PostgreSQL CPU µs/req | load generator CPU µs/req |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for concurrency in args.concurrency:
        references = results[("reference", concurrency)]
        for name in ("reference", *args.targets):
            runs = results[(name, concurrency)]
            # Each run's ratio to the reference measured just before it, then the median: the
            # machine's speed drifts between runs more than between neighbouring measurements.
            ratio = median([m.result.rate / r.result.rate for m, r in zip(runs, references, strict=True)])
            print(
                f"| {name} | {concurrency} | {median([m.result.rate for m in runs]):.0f} "
                f"| {median([m.result.percentile(50) for m in runs]):.1f} "
                f"| {median([m.result.percentile(99) for m in runs]):.1f} | {sum(m.result.errors for m in runs)} "
                f"| {ratio:.2f}x | {median([m.server_cpu for m in runs]):.0f} "
                f"| {median([m.postgres_cpu for m in runs]):.0f} | {median([m.generator_cpu for m in runs]):.0f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
