"""``switchboard``: the one console script. Each subcommand is a process or an operator task."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
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


def _require_keys(settings: Settings) -> None:
    """Refuse to start with a master key that cannot unwrap the tenants' data keys: every request
    that touches a secret would fail, long after the deploy looked healthy."""
    from tenants.keys import missing_keys

    keyring = settings.keyring()  # no key at all: say so before trying the database
    missing = _run(_with_pool(settings, lambda pool: missing_keys(pool, keyring)))
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
    from entrypoints.grpc_server import serve

    _require_keys(settings)
    _run(serve(settings))
    return 0


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
        subprocess.Popen(_dramatiq(bulk, threads, BULK_QUEUES)),
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
    from tenants import service
    from tenants.vault import Vault

    vault = Vault(settings.keyring())
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


def _when(value: str) -> datetime:
    """An ISO 8601 time (UTC when no offset is given) or an age: 90m, 48h, 7d."""
    units = {"m": "minutes", "h": "hours", "d": "days"}
    if value[:-1].isdigit() and value[-1:] in units:
        return datetime.now(UTC) - timedelta(**{units[value[-1]]: int(value[:-1])})
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time: {value!r} (try 2026-11-20T00:00:00Z or 48h)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _progress(verb: str) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        print(f"{verb} {done}/{total} raw events" if total else f"{verb} {done} raw events", file=sys.stderr)

    return report


async def _with_pool(settings: Settings, fn: Callable[[Any], Coroutine[Any, Any, Any]]) -> Any:
    from kernel import db

    pool = await db.create_pool(settings.asyncpg_dsn, min_size=1, max_size=2)
    try:
        return await fn(pool)
    finally:
        await pool.close()


def cmd_webhooks_replay(settings: Settings, args: argparse.Namespace) -> int:
    from webhooks import operations

    done = _run(
        _with_pool(
            settings,
            lambda pool: operations.replay(pool, args.tenant, args.since, args.until, _progress("replayed")),
        )
    )
    print(f"replayed {done.events} raw events: {done.statuses} statuses, {done.inbound} inbound messages")
    return 0


def cmd_webhooks_check(settings: Settings, args: argparse.Namespace) -> int:
    from webhooks import operations

    checked, differences = _run(
        _with_pool(settings, lambda pool: operations.check(pool, args.tenant, _progress("read")))
    )
    for d in differences:
        print(f"{d.message_id}: live {d.live}, rebuilt from its events {d.rebuilt}")
    print(f"checked {checked} messages: {len(differences)} differ")
    return 1 if differences else 0


def cmd_webhooks_purge(settings: Settings, args: argparse.Namespace) -> int:
    from webhooks import operations

    deleted = _run(_with_pool(settings, lambda pool: operations.purge(pool, _progress("purged"))))
    print(f"purged {deleted} raw events past their tenant's retention")
    return 0


def cmd_webhooks_retention(settings: Settings, args: argparse.Namespace) -> int:
    from tenants import service

    _run(_with_connection(settings, lambda conn: service.set_raw_retention(conn, args.tenant, args.days)))
    print(f"raw callbacks of {args.tenant} are kept {args.days} days")
    return 0


def cmd_webhooks_status(settings: Settings, args: argparse.Namespace) -> int:
    from webhooks import operations

    rows = _run(_with_pool(settings, lambda pool: operations.summary(pool, args.tenant)))
    print(f"{'tenant':36}  {'state':12}  {'count':>8}  oldest")
    for r in rows:
        print(f"{r['tenant_id']!s:36}  {r['state']!s:12}  {r['count']:>8}  {r['oldest']:%Y-%m-%d %H:%M:%S}")
    return 0


def cmd_keys_rotate(settings: Settings, args: argparse.Namespace) -> int:
    from tenants.keys import rotate

    keyring = settings.keyring()

    def progress(done: int, total: int) -> None:
        print(f"re-wrapped {done}/{total} data keys", file=sys.stderr)

    done = _run(_with_pool(settings, lambda pool: rotate(pool, keyring, progress)))
    print(f"re-wrapped {done.rewrapped} data keys; {done.under_current} are under master key {keyring.current.key_id}")
    if done.stuck:
        for kek_id, count in done.stuck.items():
            print(
                f"{count} data keys are still under master key {kek_id}, which this run was not given", file=sys.stderr
            )
        return 1
    if keyring.previous:
        print("nothing is left under a previous key: SWITCHBOARD_PREVIOUS_MASTER_KEYS can be removed")
    return 0


def cmd_keys_status(settings: Settings, args: argparse.Namespace) -> int:
    from kernel import db
    from tenants import repository

    keyring = settings.keyring()

    async def usage(pool: db.Pool) -> dict[str, int]:
        async with pool.acquire() as conn:
            return await repository.data_key_usage(conn)

    for kek_id, count in _run(_with_pool(settings, usage)).items():
        role = (
            "current"
            if kek_id == keyring.current.key_id
            else "previous"
            if keyring.get(kek_id)
            else "NOT GIVEN to this process"
        )
        print(f"master key {kek_id} ({role}): {count} data keys")
    return 0


def cmd_credentials_list(settings: Settings, args: argparse.Namespace) -> int:
    from tenants import service

    found = _run(_with_connection(settings, lambda conn: service.list_credentials(conn, args.tenant)))
    for c in found.data:
        _print_credential(c)
    return 0


def _convert(data: Any, into: Any) -> Any:
    """Validate operator input with the same schema the REST API uses (errors name the field)."""
    import msgspec

    from kernel.errors import InvalidInput, schema_violation

    try:
        return msgspec.convert(data, into)
    except msgspec.ValidationError as error:
        raise InvalidInput.many([schema_violation(str(error))]) from None


def _read_json(source: str, into: Any) -> Any:
    """A JSON document from a file, or from stdin for "-" (so secrets stay out of the command line
    and shell history)."""
    import msgspec

    from kernel.errors import InvalidInput

    try:
        raw = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as error:
        raise InvalidInput("file", "readable", f"cannot read {source}: {error.strerror}") from None
    try:
        return _convert(msgspec.json.decode(raw), into)
    except msgspec.DecodeError as error:
        raise InvalidInput("body", "json", f"not valid JSON: {error}") from None


def _print_credential(c: Any) -> None:
    secrets = ", ".join(f"{name} {fp}" for name, fp in sorted(c.fingerprints.items())) or "no secrets"
    default = " (default)" if c.is_default else ""
    print(f"{c.id}  {c.kind:8} {c.name}{default}  {secrets}  {c.webhook_path or ''}".rstrip())


def cmd_credentials_add(settings: Settings, args: argparse.Namespace) -> int:
    from tenants import service
    from tenants.schemas import NewCredential
    from tenants.vault import Vault

    new = _read_json(args.file, NewCredential)
    vault = Vault(settings.keyring())
    _print_credential(
        _run(_with_connection(settings, lambda conn: service.add_credential(conn, vault, args.tenant, new)))
    )
    return 0


def _print_sender(s: Any) -> None:
    default = " (default)" if s.is_default else ""
    print(
        f"{s.id}  {s.phone_number_id}  {s.display_phone_number}{default}  WABA {s.waba_id}  "
        f"{s.throughput_mps} mps  quality {s.quality_rating}  {s.status}"
    )


def cmd_senders_add(settings: Settings, args: argparse.Namespace) -> int:
    from tenants import service
    from tenants.schemas import NewSender

    new = _convert(
        {
            "phone_number_id": args.phone_number_id,
            "display_phone_number": args.display_number,
            "credential_id": args.credential,
            "waba_id": args.waba,
            "throughput_mps": args.throughput,
            "is_default": args.default,
        },
        NewSender,
    )
    _print_sender(_run(_with_connection(settings, lambda conn: service.create_sender(conn, args.tenant, new))))
    return 0


def cmd_templates_create(settings: Settings, args: argparse.Namespace) -> int:
    from tenants.schemas import NewTemplate
    from tenants.templates import GraphTemplates, create_template
    from tenants.vault import Vault

    new: NewTemplate = _read_json(args.file, NewTemplate)
    vault, graph = Vault(settings.keyring()), GraphTemplates(settings.graph_url)
    t = _run(_with_pool(settings, lambda pool: create_template(pool, vault, graph, args.tenant, new)))
    print(f"{t.id}  {t.waba_id}  {t.name}  {t.language}  {t.category}  {t.status}")
    return 0


def _print_plan(plan: Any, tenants: int | None = None) -> None:
    monthly = "unlimited" if plan.monthly_messages is None else f"{plan.monthly_messages}/month"
    channels = "".join(f" {c}={n}/month" for c, n in sorted(plan.monthly_by_channel.items()))
    on = "" if tenants is None else f"  ({tenants} tenants)"
    print(
        f"{plan.id}  {plan.rate_per_second:g}/s burst {plan.burst}  {monthly}{channels}  batch {plan.max_batch}  "
        f"tier {plan.tier_policy}{on}"
    )


def cmd_plans_list(settings: Settings, args: argparse.Namespace) -> int:
    from tenants import plans

    for plan, tenants in _run(_with_connection(settings, plans.list_plans)):
        _print_plan(plan, tenants)
    return 0


def cmd_plans_set(settings: Settings, args: argparse.Namespace) -> int:
    from kernel.errors import InvalidInput
    from tenants import plans
    from tenants.domain import Plan

    by_channel: dict[str, int] = {}
    for item in args.monthly_channel:
        channel, _, count = item.partition("=")
        if not count.isdigit():
            raise InvalidInput("--monthly-channel", "format", f"expected CHANNEL=N, got {item!r}")
        by_channel[channel] = int(count)
    plan = Plan(
        id=args.plan,
        rate_per_second=args.rate,
        burst=args.burst,
        monthly_messages=args.monthly,
        monthly_by_channel=by_channel,
        max_batch=args.max_batch,
        tier_policy=args.tier_policy,
    )
    _print_plan(_run(_with_connection(settings, lambda conn: plans.put_plan(conn, plan))))
    return 0


def cmd_tenant_plan(settings: Settings, args: argparse.Namespace) -> int:
    from tenants import plans

    _run(_with_connection(settings, lambda conn: plans.assign(conn, args.tenant, args.plan)))
    print(f"tenant {args.tenant} is on plan {args.plan}")
    return 0


def cmd_senders_list(settings: Settings, args: argparse.Namespace) -> int:
    from tenants import service

    for s in _run(_with_connection(settings, lambda conn: service.list_senders(conn, args.tenant))):
        _print_sender(s)
    return 0


def cmd_templates_list(settings: Settings, args: argparse.Namespace) -> int:
    from tenants import service

    for t in _run(_with_connection(settings, lambda conn: service.list_templates(conn, args.tenant))):
        print(f"{t.waba_id}  {t.name}  {t.language}  {t.category}  {t.status}")
    return 0


def cmd_templates_sync(settings: Settings, args: argparse.Namespace) -> int:
    from tenants.templates import GraphTemplates, sync_templates
    from tenants.vault import Vault

    vault, graph = Vault(settings.keyring()), GraphTemplates(settings.graph_url)
    done = _run(_with_pool(settings, lambda pool: sync_templates(pool, vault, graph, args.tenant)))
    print(f"{done.listed} templates listed by WhatsApp; {done.retired} no longer listed, marked DELETED")
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
    on_plan = tenant.add_parser("plan", help="Put a tenant on a plan (applies from its next request).")
    on_plan.add_argument("--tenant", required=True, type=UUID, help="tenant id")
    on_plan.add_argument("plan", help="plan id (see: switchboard plans list)")
    on_plan.set_defaults(fn=cmd_tenant_plan)

    plans = sub.add_parser("plans", help="Plans: submission rate, burst, monthly quotas.").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    plans.add_parser("list", help="Every plan and how many tenants are on it.").set_defaults(fn=cmd_plans_list)
    put = plans.add_parser(
        "set",
        help="Create or change a plan (applies from the next request of each tenant on it).",
        description="Create or change a plan. Example: switchboard plans set starter --rate 10 --burst 20 "
        "--monthly 10000 --monthly-channel sms=1000 --max-batch 100",
    )
    put.add_argument("plan", help="plan id: lowercase letters, digits, - and _")
    put.add_argument("--rate", type=float, required=True, help="submissions per second, sustained")
    put.add_argument("--burst", type=int, required=True, help="submissions allowed at once (bucket size)")
    put.add_argument("--monthly", type=int, help="messages per calendar month, UTC (default: unlimited)")
    put.add_argument(
        "--monthly-channel",
        action="append",
        default=[],
        metavar="CHANNEL=N",
        help="a channel's monthly messages (whatsapp, sms, email); repeatable",
    )
    put.add_argument("--max-batch", type=int, default=100, help="messages per batch request (default 100)")
    put.add_argument(
        "--tier-policy",
        choices=("wait", "fail"),
        default="wait",
        help="a message to a new recipient once the WhatsApp account's daily tier is reached: "
        "wait for the next day (default) or fail",
    )
    put.set_defaults(fn=cmd_plans_set)

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

    keys = sub.add_parser("keys", help="Master key operations.").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    rotate = keys.add_parser(
        "rotate",
        help="Re-wrap every tenant data key under SWITCHBOARD_MASTER_KEY (safe to re-run).",
        description="Re-wrap every tenant data key under the current master key (SWITCHBOARD_MASTER_KEY), "
        "unwrapping with the old one given in SWITCHBOARD_PREVIOUS_MASTER_KEYS. Serving continues throughout; "
        "an interrupted run is simply run again. See README, 'Rotating the master key'.",
    )
    rotate.set_defaults(fn=cmd_keys_rotate)
    key_status = keys.add_parser("status", help="How many data keys each master key wraps.")
    key_status.set_defaults(fn=cmd_keys_status)

    credentials = sub.add_parser("credentials", help="Provider credentials (secrets are never shown).").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    listing = credentials.add_parser(
        "list", help="A tenant's credentials: kind, name, secret fingerprints, webhook path."
    )
    listing.add_argument("--tenant", required=True, type=UUID, help="tenant id")
    listing.set_defaults(fn=cmd_credentials_list)
    adding = credentials.add_parser(
        "add",
        help="Store a provider credential from a JSON file or stdin (the body POST /v1/credentials takes).",
        description="Store a provider credential. The JSON is the body POST /v1/credentials takes, e.g. "
        '{"kind": "sms", "name": "twilio", "account_sid": "AC...", "auth_token": "...", "from_number": "+1..."}. '
        "Read from a file or from stdin, so secrets never appear on the command line.",
    )
    adding.add_argument("--tenant", required=True, type=UUID, help="tenant id")
    adding.add_argument("--file", default="-", help="JSON file (default: stdin)")
    adding.set_defaults(fn=cmd_credentials_add)
    senders = sub.add_parser("senders", help="WhatsApp sender numbers.").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    listing = senders.add_parser("list", help="A tenant's numbers, the default first.")
    listing.add_argument("--tenant", required=True, type=UUID, help="tenant id")
    listing.set_defaults(fn=cmd_senders_list)
    adding = senders.add_parser("add", help="Add a WhatsApp number to send from.")
    adding.add_argument("--tenant", required=True, type=UUID, help="tenant id")
    adding.add_argument("--phone-number-id", required=True, help="Meta's id of the number (digits)")
    adding.add_argument("--display-number", required=True, help="the number in E.164, e.g. +15550100001")
    adding.add_argument("--credential", type=UUID, help="WhatsApp credential id (default: the default one)")
    adding.add_argument("--waba", help="WABA id (default: the credential's)")
    adding.add_argument("--throughput", type=int, default=80, help="sends per second Meta allows (1-1000, default 80)")
    adding.add_argument(
        "--default", action=argparse.BooleanOptionalAction, default=None, help="make it the default number"
    )
    adding.set_defaults(fn=cmd_senders_add)

    templates = sub.add_parser("templates", help="Message templates.").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    listing = templates.add_parser("list", help="A tenant's templates with their status.")
    listing.add_argument("--tenant", required=True, type=UUID, help="tenant id")
    listing.set_defaults(fn=cmd_templates_list)
    sync = templates.add_parser(
        "sync", help="Fetch a tenant's templates from WhatsApp now (the relay also does it every 15 min)."
    )
    sync.add_argument("--tenant", required=True, type=UUID, help="tenant id")
    sync.set_defaults(fn=cmd_templates_sync)
    create = templates.add_parser(
        "create",
        help="Create a template from a JSON file or stdin (the body POST /v1/templates takes) and submit it.",
    )
    create.add_argument("--tenant", required=True, type=UUID, help="tenant id")
    create.add_argument("--file", default="-", help="JSON file (default: stdin)")
    create.set_defaults(fn=cmd_templates_create)

    webhooks = sub.add_parser("webhooks", help="Operate on the raw log of provider callbacks.").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    replay = webhooks.add_parser(
        "replay",
        help="Reconcile a tenant's stored callbacks again (idempotent: recorded facts are skipped).",
        description="Reconcile a tenant's stored callbacks again, oldest first. Idempotent: recorded facts "
        "are skipped. Example: switchboard webhooks replay --tenant 0b6f... --since 48h",
    )
    replay.add_argument("--tenant", required=True, type=UUID, help="tenant id")
    replay.add_argument("--since", required=True, type=_when, help="ISO 8601 time or an age (90m, 48h, 7d)")
    replay.add_argument("--until", type=_when, default=None, help="ISO 8601 time or an age (default: now)")
    replay.set_defaults(fn=cmd_webhooks_replay)
    check = webhooks.add_parser(
        "check",
        help="Rebuild each message's status from its stored events and list any that differ (exit 1 if any).",
    )
    check.add_argument("--tenant", required=True, type=UUID, help="tenant id")
    check.set_defaults(fn=cmd_webhooks_check)
    purge = webhooks.add_parser(
        "purge", help="Delete reconciled callbacks older than each tenant's retention (default 30 days)."
    )
    purge.set_defaults(fn=cmd_webhooks_purge)
    retention = webhooks.add_parser(
        "retention", help="Set how many days a tenant's raw callbacks are kept (default 30; audit events stay)."
    )
    retention.add_argument("--tenant", required=True, type=UUID, help="tenant id")
    retention.add_argument("--days", required=True, type=int, help="1 to 3650")
    retention.set_defaults(fn=cmd_webhooks_retention)
    status = webhooks.add_parser("status", help="Count stored callbacks by tenant and state (orphaned, unparseable).")
    status.add_argument("--tenant", type=UUID, default=None, help="only this tenant")
    status.set_defaults(fn=cmd_webhooks_status)
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
