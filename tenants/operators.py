"""Operators' API keys: who may change plans and rate cards over REST and gRPC.

Operators are not tenants: an operator key (``sbop_...``) opens only the operator endpoints, and a
tenant's key never opens them. Keys are made with ``switchboard operator key create`` and stored
as their SHA-256, like tenants' keys.
"""

from __future__ import annotations

import uuid
from uuid import UUID

from kernel.db import Connection, Pool
from kernel.errors import Unauthenticated
from tenants import apikeys

__all__ = ["authenticate_operator", "create_key", "revoke_key"]


async def create_key(conn: Connection, name: str = "") -> tuple[UUID, str]:
    """A new operator key: (its id, the key, shown once)."""
    key, prefix = apikeys.generate(apikeys.OPERATOR)
    key_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO operator_keys (id, prefix, secret_hash, name) VALUES ($1, $2, $3, $4)",
        key_id,
        prefix,
        apikeys.hash_key(key),
        name,
    )
    return key_id, key


async def revoke_key(conn: Connection, key_id: UUID) -> bool:
    status = await conn.execute(
        "UPDATE operator_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", key_id
    )
    return bool(status == "UPDATE 1")


async def authenticate_operator(conn: Connection | Pool, authorization: str | None) -> UUID:
    """The operator key's id for an ``Authorization: Bearer sbop_...`` value; every failure reads
    the same (a tenant's key included)."""
    scheme, _, key = (authorization or "").strip().partition(" ")
    key = key.strip()
    prefix = apikeys.parse_prefix(key, apikeys.OPERATOR) if scheme.lower() == "bearer" else None
    if prefix is None:
        raise Unauthenticated("invalid operator key")
    row = await conn.fetchrow(
        "SELECT id, secret_hash FROM operator_keys WHERE prefix = $1 AND revoked_at IS NULL", prefix
    )
    if row is None or not apikeys.matches(key, row["secret_hash"]):
        raise Unauthenticated("invalid operator key")
    key_id: UUID = row["id"]
    return key_id
