"""``switchboard webhooks``: operate on the raw log of provider callbacks."""

from __future__ import annotations

import argparse
from typing import Any
from uuid import UUID

from entrypoints.cli_support import progress, run, when, with_connection, with_pool
from kernel.settings import Settings

__all__ = ["register"]


def cmd_webhooks_replay(settings: Settings, args: argparse.Namespace) -> int:
    from webhooks import operations

    done = run(
        with_pool(
            settings,
            lambda pool: operations.replay(pool, args.tenant, args.since, args.until, progress("replayed")),
        )
    )
    print(f"replayed {done.events} raw events: {done.statuses} statuses, {done.inbound} inbound messages")
    return 0


def cmd_webhooks_check(settings: Settings, args: argparse.Namespace) -> int:
    from webhooks import operations

    checked, differences = run(with_pool(settings, lambda pool: operations.check(pool, args.tenant, progress("read"))))
    for d in differences:
        print(f"{d.message_id}: live {d.live}, rebuilt from its events {d.rebuilt}")
    print(f"checked {checked} messages: {len(differences)} differ")
    return 1 if differences else 0


def cmd_webhooks_purge(settings: Settings, args: argparse.Namespace) -> int:
    from webhooks import operations

    deleted = run(with_pool(settings, lambda pool: operations.purge(pool, progress("purged"))))
    print(f"purged {deleted} raw events past their tenant's retention")
    return 0


def cmd_webhooks_retention(settings: Settings, args: argparse.Namespace) -> int:
    from tenants import service

    run(with_connection(settings, lambda conn: service.set_raw_retention(conn, args.tenant, args.days)))
    print(f"raw callbacks of {args.tenant} are kept {args.days} days")
    return 0


def cmd_webhooks_status(settings: Settings, args: argparse.Namespace) -> int:
    from webhooks import operations

    rows = run(with_pool(settings, lambda pool: operations.summary(pool, args.tenant)))
    print(f"{'tenant':36}  {'state':12}  {'count':>8}  oldest")
    for r in rows:
        print(f"{r['tenant_id']!s:36}  {r['state']!s:12}  {r['count']:>8}  {r['oldest']:%Y-%m-%d %H:%M:%S}")
    return 0


def register(sub: Any) -> None:
    """Add ``webhooks`` and its actions to the ``switchboard`` parser's subparsers."""
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
    replay.add_argument("--since", required=True, type=when, help="ISO 8601 time or an age (90m, 48h, 7d)")
    replay.add_argument("--until", type=when, default=None, help="ISO 8601 time or an age (default: now)")
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
