"""``switchboard``: the one console script. Each subcommand is a process or an operator task."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import asyncpg

from entrypoints import cli_admin, cli_billing, cli_messages, cli_tenants, cli_webhooks
from entrypoints.cli_support import run, with_pool
from kernel import settings as settings_module
from kernel.errors import SwitchboardError
from kernel.settings import Settings, SettingsError

__all__ = ["main"]


def _require_keys(settings: Settings) -> None:
    """Refuse to start with a master key that cannot unwrap the tenants' data keys: every request
    that touches a secret would fail, long after the deploy looked healthy."""
    from tenants.keys import missing_keys

    keyring = settings.keyring()  # no key at all: say so before trying the database
    missing = run(with_pool(settings, lambda pool: missing_keys(pool, keyring)))
    if missing:
        kek_id, count = next(iter(missing.items()))
        raise SettingsError(
            "SWITCHBOARD_MASTER_KEY",
            f"is not the master key that wraps {count} tenants' data keys (key id {kek_id}); "
            "during a rotation, put the old key in SWITCHBOARD_PREVIOUS_MASTER_KEYS",
        )


def cmd_api(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    _require_keys(settings)
    uvicorn.run(
        "entrypoints.http:create_app",
        factory=True,
        host=args.host,
        port=settings.http_port,
        workers=args.workers or settings.api_workers,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=15,
    )
    return 0


def cmd_grpc(settings: Settings, args: argparse.Namespace) -> int:
    import socket

    from entrypoints.grpc_server import listening_socket, serve

    _require_keys(settings)
    if args.fd is not None:  # one of the servers below, on the socket it inherited
        run(serve(settings, sock=socket.socket(fileno=args.fd)))
        return 0
    processes = args.processes or settings.grpc_processes
    if processes == 1:
        run(serve(settings))
        return 0
    # Several servers on one socket, bound here and inherited, as uvicorn's workers share the REST
    # port (see grpc_server.listening_socket). Signals are forwarded, and the command exits when
    # every server has.
    shared = listening_socket(settings.grpc_port)
    fd = str(shared.fileno())
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "entrypoints.cli", "grpc", "--processes", "1", "--fd", fd],
            pass_fds=(shared.fileno(),),
        )
        for _ in range(processes)
    ]
    shared.close()

    def forward(signum: int, frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [child.wait() for child in children]
    return max(codes, default=0)


def _dramatiq(processes: int, threads: int, queues: tuple[str, ...]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "dramatiq",
        "entrypoints.worker_app",
        "--processes",
        str(processes),
        "--threads",
        str(threads),
        "--worker-shutdown-timeout",
        "30000",
        "--queues",
        *queues,
    ]


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from entrypoints.worker_app import BULK_QUEUES, QUEUES

    _require_keys(settings)
    processes = args.processes or settings.worker_processes
    threads = args.threads or settings.worker_threads
    bulk = settings.bulk_worker_processes
    if bulk == 0:
        # One pool for everything: replace this process, so SIGTERM reaches Dramatiq directly.
        os.execv(sys.executable, _dramatiq(processes, threads, QUEUES + BULK_QUEUES))
    # Two pools: bulk work gets processes of its own, so a backlog of it never occupies the
    # threads transactional messages need (Dramatiq orders work by priority only within a
    # process, and a busy thread is not given back until its task ends).
    pools = [
        subprocess.Popen(_dramatiq(processes, threads, QUEUES)),
        subprocess.Popen(_dramatiq(bulk, settings.bulk_worker_threads, BULK_QUEUES)),
    ]
    stopping = False

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pool in pools:
            if pool.poll() is None:
                pool.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while all(pool.poll() is None for pool in pools):
        time.sleep(0.2)
    if not stopping:  # one pool died on its own: stop the other, so the whole worker restarts
        forward(signal.SIGTERM, None)
    return max(pool.wait() for pool in pools)


def cmd_relay(settings: Settings, args: argparse.Namespace) -> int:
    from entrypoints.relay import run as relay
    from kernel.logging import configure

    configure(settings.log_level, process="relay")
    run(relay(settings))
    return 0


def cmd_sandbox(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from kernel.logging import configure

    configure(settings.log_level, process="sandbox")
    os.environ["SWITCHBOARD_SANDBOX_SMTP_HOST"] = args.host  # the SMTP server listens beside the HTTP one
    uvicorn.run(
        "sandbox.app:create_app",
        factory=True,
        host=args.host,
        port=settings.sandbox_port,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level.lower(),
        access_log=False,
        log_config=None,
    )
    return 0


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from entrypoints.database import migrate

    migrate(settings.asyncpg_dsn, settings.database_url)
    print("database is at the latest migration")
    return 0


def cmd_dev(settings: Settings, args: argparse.Namespace) -> int:
    from entrypoints.dev import run_dev

    return run_dev(settings, workdir=os.getcwd())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="switchboard",
        description="Switchboard: multi-tenant, WhatsApp-first messaging. Settings come from the environment "
        "(DATABASE_URL, REDIS_URL, SWITCHBOARD_MASTER_KEY, SWITCHBOARD_GRAPH_URL, SWITCHBOARD_*_PORT).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, fn: Callable[[Settings, argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(fn=fn)
        return command

    add("dev", cmd_dev, "Run everything locally: migrate, demo tenant, API, gRPC, workers, relay, sandbox.")
    api = add("api", cmd_api, "Serve the REST API and webhook ingress on SWITCHBOARD_HTTP_PORT.")
    api.add_argument("--host", default="0.0.0.0")
    api.add_argument("--workers", type=int, default=0, help="worker processes (default SWITCHBOARD_API_WORKERS, 2)")
    grpc_command = add("grpc", cmd_grpc, "Serve gRPC (with health and reflection) on SWITCHBOARD_GRPC_PORT.")
    grpc_command.add_argument(
        "--processes", type=int, default=0, help="server processes (default SWITCHBOARD_GRPC_PROCESSES, 2)"
    )
    grpc_command.add_argument("--fd", type=int, help=argparse.SUPPRESS)  # the shared socket, for the servers it starts
    worker = add("worker", cmd_worker, "Run the Dramatiq delivery and reconciliation workers.")
    worker.add_argument("--processes", type=int, default=0)
    worker.add_argument("--threads", type=int, default=0)
    add("relay", cmd_relay, "Run the outbox relay (publishes committed work to the workers).")
    sandbox = add("sandbox", cmd_sandbox, "Run the provider emulators on SWITCHBOARD_SANDBOX_PORT.")
    sandbox.add_argument("--host", default="127.0.0.1")
    add("migrate", cmd_migrate, "Create the database if needed and apply all migrations.")

    cli_tenants.register(sub)
    cli_billing.register(sub)
    cli_webhooks.register(sub)
    cli_messages.register(sub)
    cli_admin.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = settings_module.load()
        return int(args.fn(settings, args))
    except SettingsError as error:
        print(f"switchboard: bad setting {error}", file=sys.stderr)
        return 2
    except SwitchboardError as error:
        print(f"switchboard: {error.detail}", file=sys.stderr)
        return 1
    except (OSError, asyncpg.PostgresError) as error:
        print(f"switchboard: cannot use the database or Redis: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
