"""The REST API, webhook ingress and admin console: one Litestar application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as redis
from litestar import Litestar, Request, get
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, ScalarRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from admin_ui.app import admin_router, template_config
from admin_ui.throttle import LoginThrottle
from billing.controllers import BillingController
from billing.operator_controllers import OperatorPlanController
from edge.openapi import document_problems
from edge.rest import EXCEPTION_HANDLERS, pool
from kernel import db
from kernel import settings as settings_module
from kernel.logging import configure
from kernel.metrics import Counters, render
from kernel.runtime import tune_gc
from messaging.controllers import (
    DeadLetterController,
    InboundController,
    MessageBatchController,
    MessageController,
    RoutingPolicyController,
)
from messaging.send_route import SendRoute
from tenants.callers import Callers
from tenants.controllers import CredentialController, SenderController, TemplateController
from tenants.quotas import Quotas, quota_client
from tenants.templates import GraphTemplates
from tenants.vault import Vault
from webhooks.controllers import email_webhook, twilio_webhook, whatsapp_webhook
from webhooks.endpoints import Endpoints
from webhooks.ingest import Ingestor
from webhooks.outbound.controllers import WebhookEndpointController
from webhooks.raw_log import RawLog

__all__ = ["create_app"]

MAX_API_BODY = 64 * 1024  # documented in the README; webhooks allow more (webhooks.ingest.MAX_BODY)


@get("/healthz", tags=["health"], summary="Liveness", include_in_schema=True)
async def healthz() -> dict[str, str]:
    """200 while the process serves requests; for a load balancer's liveness check."""
    return {"status": "ok"}


@get("/readyz", tags=["health"], summary="Readiness: the database answers")
async def readyz(request: Request[Any, Any, State]) -> dict[str, str]:
    """200 when PostgreSQL answers; until then a load balancer should send no traffic here."""
    await pool(request).fetchval("SELECT 1")
    return {"status": "ready"}


@get("/metrics", tags=["health"], summary="Counters, in Prometheus' text format", media_type="text/plain")
async def metrics(request: Request[Any, Any, State]) -> str:
    """The process's counters (webhooks received, quota fallbacks, ...) for Prometheus to scrape."""
    counters: Counters = request.app.state.counters
    return render(await counters.read())


def create_app(config: settings_module.Settings | None = None) -> SendRoute:
    config = config or settings_module.load()
    keyring = config.keyring()
    # Secure cookies wherever the public URL is https; plain-http loopback (dev, tests) cannot
    # carry them in every client.
    secure_cookies = (config.public_url or "").startswith("https://")
    configure(config.log_level, process="api")

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.pool = await db.create_pool(config.asyncpg_dsn, min_size=2, max_size=16)
        app.state.vault = Vault(keyring)
        app.state.graph_templates = GraphTemplates(config.graph_url)
        app.state.redis = redis.from_url(config.redis_url)
        app.state.counters = Counters(app.state.redis)
        app.state.quotas_client = quota_client(config.redis_url)
        app.state.login_throttle = LoginThrottle(app.state.redis)
        app.state.webhook_allow_private = config.webhook_allow_private
        app.state.provider_urls = {"graph_url": config.graph_url, "twilio_url": config.twilio_url}
        app.state.admin_secure_cookies = secure_cookies
        app.state.quotas = Quotas(app.state.quotas_client) if config.quotas else None
        app.state.callers = Callers()
        app.state.ingestor = Ingestor(
            Endpoints(app.state.pool, app.state.vault), RawLog(app.state.pool), app.state.counters, config.public_url
        )
        tune_gc()
        try:
            yield
        finally:
            await app.state.pool.close()
            await app.state.redis.aclose()
            await app.state.quotas_client.aclose()

    openapi = OpenAPIConfig(
        title="Switchboard",
        version="1.0.0",
        description="WhatsApp-first messaging: submit messages, follow them to delivery.",
        path="/schema",
        use_handler_docstrings=True,  # a handler's docstring is its operation's description
        render_plugins=[JsonRenderPlugin(), ScalarRenderPlugin(path="/scalar")],
        components=Components(
            security_schemes={"apiKey": SecurityScheme(type="http", scheme="bearer", description="sb_… API key")}
        ),
    )
    handlers: list[Any] = [
        MessageController,
        MessageBatchController,
        InboundController,
        DeadLetterController,
        RoutingPolicyController,
        BillingController,
        OperatorPlanController,
        CredentialController,
        TemplateController,
        SenderController,
        WebhookEndpointController,
        whatsapp_webhook,
        twilio_webhook,
        email_webhook,
        healthz,
        readyz,
        metrics,
        _docs,
        admin_router(keyring, secure_cookies=secure_cookies),
    ]
    app = Litestar(
        route_handlers=handlers,
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=openapi,
        template_config=template_config(),
        request_max_body_size=MAX_API_BODY,
        # Ours (JSON lines, see kernel.logging), not Litestar's default, which would replace it.
        logging_config=None,
        debug=False,
    )
    document_problems(app.openapi_schema)
    return SendRoute(app, MAX_API_BODY)  # POST /v1/messages without the framework (see its docstring)


@get("/docs", include_in_schema=False, media_type="text/html")
async def _docs() -> str:
    # Interactive API reference (Scalar) over the served OpenAPI document.
    return (
        "<!doctype html><html><head><title>Switchboard API</title><meta charset='utf-8'/></head><body>"
        "<script id='api-reference' data-url='/schema/openapi.json'></script>"
        "<script src='https://cdn.jsdelivr.net/npm/@scalar/api-reference'></script></body></html>"
    )
