"""``switchboard``: the one console script. Each subcommand is a process or an operator task."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any
from uuid import UUID

import asyncpg

from kernel import settings as settings_module
from kernel.errors import SwitchboardError
from kernel.settings import Settings, SettingsError

__all__ = ["main"]


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:  # pragma: no cover - uvloop is absent only on Windows
        return asyncio.run(coro)


def cmd_api(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    settings.require_master_key()
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
    from entrypoints.grpc_server import serve

    settings.require_master_key()
    _run(serve(settings))
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from entrypoints.worker_app import QUEUES

    settings.require_master_key()
    argv = [
        sys.executable,
        "-m",
        "dramatiq",
        "entrypoints.worker_app",
        "--processes",
        str(args.processes or settings.worker_processes),
        "--threads",
        str(args.threads or settings.worker_threads),
        "--worker-shutdown-timeout",
        "30000",
        "--queues",
        *QUEUES,
    ]
    # Replace this process, so SIGTERM reaches Dramatiq's own graceful shutdown directly.
    os.execv(sys.executable, argv)


def cmd_relay(settings: Settings, args: argparse.Namespace) -> int:
    from entrypoints.relay import run
    from kernel.logging import configure

    configure(settings.log_level, process="relay")
    _run(run(settings))
    return 0


def cmd_sandbox(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from kernel.logging import configure

    configure(settings.log_level, process="sandbox")
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


async def _with_connection(settings: Settings, fn: Callable[..., Coroutine[Any, Any, Any]]) -> Any:
    from kernel import db

    pool = await db.create_pool(settings.asyncpg_dsn, min_size=1, max_size=1)
    try:
        async with db.unit_of_work(pool) as conn:
            return await fn(conn)
    finally:
        await pool.close()


def cmd_tenant_create(settings: Settings, args: argparse.Namespace) -> int:
    from kernel.crypto import MasterKey
    from tenants import service
    from tenants.vault import Vault

    vault = Vault(MasterKey(settings.require_master_key()))
    tenant = _run(_with_connection(settings, lambda conn: service.create_tenant(conn, vault, args.name)))
    print(tenant.id)
    return 0


def cmd_apikey_create(settings: Settings, args: argparse.Namespace) -> int:
    from tenants import service

    record, key = _run(_with_connection(settings, lambda conn: service.create_api_key(conn, args.tenant, args.name)))
    print(key)
    print(
        f"key id {record.id} (for `switchboard apikey revoke`). Store the key now: it is shown only once.",
        file=sys.stderr,
    )
    return 0


def cmd_apikey_revoke(settings: Settings, args: argparse.Namespace) -> int:
    from tenants import service

    _run(_with_connection(settings, lambda conn: service.revoke_api_key(conn, args.tenant, args.key_id)))
    print(f"revoked {args.key_id}")
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
    add("grpc", cmd_grpc, "Serve gRPC (with health and reflection) on SWITCHBOARD_GRPC_PORT.")
    worker = add("worker", cmd_worker, "Run the Dramatiq delivery and reconciliation workers.")
    worker.add_argument("--processes", type=int, default=0)
    worker.add_argument("--threads", type=int, default=0)
    add("relay", cmd_relay, "Run the outbox relay (publishes committed work to the workers).")
    sandbox = add("sandbox", cmd_sandbox, "Run the provider emulators on SWITCHBOARD_SANDBOX_PORT.")
    sandbox.add_argument("--host", default="127.0.0.1")
    add("migrate", cmd_migrate, "Create the database if needed and apply all migrations.")

    tenant = sub.add_parser("tenant", help="Manage tenants.").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    create = tenant.add_parser("create", help="Create a tenant and print its id.")
    create.add_argument("name")
    create.set_defaults(fn=cmd_tenant_create)

    apikey = sub.add_parser("apikey", help="Manage API keys.").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    key = apikey.add_parser("create", help="Create an API key and print it (once).")
    key.add_argument("--tenant", required=True, type=UUID, help="tenant id")
    key.add_argument("--name", default="", help="a label for the key")
    key.set_defaults(fn=cmd_apikey_create)
    revoke = apikey.add_parser("revoke", help="Revoke an API key: it stops working at once.")
    revoke.add_argument("--tenant", required=True, type=UUID, help="tenant id")
    revoke.add_argument("key_id", type=UUID, help="the key id printed by `apikey create`")
    revoke.set_defaults(fn=cmd_apikey_revoke)
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
