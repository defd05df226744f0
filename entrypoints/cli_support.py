"""Helpers the ``switchboard`` subcommands share: running a coroutine, a database pool or one
transaction for a command, operator input read and validated like the REST API's."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kernel.settings import Settings

__all__ = ["convert", "progress", "read_json", "run", "when", "with_connection", "with_pool"]


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:  # pragma: no cover - uvloop is absent only on Windows
        return asyncio.run(coro)


async def with_connection(settings: Settings, fn: Callable[..., Coroutine[Any, Any, Any]]) -> Any:
    from kernel import db

    pool = await db.create_pool(settings.asyncpg_dsn, min_size=1, max_size=1)
    try:
        async with db.unit_of_work(pool) as conn:
            return await fn(conn)
    finally:
        await pool.close()


def when(value: str) -> datetime:
    """An ISO 8601 time (UTC when no offset is given) or an age: 90m, 48h, 7d."""
    units = {"m": "minutes", "h": "hours", "d": "days"}
    if value[:-1].isdigit() and value[-1:] in units:
        return datetime.now(UTC) - timedelta(**{units[value[-1]]: int(value[:-1])})
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time: {value!r} (try 2026-11-20T00:00:00Z or 48h)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def progress(verb: str) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        print(f"{verb} {done}/{total} raw events" if total else f"{verb} {done} raw events", file=sys.stderr)

    return report


async def with_pool(settings: Settings, fn: Callable[[Any], Coroutine[Any, Any, Any]]) -> Any:
    from kernel import db

    pool = await db.create_pool(settings.asyncpg_dsn, min_size=1, max_size=2)
    try:
        return await fn(pool)
    finally:
        await pool.close()


def convert(data: Any, into: Any) -> Any:
    """Validate operator input with the same schema the REST API uses (errors name the field)."""
    import msgspec

    from kernel.errors import InvalidInput, schema_violation

    try:
        return msgspec.convert(data, into)
    except msgspec.ValidationError as error:
        raise InvalidInput.many([schema_violation(str(error))]) from None


def read_json(source: str, into: Any) -> Any:
    """A JSON document from a file, or from stdin for "-" (so secrets stay out of the command line
    and shell history)."""
    import msgspec

    from kernel.errors import InvalidInput

    try:
        raw = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as error:
        raise InvalidInput("file", "readable", f"cannot read {source}: {error.strerror}") from None
    try:
        return convert(msgspec.json.decode(raw), into)
    except msgspec.DecodeError as error:
        raise InvalidInput("body", "json", f"not valid JSON: {error}") from None
