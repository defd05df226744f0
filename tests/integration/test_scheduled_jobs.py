"""The relay's housekeeping loop: runs each job on its schedule, one relay at a time, stops cleanly."""

from __future__ import annotations

import asyncio

from entrypoints.relay import LOCK_BASE, run_job
from kernel.db import Pool


async def test_a_job_runs_on_schedule_and_only_under_its_lock(pool: Pool) -> None:
    runs: list[int] = []

    async def job(_: Pool) -> int:
        runs.append(1)
        return 0

    stop = asyncio.Event()
    # A second relay holds the job's lock for a while: the job must not run meanwhile.
    async with pool.acquire() as other:
        assert await other.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_BASE + 7)
        loop = asyncio.create_task(run_job(pool, stop, 7, "test", 0.05, 0.05, job))
        await asyncio.sleep(0.3)
        assert runs == []
        await other.execute("SELECT pg_advisory_unlock($1)", LOCK_BASE + 7)
    await asyncio.sleep(0.3)
    assert len(runs) >= 2
    stop.set()
    await asyncio.wait_for(loop, 2)


async def test_a_failing_job_is_retried_at_its_next_time(pool: Pool) -> None:
    calls = 0

    async def job(_: Pool) -> int:
        nonlocal calls
        calls += 1
        raise RuntimeError("boom")

    stop = asyncio.Event()
    loop = asyncio.create_task(run_job(pool, stop, 8, "failing", 0.02, 0.05, job))
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.wait_for(loop, 2)
    assert calls >= 2
