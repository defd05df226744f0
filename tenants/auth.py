"""The one authentication function both edges call."""

from __future__ import annotations

from kernel.db import Connection, Pool
from kernel.errors import Unauthenticated
from tenants import apikeys, repository
from tenants.domain import Principal
from tenants.plans import plan_from_row

__all__ = ["authenticate"]


async def authenticate(conn: Connection | Pool, authorization: str | None) -> Principal:
    """Resolve an ``Authorization: Bearer <key>`` value (REST header or gRPC metadata).

    Every failure reads the same to the caller, so a probe cannot tell an unknown key from a
    revoked one or from a suspended tenant's.
    """
    if not authorization:
        raise Unauthenticated("missing Authorization: Bearer <api key>")
    scheme, _, key = authorization.strip().partition(" ")
    key = key.strip()
    prefix = apikeys.parse_prefix(key) if scheme.lower() == "bearer" else None
    if prefix is None:
        raise Unauthenticated("invalid API key")
    row = await repository.find_api_key_by_prefix(conn, prefix)
    if row is None or not apikeys.matches(key, row["secret_hash"]) or row["tenant_status"] != "active":
        raise Unauthenticated("invalid API key")
    plan = plan_from_row(row, "plan_id")
    return Principal(
        tenant_id=row["tenant_id"],
        api_key_id=row["id"],
        config_version=row["config_version"],
        plan=plan,
        monthly_budget=row["monthly_budget"],
        fingerprint=row["fingerprint"],
    )
