"""Closed-loop load generators: N concurrent callers for a fixed time, latencies recorded."""

from __future__ import annotations

import asyncio
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import grpc
from switchboard.messaging.v1 import messaging_pb2_grpc as pb_grpc

__all__ = ["Result", "grpc_load", "h2load", "raw_http_load", "rest_load"]


@dataclass
class Result:
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    completed: int = 0  # every call that returned, warm-up included (what the servers' CPU time covers)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


Call = Callable[[], Awaitable[bool]]


async def _drive(callers: Callable[[], Call], concurrency: int, warmup: float, duration: float) -> Result:
    """``concurrency`` callers, each making calls (``callers()`` gives each its own) back to back."""
    result = Result(seconds=duration)
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + duration

    async def caller() -> None:
        call = callers()
        while True:
            began = time.perf_counter()
            if began >= stop_at:
                return
            ok = await call()
            ended = time.perf_counter()
            result.completed += 1
            if began >= measure_from and ended <= stop_at:
                if ok:
                    result.latencies.append(ended - began)
                else:
                    result.errors += 1

    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return result


async def rest_load(
    url: str, headers: dict[str, str], body: dict[str, Any], concurrency: int, warmup: float, duration: float
) -> Result:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def call() -> bool:
            async with session.post(url, json=body) as response:
                await response.read()
                return response.status == 202

        return await _drive(lambda: call, concurrency, warmup, duration)


async def grpc_load(
    target: str,
    api_key: str,
    request: Any,
    concurrency: int,
    warmup: float,
    duration: float,
) -> Result:
    """SendMessage called with ``request``, one channel (one HTTP/2
    connection) per caller as the REST load has one connection per caller: a single channel would
    reach only one of the server's SO_REUSEPORT processes."""
    metadata = (("authorization", f"Bearer {api_key}"),)
    # A local subchannel pool each, or grpcio would share one connection among equal channels.
    channels = [
        grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]) for _ in range(concurrency)
    ]
    methods = iter([pb_grpc.MessagingServiceStub(channel).SendMessage for channel in channels])
    try:

        def on_own_channel() -> Call:
            unary = next(methods)

            async def call() -> bool:
                try:
                    await unary(request, metadata=metadata, timeout=30)
                except grpc.aio.AioRpcError:
                    return False
                return True

            return call

        return await _drive(on_own_channel, concurrency, warmup, duration)
    finally:
        for channel in channels:
            await channel.close()


async def raw_http_load(
    host: str,
    port: int,
    requests: list[bytes],
    concurrency: int,
    duration: float,
    *,
    rate: float | None = None,
    expect: int = 200,
) -> Result:
    """Replay prebuilt HTTP/1.1 requests over ``concurrency`` keep-alive connections.

    A lean client on purpose: at thousands of requests per second on a 2-core machine, a full
    client library would take the CPU the server under test needs. Closed loop by default; with
    ``rate``, requests start on a fixed schedule (open loop) and latency counts from that start.
    """
    result = Result(seconds=duration)
    start = time.perf_counter()
    stop_at = start + duration
    issued = 0

    async def connection() -> None:
        nonlocal issued
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while True:
                n = issued
                issued += 1
                began = start + n / rate if rate else time.perf_counter()
                if began >= stop_at:
                    return
                if rate:
                    await asyncio.sleep(max(0.0, began - time.perf_counter()))
                writer.write(requests[n % len(requests)])
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                ended = time.perf_counter()
                if status == expect:
                    result.latencies.append(ended - began)
                else:
                    result.errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    result.seconds = max(duration, time.perf_counter() - start) if rate else duration
    return result


async def h2load(
    url: str,
    headers: dict[str, str],
    body: bytes,
    concurrency: int,
    warmup: float,
    duration: float,
    *,
    http1: bool,
    expect: int,
) -> Result:
    """The same closed loop as the Python generators, driven by nghttp2's ``h2load`` (C): one
    connection per caller, one request in flight on each, ``body`` POSTed back to back.

    On a 2-core machine the load generator takes CPU from the servers it measures, and a Python
    client (aiohttp, and grpcio's client more so) takes several hundred µs per call: so much that
    it weighs on a ratio between targets. h2load's cost per request is a small fraction of that.
    It sees only the HTTP status: a gRPC error travels in trailers after a 200, so callers check
    what a run did (bench.submit counts the messages it stored).
    """
    program = shutil.which("h2load")
    if program is None:
        raise SystemExit("h2load not found: install nghttp2-client (apt-get install nghttp2-client)")
    with tempfile.TemporaryDirectory(prefix="sb-h2load-") as scratch:
        data, log = f"{scratch}/body", f"{scratch}/log"
        with open(data, "wb") as out:
            out.write(body)
        arguments = [
            f"--clients={concurrency}",
            "--max-concurrent-streams=1",
            f"--duration={round((warmup + duration) * 1000)}ms",
            f"--data={data}",
            f"--log-file={log}",
            *(f"--header={name}: {value}" for name, value in headers.items()),
            *(["--h1"] if http1 else []),
            url,
        ]
        process = await asyncio.create_subprocess_exec(
            program, *arguments, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        output, _ = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"h2load failed: {output.decode(errors='replace')[-500:]}")
        rows = []
        with open(log) as lines:
            for line in lines:
                began_us, status_text, took_us = line.split("\t")[:3]
                rows.append((int(began_us) / 1e6, int(status_text), int(took_us) / 1e6))
    result = Result(seconds=duration, completed=len(rows))
    if not rows:
        return result
    start = min(began for began, _, _ in rows)
    measure_from, stop_at = start + warmup, start + warmup + duration
    for began, status, took in rows:
        if began >= measure_from and began + took <= stop_at:
            if status == expect:
                result.latencies.append(took)
            else:
                result.errors += 1
    return result


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
