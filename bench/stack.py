"""A platform for a benchmark: a fresh database, a private Redis database, chosen processes."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import redis

from migrations import upgrade
from tests.fixtures.services import recreate_database
from tests.fixtures.stack import Stack

__all__ = ["bench_stack"]


def bench_stack(name: str, redis_db: int, env: dict[str, str]) -> tuple[Stack, str, Path]:
    """A stack (not started) on database ``switchboard_bench_<name>``, recreated and migrated, and
    Redis database ``redis_db``, flushed; logs go to a fresh temporary folder."""
    dsn = asyncio.run(recreate_database(f"switchboard_bench_{name}"))
    upgrade(dsn)
    logs = Path(tempfile.mkdtemp(prefix=f"sb-bench-{name}-"))
    redis_url = f"redis://127.0.0.1:6379/{redis_db}"
    redis.Redis.from_url(redis_url).flushdb()
    return Stack(dsn, redis_url, logs, {"SWITCHBOARD_LOG_LEVEL": "WARNING", **env}), dsn, logs
