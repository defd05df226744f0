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
