"""Admin users and sign-in: creating users, checking a password, opening and ending sessions.

A session is a random token in an HttpOnly cookie; only its SHA-256 is stored. Sessions end at
sign-out, after :data:`SESSION_LIFETIME`, when the user signs out everywhere, or at once when the
user's tenant is suspended.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg
import msgspec

from admin_ui import passwords, repository
from admin_ui.roles import Role
from kernel.db import Connection, Pool
from kernel.errors import ErrorKind, InvalidInput, SwitchboardError, Unauthenticated

__all__ = [
    "SESSION_LIFETIME",
    "AdminUser",
    "create_user",
    "current_user",
    "sign_in",
    "sign_out",
    "sign_out_everywhere",
]

SESSION_LIFETIME = timedelta(hours=12)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class AdminUser(msgspec.Struct, frozen=True):
    id: UUID
    tenant_id: UUID | None
    tenant_name: str | None
    email: str
    role: Role


def _user(row: asyncpg.Record) -> AdminUser:
    return AdminUser(
        id=row["id"],
        tenant_id=row["tenant_id"],
        tenant_name=row["tenant_name"],
        email=row["email"],
        role=Role(row["role"]),
    )


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def create_user(conn: Connection, *, tenant_id: UUID | None, email: str, password: str, role: str) -> AdminUser:
    email = email.strip()
    if not _EMAIL.match(email) or len(email) > 254:
        raise InvalidInput("email", "email", "must be an email address")
    if role not in Role.__members__.values():
        raise InvalidInput("role", "enum", f"one of {', '.join(Role)}")
    if (role == Role.OPERATOR) != (tenant_id is None):
        raise InvalidInput("role", "operator", "the operator belongs to no tenant; every other role to one")
    if len(password) < passwords.MIN_LENGTH:
        raise InvalidInput("password", "length", f"at least {passwords.MIN_LENGTH} characters")
    user_id = uuid.uuid4()
    try:
        await repository.insert_user(conn, user_id, tenant_id, email, passwords.hash_password(password), role)
    except asyncpg.UniqueViolationError:
        raise SwitchboardError("an admin user with this email exists", kind=ErrorKind.CONFLICT) from None
    except asyncpg.ForeignKeyViolationError:
        raise InvalidInput("tenant", "exists", f"tenant {tenant_id} not found") from None
    row = await repository.find_user_by_email(conn, email)
    assert row is not None
    return _user(row)


async def sign_in(pool: Connection | Pool, email: str, password: str) -> tuple[AdminUser, str]:
    """Check the password and open a session: (the user, the session token for the cookie).

    A wrong email and a wrong password read the same and take as long (see
    :mod:`admin_ui.passwords`); a suspended tenant's user is told so, once the password is right.
    """
    row = await repository.find_user_by_email(pool, email.strip())
    ok = passwords.verify_password(row["password_hash"] if row else None, password)
    if row is None or not ok or row["disabled_at"] is not None:
        raise Unauthenticated("wrong email or password")
    if row["tenant_id"] is not None and row["tenant_status"] != "active":
        raise Unauthenticated("this account is suspended; contact the platform's operator")
    token = secrets.token_urlsafe(32)
    await repository.insert_session(pool, _token_hash(token), row["id"], datetime.now(UTC) + SESSION_LIFETIME)
    return _user(row), token


async def current_user(pool: Connection | Pool, token: str | None) -> AdminUser | None:
    if not token:
        return None
    row = await repository.session_user(pool, _token_hash(token))
    return _user(row) if row else None


async def sign_out(pool: Connection | Pool, token: str) -> None:
    await repository.revoke_session(pool, _token_hash(token))


async def sign_out_everywhere(pool: Connection | Pool, user_id: UUID) -> int:
    """End every session of the user (this browser's included); how many were live."""
    return await repository.revoke_user_sessions(pool, user_id)
