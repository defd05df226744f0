"""``switchboard`` subcommands for tenants: tenants and plans, API keys, master keys, credentials,
senders and templates."""

from __future__ import annotations

import argparse
import sys
from typing import Any
from uuid import UUID

from entrypoints.cli_support import convert, read_json, run, with_connection, with_pool
from kernel.settings import Settings

__all__ = ["register"]


def cmd_tenant_create(settings: Settings, args: argparse.Namespace) -> int:
    from tenants import service
    from tenants.vault import Vault

    vault = Vault(settings.keyring())
    tenant = run(with_connection(settings, lambda conn: service.create_tenant(conn, vault, args.name)))
    print(tenant.id)
    return 0


def cmd_apikey_create(settings: Settings, args: argparse.Namespace) -> int:
    from tenants import service

    record, key = run(with_connection(settings, lambda conn: service.create_api_key(conn, args.tenant, args.name)))
    print(key)
    print(
        f"key id {record.id} (for `switchboard apikey revoke`). Store the key now: it is shown only once.",
        file=sys.stderr,
    )
    return 0


def cmd_operator_key_create(settings: Settings, args: argparse.Namespace) -> int:
    from tenants import operators

    key_id, key = run(with_connection(settings, lambda conn: operators.create_key(conn, args.name)))
    print(key)
    print(f"operator key id {key_id}. Store the key now: it is shown only once.", file=sys.stderr)
    return 0


def cmd_operator_key_revoke(settings: Settings, args: argparse.Namespace) -> int:
    from tenants import operators

    if not run(with_connection(settings, lambda conn: operators.revoke_key(conn, args.key_id))):
        print(f"switchboard: no live operator key {args.key_id}", file=sys.stderr)
        return 1
    print(f"revoked {args.key_id}")
    return 0


def cmd_apikey_revoke(settings: Settings, args: argparse.Namespace) -> int:
    from tenants import service

    run(with_connection(settings, lambda conn: service.revoke_api_key(conn, args.tenant, args.key_id)))
    print(f"revoked {args.key_id}")
    return 0


def cmd_keys_rotate(settings: Settings, args: argparse.Namespace) -> int:
    from tenants.keys import rotate

    keyring = settings.keyring()

    def progress(done: int, total: int) -> None:
        print(f"re-wrapped {done}/{total} data keys", file=sys.stderr)

    done = run(with_pool(settings, lambda pool: rotate(pool, keyring, progress)))
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

    for kek_id, count in run(with_pool(settings, usage)).items():
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

    found = run(with_connection(settings, lambda conn: service.list_credentials(conn, args.tenant)))
    for c in found.data:
        _print_credential(c)
    return 0


def _print_credential(c: Any) -> None:
    secrets = ", ".join(f"{name} {fp}" for name, fp in sorted(c.fingerprints.items())) or "no secrets"
    default = " (default)" if c.is_default else ""
    print(f"{c.id}  {c.kind:8} {c.name}{default}  {secrets}  {c.webhook_path or ''}".rstrip())


def cmd_credentials_add(settings: Settings, args: argparse.Namespace) -> int:
    from tenants import service
    from tenants.schemas import NewCredential
    from tenants.vault import Vault

    new = read_json(args.file, NewCredential)
    vault = Vault(settings.keyring())
    _print_credential(
        run(with_connection(settings, lambda conn: service.add_credential(conn, vault, args.tenant, new)))
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

    new = convert(
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
    _print_sender(run(with_connection(settings, lambda conn: service.create_sender(conn, args.tenant, new))))
    return 0


def cmd_templates_create(settings: Settings, args: argparse.Namespace) -> int:
    from tenants.schemas import NewTemplate
    from tenants.templates import GraphTemplates, create_template
    from tenants.vault import Vault

    new: NewTemplate = read_json(args.file, NewTemplate)
    vault, graph = Vault(settings.keyring()), GraphTemplates(settings.graph_url)
    t = run(with_pool(settings, lambda pool: create_template(pool, vault, graph, args.tenant, new)))
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

    for plan, tenants in run(with_connection(settings, plans.list_plans)):
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
    _print_plan(run(with_connection(settings, lambda conn: plans.put_plan(conn, plan))))
    return 0


def cmd_tenant_plan(settings: Settings, args: argparse.Namespace) -> int:
    from tenants import plans

    run(with_connection(settings, lambda conn: plans.assign(conn, args.tenant, args.plan)))
    print(f"tenant {args.tenant} is on plan {args.plan}")
    return 0


def cmd_senders_list(settings: Settings, args: argparse.Namespace) -> int:
    from tenants import service

    for s in run(with_connection(settings, lambda conn: service.list_senders(conn, args.tenant))):
        _print_sender(s)
    return 0


def cmd_templates_list(settings: Settings, args: argparse.Namespace) -> int:
    from tenants import service

    for t in run(with_connection(settings, lambda conn: service.list_templates(conn, args.tenant))):
        print(f"{t.waba_id}  {t.name}  {t.language}  {t.category}  {t.status}")
    return 0


def cmd_templates_sync(settings: Settings, args: argparse.Namespace) -> int:
    from tenants.templates import GraphTemplates, sync_templates
    from tenants.vault import Vault

    vault, graph = Vault(settings.keyring()), GraphTemplates(settings.graph_url)
    done = run(with_pool(settings, lambda pool: sync_templates(pool, vault, graph, args.tenant)))
    print(f"{done.listed} templates listed by WhatsApp; {done.retired} no longer listed, marked DELETED")
    return 0


def register(sub: Any) -> None:
    """Add these subcommands to the ``switchboard`` parser's subparsers."""
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

    operator = sub.add_parser("operator", help="Operators' API keys (plans and rate cards over REST and gRPC).")
    operator_keys = operator.add_subparsers(dest="what", required=True, metavar="WHAT").add_parser(
        "key", help="Create or revoke an operator key."
    )
    operator_actions = operator_keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    make = operator_actions.add_parser("create", help="Create an operator key (sbop_...) and print it (once).")
    make.add_argument("--name", default="", help="a label for the key")
    make.set_defaults(fn=cmd_operator_key_create)
    drop = operator_actions.add_parser("revoke", help="Revoke an operator key: it stops working at once.")
    drop.add_argument("key_id", type=UUID)
    drop.set_defaults(fn=cmd_operator_key_revoke)

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
