"""Queries for admin users and sessions. A tenant's users are always read with its id."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from kernel.db import Connection, Pool

__all__ = [
    "find_user_by_email",
    "insert_session",
    "insert_user",
    "list_users",
    "revoke_session",
    "revoke_user_sessions",
    "session_user",
]

_USER = (
    "u.id, u.tenant_id, u.email, u.role, u.password_hash, u.disabled_at, "
    "t.name AS tenant_name, t.status AS tenant_status"
)


async def insert_user(
    conn: Connection, user_id: UUID, tenant_id: UUID | None, email: str, password_hash: str, role: str
) -> None:
    await conn.execute(
        "INSERT INTO admin_users (id, tenant_id, email, password_hash, role) VALUES ($1, $2, $3, $4, $5)",
        user_id,
        tenant_id,
        email,
        password_hash,
        role,
    )


async def find_user_by_email(conn: Connection | Pool, email: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_USER} FROM admin_users u LEFT JOIN tenants t ON t.id = u.tenant_id WHERE lower(u.email) = lower($1)",
        email,
    )


async def list_users(conn: Connection, tenant_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, email, role, created_at, disabled_at FROM admin_users WHERE tenant_id = $1 ORDER BY email",
        tenant_id,
    )


async def insert_session(conn: Connection | Pool, token_hash: bytes, user_id: UUID, expires_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO admin_sessions (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
        token_hash,
        user_id,
        expires_at,
    )


async def session_user(conn: Connection | Pool, token_hash: bytes) -> asyncpg.Record | None:
    """The user of a live session: not revoked, not expired, the user not disabled and (for a
    tenant's user) the tenant not suspended, so suspending a tenant ends its sessions at once."""
    return await conn.fetchrow(
        f"SELECT {_USER} FROM admin_sessions s JOIN admin_users u ON u.id = s.user_id "
        "LEFT JOIN tenants t ON t.id = u.tenant_id "
        "WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now() AND u.disabled_at IS NULL "
        "AND (u.tenant_id IS NULL OR t.status = 'active')",
        token_hash,
    )


async def revoke_session(conn: Connection | Pool, token_hash: bytes) -> None:
    await conn.execute("UPDATE admin_sessions SET revoked_at = now() WHERE token_hash = $1", token_hash)


async def revoke_user_sessions(conn: Connection | Pool, user_id: UUID) -> int:
    status: str = await conn.execute(
        "UPDATE admin_sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL", user_id
    )
    return int(status.split()[-1])
