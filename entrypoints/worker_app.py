"""The Dramatiq broker module: ``dramatiq entrypoints.worker_app`` loads the broker and all actors.

Settings are read at import, because Dramatiq's CLI imports this module in each worker process.
"""

from __future__ import annotations

import asyncio

import uvloop

from kernel import settings as _settings
from kernel.logging import configure
from kernel.worker import setup_broker

# Dramatiq's AsyncIO middleware creates its event loop from the current policy: make it uvloop,
# which halves the CPU the workers spend writing to PostgreSQL and provider sockets.
asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

settings = _settings.load()
configure(settings.log_level, process="worker")
broker = setup_broker(settings)

# Actor modules register on the broker above; import them only after it exists.
import messaging.tasks  # noqa: E402,F401
import webhooks.outbound.tasks  # noqa: E402
import webhooks.tasks  # noqa: E402,F401
from kernel.runtime import tune_gc  # noqa: E402

tune_gc()

QUEUES = ("messaging", "webhooks")
BULK_QUEUES = ("messaging-bulk",)
