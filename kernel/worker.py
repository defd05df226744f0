"""Dramatiq wiring: the Redis broker, per-process resources, and the ``task`` decorator.

Import order matters to Dramatiq: actors bind to the global broker when they are decorated, so
:func:`setup_broker` runs before any ``*/tasks.py`` module is imported (see
``entrypoints/worker_app.py``).

Actors are thin async shells around idempotent functions that take ids, never objects. Everything
bound to an event loop (the asyncpg pool, HTTP clients) is created lazily inside the worker's one
loop thread (Dramatiq's ``AsyncIO`` middleware), once per process.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import AsyncIO, CurrentMessage, Middleware

from kernel import db
from kernel.crypto import Keyring
from kernel.inflight import WorkerLedger
from kernel.logging import log_context
from kernel.scripts import ScriptRunner
from kernel.settings import Settings

__all__ = [
    "BATCH",
    "QUEUE",
    "Batching",
    "Resources",
    "batch_task",
    "bulk_task",
    "resources",
    "setup_broker",
    "task",
]

log = logging.getLogger("switchboard.worker")

NAMESPACE = "switchboard"
QUEUE = "default"
# A worker that stops heartbeating for this long is presumed dead, and the tasks it held are
# handed to live workers (checked during broker maintenance; made frequent here so a killed
# worker's messages come back within seconds, not minutes).
HEARTBEAT_TIMEOUT_MS = 15_000
MAINTENANCE_CHANCE = 50_000  # per million broker commands

_settings: Settings | None = None


class Batching(Middleware):
    """Declares the actor options read by the outbox relay: ``max_batch`` (see :func:`batch_task`)
    and ``in_flight``, the item field the tenant's in-flight ledger knows an item by
    (:mod:`kernel.inflight`)."""

    @property
    def actor_options(self) -> set[str]:
        return {"max_batch", "in_flight"}


def setup_broker(settings: Settings) -> RedisBroker:
    """Create the Redis broker, make it Dramatiq's global broker, and remember the settings."""
    global _settings
    _settings = settings
    broker = RedisBroker(  # type: ignore[no-untyped-call]  # dramatiq leaves __init__ unannotated
        url=settings.redis_url,
        namespace=NAMESPACE,
        heartbeat_timeout=HEARTBEAT_TIMEOUT_MS,
        maintenance_chance=MAINTENANCE_CHANCE,
    )
    broker.add_middleware(AsyncIO())
    broker.add_middleware(CurrentMessage())
    broker.add_middleware(Batching())
    dramatiq.set_broker(broker)
    return broker


