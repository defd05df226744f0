"""The gRPC server: the messaging, tenant (credentials), template, sender, billing and webhook
endpoint services, health checking and server reflection, served over HTTP/2 by uvicorn
(:mod:`edge.grpc_http2` says why not by grpcio's server)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Callable, Iterator, Sized

import uvicorn
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc
from switchboard.billing.v1 import billing_pb2, billing_pb2_grpc
from switchboard.messaging.v1 import messaging_pb2, messaging_pb2_grpc
from switchboard.senders.v1 import senders_pb2, senders_pb2_grpc
from switchboard.templates.v1 import templates_pb2, templates_pb2_grpc
from switchboard.tenants.v1 import tenants_pb2, tenants_pb2_grpc
from switchboard.webhooks.v1 import webhooks_pb2, webhooks_pb2_grpc

from billing.servicer import BillingServicer, PlanServicer
from edge.grpc_http2 import GrpcApp, GrpcH2Protocol, Methods
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


# How long a server waits before taking a connection, per connection it serves (up to the cap).
ACCEPT_DELAY_PER_CONNECTION = 0.0005
ACCEPT_DELAY_MAX = 0.02


class _Acceptor:
    """Takes connections from the listening socket one at a time, later the more this process
    already serves, so that the servers sharing the socket share its connections.

    A gRPC client keeps its connection for as long as it runs, so where a connection lands decides
    which process serves its calls for good. Left to the event loop, a server woken by the socket
    takes every connection waiting: a client opening 16 connections at once found them split 16/0
    or 13/3 between two servers, one event loop serving most calls while the other idled. A server
    waits before each accept for 0.5 ms per connection it serves (20 ms at most), so the one with
    fewer takes the next, and a new connection waits no longer than that. A server alone on its
    socket (``spread=False``) has no one to leave connections to, and does not wait.
    """

    def __init__(
        self,
        sock: socket.socket,
        connections: Sized,
        factory: Callable[[], asyncio.Protocol],
        *,
        spread: bool = True,
    ) -> None:
        self._sock = sock
        self._connections = connections
        self._factory = factory
        self._spread = spread
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self._spread:
                await asyncio.sleep(min(len(self._connections) * ACCEPT_DELAY_PER_CONNECTION, ACCEPT_DELAY_MAX))
            conn: socket.socket | None = None
            try:
                conn, _ = await loop.sock_accept(self._sock)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                await loop.connect_accepted_socket(self._factory, conn)
            except OSError as error:  # out of file descriptors, or the client left already
                if conn is not None:
                    conn.close()  # accepted but not served: not left for the garbage collector
                log.warning("a gRPC connection could not be accepted", extra={"fields": {"error": str(error)}})
                await asyncio.sleep(0.1)

    def close(self) -> None:
        self._task.cancel()

    async def wait_closed(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class _Server(uvicorn.Server):
    """uvicorn's server taking connections through an :class:`_Acceptor`, and without its signal
    handling: :func:`serve` handles the signals, so that health turns NOT_SERVING before the
    server stops taking calls. ``shared``: other server processes take connections from its socket."""

    def __init__(self, config: uvicorn.Config, *, shared: bool) -> None:
        super().__init__(config)
        self.shared = shared

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        config, state = self.config, self.server_state  # uvicorn has loaded the config by now
        if not sockets or len(sockets) != 1:
            raise ValueError("the gRPC server serves exactly one listening socket")
        sock = sockets[0]
        sock.setblocking(False)
        sock.listen(config.backlog)

        def factory() -> asyncio.Protocol:
            return config.http_protocol_class(config=config, server_state=state, app_state={})  # type: ignore[call-arg]

        self.servers = [_Acceptor(sock, state.connections, factory, spread=self.shared)]  # type: ignore[list-item]
        self.started = True

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def listening_socket(port: int) -> socket.socket:
    """The gRPC port's socket. `switchboard grpc --processes N` binds it once and its N servers
    inherit it, as uvicorn's workers share the REST port: each takes connections from the one
    queue when it is free. (With SO_REUSEPORT the kernel hashed connections to the processes
    whatever their load: at concurrency 64, 0.88x of the reference against 0.94-0.96x shared.)"""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", port))
    return sock


async def serve(settings: Settings, *, sock: socket.socket | None = None, grace: int = 10) -> None:
    """Serve until SIGTERM or SIGINT, on ``sock`` (a listening socket shared with other server
    processes) or else on a socket of its own."""
    configure(settings.log_level, process="grpc")
    settings.require_master_key()
    pool = await db.create_pool(settings.asyncpg_dsn, min_size=2, max_size=16)
    quotas_client = quota_client(settings.redis_url)
    quotas = Quotas(quotas_client) if settings.quotas else None
    methods = Methods()
    messaging_pb2_grpc.add_MessagingServiceServicer_to_server(MessagingServicer(pool, quotas), methods)
    tenants_pb2_grpc.add_TenantServiceServicer_to_server(
        TenantServicer(pool, Vault(settings.keyring()), GraphTemplates(settings.graph_url)), methods
    )
    templates_pb2_grpc.add_TemplateServiceServicer_to_server(
        TemplateServicer(pool, Vault(settings.keyring()), GraphTemplates(settings.graph_url)), methods
    )
    senders_pb2_grpc.add_SenderServiceServicer_to_server(SenderServicer(pool), methods)
    billing_pb2_grpc.add_BillingServiceServicer_to_server(BillingServicer(pool), methods)
    billing_pb2_grpc.add_PlanServiceServicer_to_server(PlanServicer(pool), methods)
    webhooks_pb2_grpc.add_WebhookEndpointServiceServicer_to_server(
        WebhookEndpointServicer(pool, Vault(settings.keyring()), allow_private=settings.webhook_allow_private), methods
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, methods)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
        reflection.aio.ReflectionServicer((*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME)), methods
    )
    server = _Server(
        uvicorn.Config(
            GrpcApp(methods),
            http=GrpcH2Protocol,
            lifespan="off",
            log_config=None,
            log_level=settings.log_level.lower(),
            access_log=False,
            proxy_headers=False,
            server_header=False,
            date_header=False,
            # gRPC clients keep their connection for as long as they run; an idle one is not closed
            # for an hour (a client that sends on it as it closes is told by GOAWAY, and retries).
            timeout_keep_alive=3600,
            timeout_graceful_shutdown=grace,
        ),
        shared=sock is not None,
    )
    tune_gc()
    serving = asyncio.create_task(server.serve(sockets=[sock or listening_socket(settings.grpc_port)]))
    while not server.started and not serving.done():
        await asyncio.sleep(0.01)
    for name in ("", *SERVICE_NAMES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("gRPC listening", extra={"fields": {"port": settings.grpc_port}})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait((serving, stopping), return_when=asyncio.FIRST_COMPLETED)
    # Report NOT_SERVING first so balancers drain us, then let in-flight calls finish (new calls
    # are refused, and streams still open after the grace period are ended with UNAVAILABLE).
    await health_servicer.enter_graceful_shutdown()
    server.should_exit = True
    await serving
    stopping.cancel()
    await pool.close()
    await quotas_client.aclose()
    log.info("gRPC stopped")
