"""``switchboard billing`` subcommands: operators' month-end work."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime, timedelta
from typing import Any

from entrypoints.cli_support import run, with_connection, with_pool
from kernel.settings import Settings

__all__ = ["register"]


def _previous_month() -> str:
    first = datetime.now(UTC).date().replace(day=1)
    return f"{first - timedelta(days=1):%Y-%m}"


def cmd_close_month(settings: Settings, args: argparse.Namespace) -> int:
    from billing import invoices

    month: date = invoices.month_of(args.month)
    print(f"closing {month:%Y-%m}...", file=sys.stderr)
    finalized, already = run(with_pool(settings, lambda pool: invoices.close_month(pool, month)))
    print(f"{month:%Y-%m}: {finalized} invoices finalized, {already} already final")
    return 0


def cmd_prices(settings: Settings, args: argparse.Namespace) -> int:
    from billing import rate_cards

    rows = run(with_connection(settings, lambda conn: rate_cards.list_prices(conn, args.plan)))
    plan = None
    for row in rows:
        if row["plan_id"] != plan:
            plan = row["plan_id"]
            print(f"{plan}  included {row['included_messages']} messages/month")
        if row["channel"] is not None:
            print(
                f"  {row['channel']:<9} {row['category']:<15} {row['country']:<3} {row['unit_price']} {row['currency']}"
            )
    return 0


def cmd_price(settings: Settings, args: argparse.Namespace) -> int:
    from billing import rate_cards

    async def change(conn: Any) -> None:
        if args.remove:
            if not await rate_cards.remove_price(conn, args.plan, args.channel, args.category, args.country):
                print("no such price", file=sys.stderr)
            return
        await rate_cards.set_price(
            conn, args.plan, args.channel, args.category, args.country, args.price, args.currency
        )

    if not args.remove and args.price is None:
        print("switchboard: --price is required (or --remove)", file=sys.stderr)
        return 2
    run(with_connection(settings, change))
    return cmd_prices(settings, args)


def cmd_included(settings: Settings, args: argparse.Namespace) -> int:
    from billing import rate_cards

    run(with_connection(settings, lambda conn: rate_cards.set_included(conn, args.plan, args.messages)))
    return cmd_prices(settings, args)


def register(sub: Any) -> None:
    """Add these subcommands to the ``switchboard`` parser's subparsers."""
    billing = sub.add_parser("billing", help="Rate cards and invoices.").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    close = billing.add_parser(
        "close-month",
        help="Finalize every tenant's invoice of an ended month (safe to run again: a final invoice never changes).",
    )
    close.add_argument("--month", default=_previous_month(), help="YYYY-MM (default: last month)")
    close.set_defaults(fn=cmd_close_month)
    prices = billing.add_parser("prices", help="Every plan's rate card and included messages.")
    prices.add_argument("--plan", help="only this plan")
    prices.set_defaults(fn=cmd_prices)
    price = billing.add_parser(
        "price",
        help="Set (or --remove) one price of a plan's rate card.",
        description="Set one price of a plan's rate card, in minor units (US cents for USD) per message, per "
        "segment for SMS. The most specific row wins: category and country, then category, then country. "
        "Example: switchboard billing price default whatsapp --category marketing --country IN --price 1",
    )
    price.add_argument("plan", help="plan id (see: switchboard plans list)")
    price.add_argument("channel", choices=("whatsapp", "sms", "email"))
    price.add_argument("--category", default="*", help="WhatsApp pricing category (marketing, utility, ...); * for any")
    price.add_argument("--country", default="*", help="ISO 3166 alpha-2 destination; * for any")
    price.add_argument("--price", type=int, help="minor units per message (per SMS segment)")
    price.add_argument("--currency", default="USD", help="ISO 4217 (one currency per plan; default USD)")
    price.add_argument("--remove", action="store_true", help="remove this row instead")
    price.set_defaults(fn=cmd_price)
    included = billing.add_parser(
        "included", help="Set how many billable messages a month a plan includes (billed at 0; the rest is overage)."
    )
    included.add_argument("plan", help="plan id")
    included.add_argument("messages", type=int)
    included.set_defaults(fn=cmd_included)
