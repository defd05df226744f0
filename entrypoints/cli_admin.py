"""``switchboard admin``: users of the admin console."""

from __future__ import annotations

import argparse
import secrets
import sys
from typing import Any
from uuid import UUID

from entrypoints.cli_support import run, with_connection
from kernel.settings import Settings

__all__ = ["register"]


def cmd_admin_user_create(settings: Settings, args: argparse.Namespace) -> int:
    from admin_ui import accounts

    generated = not args.password_stdin
    password = secrets.token_urlsafe(15) if generated else sys.stdin.readline().rstrip("\n")
    tenant_id = None if args.role == "operator" else args.tenant
    user = run(
        with_connection(
            settings,
            lambda conn: accounts.create_user(
                conn, tenant_id=tenant_id, email=args.email, password=password, role=args.role
            ),
        )
    )
    print(f"admin user {user.email} ({user.role}) created; sign in at /admin/login", file=sys.stderr)
    if generated:
        print(password)
        print("That is the password, shown once.", file=sys.stderr)
    return 0


def register(sub: Any) -> None:
    admin = sub.add_parser("admin", help="Users of the admin console (/admin).").add_subparsers(
        dest="what", required=True, metavar="WHAT"
    )
    users = admin.add_parser("user", help="Create admin users.").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    create = users.add_parser(
        "create",
        help="Create an admin user; prints a generated password once.",
        description="Create a user of the admin console. Roles: owner, admin, developer, support (messages, "
        "read-only but may retry), billing (usage and invoices), operator (the platform's operator: tenants and "
        "system health; takes no --tenant). Without --password-stdin a password is generated and printed once.",
    )
    create.add_argument("--email", required=True)
    create.add_argument(
        "--role", required=True, choices=["owner", "admin", "developer", "support", "billing", "operator"]
    )
    create.add_argument("--tenant", type=UUID, help="tenant id (every role but operator)")
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    create.set_defaults(fn=cmd_admin_user_create)
