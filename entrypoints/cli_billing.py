"""``switchboard billing`` subcommands: operators' month-end work."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime, timedelta
from typing import Any

from entrypoints.cli_support import run, with_pool
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


def register(sub: Any) -> None:
    """Add these subcommands to the ``switchboard`` parser's subparsers."""
    billing = sub.add_parser("billing", help="Invoices: close a month.").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    close = billing.add_parser(
        "close-month",
        help="Finalize every tenant's invoice of an ended month (safe to run again: a final invoice never changes).",
    )
    close.add_argument("--month", default=_previous_month(), help="YYYY-MM (default: last month)")
    close.set_defaults(fn=cmd_close_month)
