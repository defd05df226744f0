"""The outbox relay process, which also runs the periodic housekeeping jobs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable

from kernel import db
from kernel.outbox_relay import Relay
from kernel.settings import Settings

__all__ = ["LOCK_BASE", "jobs", "run", "run_job"]

log = logging.getLogger("switchboard.relay")

# Housekeeping: (name, first run after, then every, job). Each job is idempotent, and takes a
# PostgreSQL advisory lock so that when several relays run, one of them does the work.
Job = Callable[[db.Pool], Awaitable[int]]


async def _purge_raw_events(pool: db.Pool) -> int:
    from webhooks import operations

    return await operations.purge(pool)


def _sync_templates(settings: Settings) -> Job:
    async def job(pool: db.Pool) -> int:
        from tenants.templates import GraphTemplates, sync_all
        from tenants.vault import Vault

        return await sync_all(pool, Vault(settings.keyring()), GraphTemplates(settings.graph_url))

    return job


async def _fire_fallback_timers(pool: db.Pool) -> int:
    from messaging.fallback import fire_due_timers

    return await fire_due_timers(pool)


async def _dispatch_partner_webhooks(pool: db.Pool) -> int:
    from webhooks.outbound.dispatch import dispatch_due

    return await dispatch_due(pool)


async def _fire_scheduled_messages(pool: db.Pool) -> int:
    from messaging.scheduling import fire_due

    return await fire_due(pool)


async def _purge_idempotency_records(pool: db.Pool) -> int:
    from edge.idempotency import purge

    return await purge(pool)


def jobs(settings: Settings) -> list[tuple[str, float, float, Job]]:
    # Appended, never inserted: a job's index is its advisory lock key.
    return [
        ("purge raw events", 60.0, 3600.0, _purge_raw_events),
        # Webhooks keep statuses current between syncs; the sync catches what a lost webhook missed.
        ("sync templates", 300.0, 900.0, _sync_templates(settings)),
        # fallback_after: a message not delivered in time moves on to its next channel.
        ("fire fallback timers", 1.0, 1.0, _fire_fallback_timers),
        # Partner webhooks due now (new events, and retries whose wait is over) go to the workers.
        ("dispatch partner webhooks", 0.2, 0.2, _dispatch_partner_webhooks),
        # send_at: a scheduled message's delivery goes to the outbox when it is due.
        ("fire scheduled messages", 1.0, 1.0, _fire_scheduled_messages),
        ("purge idempotency records", 120.0, 3600.0, _purge_idempotency_records),
    ]


LOCK_BASE = 0x5B0A_0000  # + the job's index: its advisory lock key


async def run_job(
    pool: db.Pool, stop: asyncio.Event, index: int, name: str, first: float, every: float, job: Job
) -> None:
    delay = first
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
            return
        delay = every
        try:
            async with pool.acquire() as conn:
                if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_BASE + index):
                    continue
                try:
                    done = await job(pool)
                finally:
                    await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_BASE + index)
            # A frequent job that found nothing to do is not news.
            log.log(logging.INFO if done else logging.DEBUG, "job done", extra={"fields": {"job": name, "count": done}})
        except Exception:
            log.exception("job failed; it runs again at its next time", extra={"fields": {"job": name}})


async def run(settings: Settings) -> None:
    from entrypoints import worker_app  # sets up the broker and registers the actors
    from kernel.logging import configure

    configure(settings.log_level, process="relay")

    # Each job holds one connection for its advisory lock while its work takes another: room for
    # every job at once, and the relay's own.
    pool = await db.create_pool(settings.asyncpg_dsn, min_size=1, max_size=2 * len(jobs(settings)) + 4)
    relay = Relay(pool, settings.asyncpg_dsn, worker_app.broker, bulk_in_flight=settings.bulk_in_flight)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(run_job(pool, stop, i, *job)) for i, job in enumerate(jobs(settings))]
    log.info("relay started")
    try:
        await relay.run(stop)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await pool.close()
        log.info("relay stopped", extra={"fields": {"published": relay.published}})
