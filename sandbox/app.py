"""``switchboard sandbox``: provider emulators on one port (WhatsApp Cloud API today)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, get

from kernel.settings import SettingsError
from sandbox.templates import TemplatesControlController, TemplatesController, TemplateStore
from sandbox.whatsapp import CloudApiController, ControlController, SandboxState

__all__ = ["create_app"]


def _delays() -> tuple[float, float, float]:
    raw = os.environ.get("SWITCHBOARD_SANDBOX_STATUS_DELAYS_MS", "100,300,600")
    try:
        sent, delivered, read = (int(x) / 1000 for x in raw.split(","))
    except ValueError:
        raise SettingsError(
            "SWITCHBOARD_SANDBOX_STATUS_DELAYS_MS", f"expected three whole numbers like 100,300,600, got {raw!r}"
        ) from None
    return sent, delivered, read


def _slow() -> float:
    raw = os.environ.get("SWITCHBOARD_SANDBOX_SLOW_SECONDS", "5")
    try:
        return float(raw)
    except ValueError:
        raise SettingsError("SWITCHBOARD_SANDBOX_SLOW_SECONDS", f"expected a number, got {raw!r}") from None


@get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def create_app() -> Litestar:
    state = SandboxState(status_delays=_delays(), slow_seconds=_slow())

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.sandbox = state
        app.state.templates = TemplateStore()
        dispatcher = asyncio.create_task(state.dispatcher.run())
        try:
            yield
        finally:
            dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await dispatcher

    return Litestar(
        route_handlers=[
            CloudApiController,
            TemplatesController,
            ControlController,
            TemplatesControlController,
            healthz,
        ],
        lifespan=[lifespan],
        openapi_config=None,
        request_max_body_size=4 * 1024 * 1024,
    )
