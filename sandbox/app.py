"""``switchboard sandbox``: provider emulators: WhatsApp Cloud API and Twilio's Messages resource on
one HTTP port, and an SMTP server on ``SWITCHBOARD_SANDBOX_SMTP_PORT`` (8025)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from litestar import Litestar, get

from kernel.settings import SettingsError
from sandbox import smtp, twilio
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


def _smtp_port() -> int:
    raw = os.environ.get("SWITCHBOARD_SANDBOX_SMTP_PORT", "8025")
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise SettingsError("SWITCHBOARD_SANDBOX_SMTP_PORT", f"expected a port number, got {raw!r}")
    return int(raw)


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
    delays = _delays()
    host = os.environ.get("SWITCHBOARD_SANDBOX_SMTP_HOST", "127.0.0.1")
    smtp_port = _smtp_port()
    slow = _slow()
    mailbox = smtp.Mailbox(slow_seconds=slow)
    state = SandboxState(status_delays=delays, slow_seconds=slow)
    sms = twilio.TwilioState(status_delays=delays[:2], slow_seconds=slow)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.sandbox = state
        app.state.templates = TemplateStore()
        app.state.twilio = sms
        app.state.twilio_http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        app.state.mailbox = mailbox
        smtp_server = await smtp.serve(mailbox, host, smtp_port)
        dispatcher = asyncio.create_task(state.dispatcher.run())
        try:
            yield
        finally:
            smtp_server.close()
            dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await dispatcher
            await twilio.close(sms)
            await mailbox.close()
            await app.state.twilio_http.close()

    return Litestar(
        route_handlers=[
            CloudApiController,
            TemplatesController,
            ControlController,
            TemplatesControlController,
            twilio.TwilioController,
            twilio.TwilioControlController,
            smtp.EmailControlController,
            healthz,
        ],
        lifespan=[lifespan],
        openapi_config=None,
        request_max_body_size=4 * 1024 * 1024,
    )
