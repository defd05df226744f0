"""The gRPC server: the messaging, tenant (credentials), template, sender, billing and webhook
endpoint services, health checking and server reflection."""

from __future__ import annotations

import asyncio
import logging
import signal

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from switchboard.billing.v1 import billing_pb2, billing_pb2_grpc
from switchboard.messaging.v1 import messaging_pb2, messaging_pb2_grpc
from switchboard.senders.v1 import senders_pb2, senders_pb2_grpc
from switchboard.templates.v1 import templates_pb2, templates_pb2_grpc
from switchboard.tenants.v1 import tenants_pb2, tenants_pb2_grpc
from switchboard.webhooks.v1 import webhooks_pb2, webhooks_pb2_grpc

from billing.servicer import BillingServicer, PlanServicer
from kernel import db
from kernel.logging import configure
from kernel.runtime import tune_gc
from kernel.settings import Settings
from messaging.servicer import MessagingServicer
from tenants.quotas import Quotas, quota_client
from tenants.senders_servicer import SenderServicer
from tenants.servicer import TenantServicer
from tenants.templates import GraphTemplates
from tenants.templates_servicer import TemplateServicer
from tenants.vault import Vault
from webhooks.outbound.servicer import WebhookEndpointServicer

__all__ = ["serve"]

log = logging.getLogger("switchboard.grpc")

SERVICE_NAMES = (
    messaging_pb2.DESCRIPTOR.services_by_name["MessagingService"].full_name,
    tenants_pb2.DESCRIPTOR.services_by_name["TenantService"].full_name,
    billing_pb2.DESCRIPTOR.services_by_name["BillingService"].full_name,
    billing_pb2.DESCRIPTOR.services_by_name["PlanService"].full_name,
    webhooks_pb2.DESCRIPTOR.services_by_name["WebhookEndpointService"].full_name,
    templates_pb2.DESCRIPTOR.services_by_name["TemplateService"].full_name,
    senders_pb2.DESCRIPTOR.services_by_name["SenderService"].full_name,
)


async def serve(settings: Settings, *, grace: float = 10.0, ready: asyncio.Event | None = None) -> None:
    configure(settings.log_level, process="grpc")
    settings.require_master_key()
    pool = await db.create_pool(settings.asyncpg_dsn, min_size=2, max_size=16)
    # SO_REUSEPORT (grpcio's default on Linux, set here to say so): `switchboard grpc --processes N`
    # runs N of these on one port.
    server = grpc.aio.server(options=[("grpc.so_reuseport", 1)])
    quotas_client = quota_client(settings.redis_url)
    quotas = Quotas(quotas_client) if settings.quotas else None
    messaging_pb2_grpc.add_MessagingServiceServicer_to_server(MessagingServicer(pool, quotas), server)
    tenants_pb2_grpc.add_TenantServiceServicer_to_server(
        TenantServicer(pool, Vault(settings.keyring()), GraphTemplates(settings.graph_url)), server
    )
    templates_pb2_grpc.add_TemplateServiceServicer_to_server(
        TemplateServicer(pool, Vault(settings.keyring()), GraphTemplates(settings.graph_url)), server
    )
    senders_pb2_grpc.add_SenderServiceServicer_to_server(SenderServicer(pool), server)
    billing_pb2_grpc.add_BillingServiceServicer_to_server(BillingServicer(pool), server)
    billing_pb2_grpc.add_PlanServiceServicer_to_server(PlanServicer(pool), server)
    webhooks_pb2_grpc.add_WebhookEndpointServiceServicer_to_server(
        WebhookEndpointServicer(pool, Vault(settings.keyring()), allow_private=settings.webhook_allow_private), server
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    server.add_insecure_port(f"0.0.0.0:{settings.grpc_port}")
    tune_gc()
    await server.start()
    for name in ("", *SERVICE_NAMES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("gRPC listening", extra={"fields": {"port": settings.grpc_port}})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    await stop.wait()
    # Report NOT_SERVING first so balancers drain us, then let in-flight calls finish.
    await health_servicer.enter_graceful_shutdown()
    await server.stop(grace)
    await pool.close()
    await quotas_client.aclose()
    log.info("gRPC stopped")