class Resources:
    """Per-process, loop-bound resources of a worker, created on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool: db.Pool | None = None
        self._lock: asyncio.Lock | None = None
        self._extras: dict[str, Any] = {}

    @functools.cached_property
    def keyring(self) -> Keyring:
        return self.settings.keyring()

    async def pool(self) -> db.Pool:
        if self._pool is None:
            if self._lock is None:
                self._lock = asyncio.Lock()
            async with self._lock:
                if self._pool is None:
                    self._pool = await db.create_pool(
                        self.settings.asyncpg_dsn, min_size=1, max_size=self.settings.worker_threads
                    )
        return self._pool

    def extra(self, name: str, factory: Callable[[], Any]) -> Any:
        """A named per-process object (e.g. a provider client cache), built once."""
        if name not in self._extras:
            self._extras[name] = factory()
        return self._extras[name]


_resources: Resources | None = None


def _worker_ledger() -> WorkerLedger:
    res = resources()
    ledger: WorkerLedger = res.extra("in_flight", lambda: WorkerLedger(ScriptRunner(res.settings.redis_url)))
    return ledger


def resources() -> Resources:
    global _resources
    if _resources is None:
        if _settings is None:
            raise RuntimeError("setup_broker() has not run in this process")
        _resources = Resources(_settings)
    return _resources


def _declare(
    fn: Callable[..., Awaitable[None]],
    name: str,
    queue: str,
    *,
    time_limit_ms: int,
    min_backoff_ms: int,
    **options: Any,
) -> Any:
    """The one place actors are declared, with the retry policy they share."""
    return dramatiq.actor(
        actor_name=name,
        queue_name=queue,
        max_retries=10_000,  # our own attempt counts decide when to give up
        min_backoff=min_backoff_ms,
        max_backoff=60_000,
        time_limit=time_limit_ms,
        **options,
    )(fn)


P = ParamSpec("P")
R = TypeVar("R")


def task(
    name: str, *, queue: str = QUEUE, time_limit_ms: int = 120_000, min_backoff_ms: int = 500
) -> Callable[[Callable[P, Awaitable[None]]], dramatiq.Actor[P, Awaitable[None]]]:
    """Declare an actor named ``"<domain>.<verb>"`` whose body is an idempotent coroutine.

    Retries of unexpected errors (database or broker hiccups) back off from ``min_backoff_ms`` up
    to a minute; domain retries raise :class:`dramatiq.Retry` with their own delay.
    """

    def decorate(fn: Callable[P, Awaitable[None]]) -> dramatiq.Actor[P, Awaitable[None]]:
        @functools.wraps(fn)
        async def run(*args: P.args, **kwargs: P.kwargs) -> None:
            ids = {k: v for k, v in kwargs.items() if k.endswith("_id")}
            with log_context(task=name, **ids):
                await fn(*args, **kwargs)

        actor: dramatiq.Actor[P, Awaitable[None]] = _declare(
            run, name, queue, time_limit_ms=time_limit_ms, min_backoff_ms=min_backoff_ms
        )
        return actor

    return decorate


BATCH = "batch"  # the keyword argument a batch task receives


def batch_task(
    name: str,
    *,
    queue: str = QUEUE,
    max_batch: int = 50,
    time_limit_ms: int = 120_000,
    priority: int = 0,
    in_flight: str | None = None,
) -> Callable[[Callable[..., Awaitable[None]]], dramatiq.Actor[..., Awaitable[None]]]:
    """Declare an actor whose idempotent coroutine handles one item (keyword arguments), but whose
    Dramatiq messages carry up to ``max_batch`` items (``batch=[{...}, ...]``).

    The relay packs consecutive outbox rows of such a topic into one message, which spares each
    item the broker's per-message cost (fetch, ack, bookkeeping: about a quarter of a worker's CPU
    when one message carries one item). Items run concurrently; an item that fails or asks to be
    retried is sent again on its own, with its own delay, so one item never holds back another.

    With ``in_flight`` (the name of an item field, e.g. ``"message_id"``), the relay counts each
    published item in its tenant's in-flight ledger, and an item leaves it once it is done, not
    when it is put back for later: this is how bulk work is shared fairly among tenants.
    """

    def decorate(fn: Callable[..., Awaitable[None]]) -> dramatiq.Actor[..., Awaitable[None]]:
        async def one(item: dict[str, Any]) -> int | None:
            """Run one item; None when done, else the delay (ms) before it should run again."""
            ids = {k: v for k, v in item.items() if k.endswith("_id")}
            with log_context(task=name, **ids):
                try:
                    await fn(**item)
                except dramatiq.Retry as retry:
                    return int(retry.delay or 0)
                except Exception:
                    log.exception("task item failed; retrying it alone")
                    return 5_000
            return None

        async def run(batch: list[dict[str, Any]]) -> None:
            delays = await asyncio.gather(*(one(item) for item in batch))
            if in_flight is not None:
                done: dict[str, list[str]] = {}
                for item, delay in zip(batch, delays, strict=True):
                    if delay is None:
                        done.setdefault(str(item["tenant_id"]), []).append(str(item[in_flight]))
                await _worker_ledger().done(done)
            for item, delay in zip(batch, delays, strict=True):
                if delay is not None:
                    # If this enqueue fails the whole batch is retried by Dramatiq; items already
                    # done are no-ops the second time (the coroutine is idempotent).
                    actor.send_with_options(kwargs={BATCH: [item]}, delay=delay)

        options: dict[str, Any] = {"in_flight": in_flight} if in_flight else {}
        actor: dramatiq.Actor[..., Awaitable[None]] = _declare(
            run,
            name,
            queue,
            time_limit_ms=time_limit_ms,
            min_backoff_ms=500,
            max_batch=max_batch,
            priority=priority,
            **options,
        )
        return actor

    return decorate


def bulk_task(
    name: str, *, queue: str = QUEUE, max_batch: int = 50, time_limit_ms: int = 120_000
) -> Callable[[Callable[[list[dict[str, Any]]], Awaitable[dict[int, int]]]], dramatiq.Actor[..., Awaitable[None]]]:
    """Like :func:`batch_task`, but the coroutine takes the whole batch of items at once (to do
    the work of all of them in a few statements), and returns ``{index: delay_ms}`` for the items
    that should run again, alone, after a delay.

    If the coroutine fails, each item of a batch of several is sent again on its own, so that an
    item that cannot succeed never takes the others down with it; a lone item is retried by
    Dramatiq with backoff.
    """

    def decorate(
        fn: Callable[[list[dict[str, Any]]], Awaitable[dict[int, int]]],
    ) -> dramatiq.Actor[..., Awaitable[None]]:
        async def run(batch: list[dict[str, Any]]) -> None:
            with log_context(task=name):
                try:
                    again = await fn(batch)
                except Exception:
                    if len(batch) == 1:
                        raise
                    log.exception(
                        "batch failed; retrying its items one by one", extra={"fields": {"items": len(batch)}}
                    )
                    again = dict.fromkeys(range(len(batch)), 0)
            for index, delay in again.items():
                actor.send_with_options(kwargs={BATCH: [batch[index]]}, delay=delay)

        actor: dramatiq.Actor[..., Awaitable[None]] = _declare(
            run, name, queue, time_limit_ms=time_limit_ms, min_backoff_ms=500, max_batch=max_batch
        )
        return actor

    return decorate
