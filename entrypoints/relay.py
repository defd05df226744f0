"""The outbox relay process."""

from __future__ import annotations

import asyncio
import logging
import signal

from kernel import db
from kernel.outbox_relay import Relay
from kernel.settings import Settings

__all__ = ["run"]

log = logging.getLogger("switchboard.relay")


async def run(settings: Settings) -> None:
    from entrypoints import worker_app  # sets up the broker and registers the actors
    from kernel.logging import configure

    configure(settings.log_level, process="relay")

    pool = await db.create_pool(settings.asyncpg_dsn, min_size=1, max_size=4)
    relay = Relay(pool, settings.asyncpg_dsn, worker_app.broker)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("relay started")
    try:
        await relay.run(stop)
    finally:
        await pool.close()
        log.info("relay stopped", extra={"fields": {"published": relay.published}})
