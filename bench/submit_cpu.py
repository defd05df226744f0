"""Where a REST submission's CPU goes: the API's handler against the reference handler, in-process.

    uv run python -m bench.submit_cpu [--runs 3] [--requests 3000]

``bench.submit`` measures throughput over HTTP with the load generator on the same two cores; this
takes the network, uvicorn and the load generator out. One process runs the ASGI apps themselves
(Switchboard's ``create_app`` and ``bench/reference_app.py``) on uvloop, 16 requests in flight,
against a fresh database with the demo tenant, and measures the process's CPU time per request:

- ``reference``: key lookup, sender and template query, the one-statement insert;
- ``REST``: ``POST /v1/messages`` as served (Litestar, guard, validation, linting, quota in Redis);
- ``REST, quotas off``: the same without the quota round trip (``SWITCHBOARD_QUOTAS=false``).

PostgreSQL's and Redis's own CPU is not counted: this is the API process's share.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import uvloop

from bench.submit import BODY
from entrypoints.dev import provision_demo
from kernel import settings as settings_module
from kernel.crypto import MasterKey
from migrations import upgrade
from tests.fixtures.services import recreate_database
from tests.fixtures.stack import Stack

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[[dict[str, Any], Receive, Send], Awaitable[None]]
_lifespans: list[asyncio.Future[None]] = []  # held: the loop keeps only weak references


def _scope(path: str, api_key: str, body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"authorization", f"Bearer {api_key}".encode()),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def _request(app: App, scope: dict[str, Any], body: bytes) -> int:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({**scope, "state": {}}, receive, send)
    status: int = sent[0]["status"]
    return status


async def _start(app: App) -> None:
    """Run the app's lifespan startup (its pools and clients), and leave it running."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    _lifespans.append(
        asyncio.ensure_future(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, outbox.put))
    )
    started = await outbox.get()
    assert started["type"] == "lifespan.startup.complete", started


async def _cpu_per_request(app: App, path: str, api_key: str, requests: int, concurrency: int = 16) -> float:
    body = msgspec.json.encode(BODY)
    scope = _scope(path, api_key, body)

    async def client(count: int) -> None:
        for _ in range(count):
            status = await _request(app, scope, body)
            assert status in (200, 202), status

    await asyncio.gather(*(client(20) for _ in range(concurrency)))  # warm up
    started = time.process_time()
    await asyncio.gather(*(client(requests // concurrency) for _ in range(concurrency)))
    return (time.process_time() - started) / (requests // concurrency * concurrency) * 1e6


async def main(runs: int, requests: int) -> None:
    dsn = await recreate_database("switchboard_bench_cpu")
    await asyncio.to_thread(upgrade, dsn)
    stack = Stack(dsn, "redis://127.0.0.1:6379/11", Path(tempfile.mkdtemp()), {"SWITCHBOARD_LOG_LEVEL": "WARNING"})
    settings = settings_module.load(stack.env)
    facts = await provision_demo(settings, MasterKey(settings.require_master_key()), None)
    api_key: str = facts["api_key"]
    # A plan far above the load: the quota check runs but never refuses.
    stack.cli("plans", "set", "bench", "--rate", "100000", "--burst", "100000").check_returncode()
    stack.cli("tenant", "plan", "--tenant", facts["tenant_id"], "bench").check_returncode()

    from bench import reference_app
    from entrypoints.http import create_app

    os.environ["REFERENCE_DSN"] = dsn
    targets: dict[str, tuple[App, str]] = {
        "reference": (reference_app.app, "/"),
        "REST": (create_app(settings), "/v1/messages"),
        "REST, quotas off": (
            create_app(settings_module.load({**stack.env, "SWITCHBOARD_QUOTAS": "false"})),
            "/v1/messages",
        ),
    }
    for app, _ in targets.values():
        await _start(app)
    figures: dict[str, list[float]] = {name: [] for name in targets}
    for run in range(runs):
        for name, (app, path) in targets.items():
            figures[name].append(await _cpu_per_request(app, path, api_key, requests))
        print(f"run {run + 1}: " + ", ".join(f"{n} {v[-1]:.0f} µs" for n, v in figures.items()), flush=True)
    base = statistics.median(figures["reference"])
    print("\n| target | CPU µs per request (median) | runs | ratio to reference |")
    print("| --- | --- | --- | --- |")
    for name, values in figures.items():
        median = statistics.median(values)
        runs_text = ", ".join(f"{v:.0f}" for v in values)
        print(f"| {name} | {median:.0f} | {runs_text} | {median / base:.2f}x |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    uvloop.install()
    asyncio.run(main(args.runs, args.requests))
