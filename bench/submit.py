"""Submission throughput and latency: REST and gRPC against the reference handler.

    uv run python -m bench.submit [--runs 3] [--duration 8]

Starts `switchboard api` (2 workers) and `switchboard grpc` (2 processes) against a fresh database, and the
reference handler (bench/reference_app.py: the same SQL, no framework) under the same uvicorn
setup. Each run measures every target at concurrency 16 and 64, interleaved; the table shows the
median of the runs and each figure as a ratio to the reference at the same concurrency.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from switchboard.messaging.v1 import messaging_pb2 as pb

from bench.load import Result, grpc_load, median, rest_load
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
    stack.start(("api", "grpc"))
    reference = start_reference(dsn, reference_port, logs / "reference.log")
    results: dict[tuple[str, int], list[Result]] = {}
    try:
        for run in range(1, args.runs + 1):
            for concurrency in args.concurrency:
                targets = {
                    "reference": rest_load(
                        f"http://127.0.0.1:{reference_port}/", headers, BODY, concurrency, args.warmup, args.duration
                    ),
                    "REST": rest_load(
                        f"{stack.rest_url}/v1/messages", headers, BODY, concurrency, args.warmup, args.duration
                    ),
                    "gRPC": grpc_load(
                        stack.grpc_target, facts["api_key"], GRPC_REQUEST, concurrency, args.warmup, args.duration
                    ),
                }
                for name, load in targets.items():
                    result = asyncio.run(load)
                    results.setdefault((name, concurrency), []).append(result)
                    print(
                        f"run {run}/{args.runs}  {name:9} c={concurrency:<3} {result.rate:8.0f}/s  "
                        f"p50 {result.percentile(50):6.1f} ms  p99 {result.percentile(99):6.1f} ms  "
                        f"errors {result.errors}",
                        file=sys.stderr,
                        flush=True,
                    )
    finally:
        reference.terminate()
        reference.wait(20)
        stack.stop()

    print(
        f"\nSubmission, median of {args.runs} runs of {args.duration:.0f} s "
        "(2 API workers, 2 gRPC processes; the load generator shares the 2 cores)\n"
    )
    print("| target | concurrency | req/s | p50 ms | p99 ms | errors | ratio to reference |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for concurrency in args.concurrency:
        base = median([r.rate for r in results[("reference", concurrency)]])
        for name in ("reference", "REST", "gRPC"):
            runs = results[(name, concurrency)]
            rate = median([r.rate for r in runs])
            print(
                f"| {name} | {concurrency} | {rate:.0f} | {median([r.percentile(50) for r in runs]):.1f} | "
                f"{median([r.percentile(99) for r in runs]):.1f} | {sum(r.errors for r in runs)} | {rate / base:.2f}x |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
