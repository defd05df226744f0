"""The Dramatiq broker module: ``dramatiq entrypoints.worker_app`` loads the broker and all actors.

Settings are read at import, because Dramatiq's CLI imports this module in each worker process.
"""

from __future__ import annotations

from kernel import settings as _settings
from kernel.logging import configure
from kernel.worker import setup_broker

settings = _settings.load()
configure(settings.log_level, process="worker")
broker = setup_broker(settings)

# Actor modules register on the broker above; import them only after it exists.
import messaging.tasks  # noqa: E402,F401
import webhooks.tasks  # noqa: E402,F401

QUEUES = ("messaging", "webhooks")
