"""``switchboard messages`` subcommands: operators' dead-letter work (list, retry, discard)."""

from __future__ import annotations

import argparse
from typing import Any
from uuid import UUID

from entrypoints.cli_support import run, with_connection
from kernel.settings import Settings

__all__ = ["register"]


def cmd_dead_letters(settings: Settings, args: argparse.Namespace) -> int:
    from messaging import dead_letters

    found = run(
        with_connection(
            settings,
            lambda conn: dead_letters.list_dead_letters(conn, args.tenant, cursor=args.cursor, limit=args.limit),
        )
    )
    if not found.data:
        print("no dead letters")
    for d in found.data:
        error = d.message.error
        reason = error.reason if error is not None else ""
        print(f"{d.message.id}  {d.failed_at:%Y-%m-%d %H:%M:%S}  {d.message.to}  attempts={d.attempts}  {reason}")
    if found.next_cursor:
        print(f"more: --cursor {found.next_cursor}")
    return 0


def cmd_retry(settings: Settings, args: argparse.Namespace) -> int:
    from messaging import dead_letters

    message = run(with_connection(settings, lambda conn: dead_letters.retry(conn, args.tenant, args.message_id)))
    print(f"{message.id} {message.status}")
    return 0


def cmd_discard(settings: Settings, args: argparse.Namespace) -> int:
    from messaging import dead_letters

    message = run(with_connection(settings, lambda conn: dead_letters.discard(conn, args.tenant, args.message_id)))
    print(f"{message.id} discarded (stays {message.status})")
    return 0


def cmd_routing(settings: Settings, args: argparse.Namespace) -> int:
    from messaging import routing_policy
    from messaging.schemas import RoutingPolicy

    async def change(conn: Any) -> Any:
        if args.channels is None and args.fallback_after is None and not args.clear:
            return await routing_policy.get_policy(conn, args.tenant)
        policy = RoutingPolicy() if args.clear else await routing_policy.get_policy(conn, args.tenant)
        channels = args.channels.split(",") if args.channels else policy.channels
        after = args.fallback_after if args.fallback_after is not None else policy.fallback_after
        return await routing_policy.set_policy(
            conn, args.tenant, RoutingPolicy(channels=channels, fallback_after=after or None)
        )

    policy = run(with_connection(settings, change))
    order = ",".join(policy.channels) if policy.channels else "whatsapp,sms,email (default)"
    after = f"{policy.fallback_after} s" if policy.fallback_after else "none"
    print(f"channels {order}; fallback_after {after}")
    return 0


def register(sub: Any) -> None:
    """Add these subcommands to the ``switchboard`` parser's subparsers."""
    messages = sub.add_parser("messages", help="Dead letters: messages that failed for good.").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    listing = messages.add_parser("dead-letters", help="List a tenant's dead letters, most recently failed first.")
    listing.add_argument("--tenant", required=True, type=UUID, help="tenant id")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (1-100, default 50)")
    listing.add_argument("--cursor", default=None, help="continue from a previous listing")
    listing.set_defaults(fn=cmd_dead_letters)
    for name, fn, help_text in (
        ("retry", cmd_retry, "Send a dead letter again, with a fresh round of attempts."),
        ("discard", cmd_discard, "Set a dead letter aside: it stays failed and leaves the list."),
    ):
        action = messages.add_parser(name, help=help_text)
        action.add_argument("--tenant", required=True, type=UUID, help="tenant id")
        action.add_argument("message_id", type=UUID)
        action.set_defaults(fn=fn)
    routing = messages.add_parser(
        "routing",
        help="Show or set a tenant's default fallback route (for messages that give none of their own).",
    )
    routing.add_argument("--tenant", required=True, type=UUID, help="tenant id")
    routing.add_argument("--channels", help="e.g. whatsapp,email,sms (WhatsApp first)")
    routing.add_argument("--fallback-after", type=int, help="seconds without delivery before the next channel; 0: none")
    routing.add_argument("--clear", action="store_true", help="back to the built-in default first")
    routing.set_defaults(fn=cmd_routing)
